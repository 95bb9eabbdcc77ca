//! `$TOKKEN_DICDIR` stands for the default dictionary (unidic-lite): it is used where a model
//! names unidic-lite or no findable dictionary, never in place of a dictionary the model
//! names (ipadic, unidic, a `-d` directory). One test in its own binary: it sets the
//! process environment.

mod common;

use std::path::{Path, PathBuf};

use tokken_tokenizer::config::MecabDic;
use tokken_tokenizer::find_dicdir_for;

/// A directory with the files dictionary discovery looks for (their contents are never read).
fn fake_dicdir(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["sys.dic", "unk.dic", "matrix.bin", "char.bin", "dicrc"] {
        std::fs::write(dir.join(f), b"x").unwrap();
    }
    dir
}

#[test]
fn the_variable_never_replaces_a_dictionary_the_model_names() {
    let tmp = common::scratch("dicdir-env");
    let root = tmp.path();
    let from_env = fake_dicdir(root, "env");
    let from_model = fake_dicdir(root, "model");
    let from_flag = fake_dicdir(root, "flag");
    std::env::set_var("TOKKEN_DICDIR", &from_env);

    // The default dictionary and a system dictionary (`mecab_dic: null`) take the variable.
    assert_eq!(
        find_dicdir_for(None, &MecabDic::UnidicLite).unwrap(),
        from_env
    );
    let system = MecabDic::Other("system".into());
    assert_eq!(find_dicdir_for(None, &system).unwrap(), from_env);
    // A `-d` directory in the model's mecab_option wins over it.
    let named_dir = MecabDic::Dir(from_model.clone());
    assert_eq!(find_dicdir_for(None, &named_dir).unwrap(), from_model);
    // ipadic and unidic are looked up as transformers does, or the error says what to do.
    for name in ["ipadic", "unidic"] {
        match find_dicdir_for(None, &MecabDic::Other(name.into())) {
            Ok(dir) => assert_ne!(dir, from_env, "{name} must not come from the variable"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("TOKKEN_DICDIR") && msg.contains("--dicdir"),
                    "{name}: {msg}"
                );
            }
        }
    }
    // The flag wins over everything.
    for dic in [
        MecabDic::UnidicLite,
        MecabDic::Other("ipadic".into()),
        named_dir,
    ] {
        assert_eq!(find_dicdir_for(Some(&from_flag), &dic).unwrap(), from_flag);
    }

    std::env::remove_var("TOKKEN_DICDIR");
}
