//! Hub ids through a Hugging Face cache dir the test builds itself (refs, snapshots, blobs).

mod common;

use std::path::{Path, PathBuf};

use tokken_model::hub::{self, Downloader, HubId, Offline};

const MAIN: &str = "0123456789abcdef0123456789abcdef01234567";
const OLD: &str = "fedcba9876543210fedcba9876543210fedcba98";

/// `models--org--tiny` with `refs/main` → MAIN (complete, files linked to blobs like
/// huggingface_hub does) and a tag `v1` → OLD (no weights).
fn build_cache(cache: &Path) {
    let repo = cache.join("models--org--tiny");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::write(repo.join("refs/main"), MAIN).unwrap();
    std::fs::write(repo.join("refs/v1"), format!("{OLD}\n")).unwrap();
    let main = repo.join("snapshots").join(MAIN);
    std::fs::create_dir_all(&main).unwrap();
    for f in [
        "config.json",
        "vocab.txt",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        let blob = repo.join("blobs").join(format!("etag-{f}"));
        std::fs::copy(common::tiny_dir().join(f), &blob).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&blob, main.join(f)).unwrap();
        #[cfg(not(unix))]
        std::fs::copy(&blob, main.join(f)).unwrap();
    }
    let old = repo.join("snapshots").join(OLD);
    std::fs::create_dir_all(&old).unwrap();
    std::fs::copy(
        common::tiny_dir().join("config.json"),
        old.join("config.json"),
    )
    .unwrap();
}

/// Counts calls and never downloads.
struct Counting(std::cell::Cell<usize>);
impl Downloader for Counting {
    fn download(&self, _cache: &Path, _id: &HubId) -> Result<PathBuf, String> {
        self.0.set(self.0.get() + 1);
        Err("network unreachable (test)".into())
    }
}

#[test]
fn hub_ids_parse() {
    let id = HubId::parse("cl-tohoku/bert-base-japanese-v3").unwrap();
    assert_eq!(id.repo, "cl-tohoku/bert-base-japanese-v3");
    assert_eq!(id.revision, "main");
    assert_eq!(id.folder_name(), "models--cl-tohoku--bert-base-japanese-v3");
    let id = HubId::parse("org/name@v1.0").unwrap();
    assert_eq!(
        (id.repo.as_str(), id.revision.as_str()),
        ("org/name", "v1.0")
    );
    assert!(HubId::parse("bert-base-uncased").is_some());
    for bad in [
        "",
        "a/b/c",
        "org/",
        "/abs",
        "org/name@",
        "../x",
        "org/na me",
        "o/n@../../x",
        "a@b@c",
    ] {
        assert!(HubId::parse(bad).is_none(), "{bad:?} should not parse");
    }
}

#[test]
fn cache_lookup_by_ref_tag_and_hash() {
    let tmp = common::scratch("hub-lookup");
    let cache = tmp.path();
    build_cache(cache);
    let counting = Counting(Default::default());
    let snap = |arg: &str| hub::resolve_model_in(Path::new(arg), cache, &counting);

    let main = cache.join("models--org--tiny/snapshots").join(MAIN);
    assert_eq!(snap("org/tiny").unwrap(), main);
    assert_eq!(snap("org/tiny@main").unwrap(), main);
    assert_eq!(snap(&format!("org/tiny@{MAIN}")).unwrap(), main);
    assert_eq!(counting.0.get(), 0, "a complete snapshot must not download");

    // The resolved dir loads as a model (links followed).
    let clf = tokken_model::Classifier::load(&main).unwrap();
    drop(clf);

    // Tag v1 → OLD snapshot, which lacks files: the downloader is asked, then the error
    // names every missing file and the snapshot dir.
    let err = snap("org/tiny@v1").unwrap_err().to_string();
    assert_eq!(counting.0.get(), 1);
    let old = cache.join("models--org--tiny/snapshots").join(OLD);
    assert!(err.contains(&old.display().to_string()), "{err}");
    for f in [
        "vocab.txt",
        "tokenizer_config.json",
        "model.safetensors|pytorch_model.bin",
    ] {
        assert!(err.contains(f), "{err} lacks {f}");
    }
    assert!(
        err.contains("missing: vocab.txt, tokenizer_config.json, model"),
        "config.json is present: {err}"
    );
    assert!(err.contains("network unreachable (test)"), "{err}");

    // Same by hash.
    let err = snap(&format!("org/tiny@{OLD}")).unwrap_err().to_string();
    assert!(err.contains(&old.display().to_string()), "{err}");
}

#[test]
fn unknown_model_error_says_where_to_put_files() {
    let tmp = common::scratch("hub-unknown");
    let cache = tmp.path();
    let err = hub::resolve_model_in(Path::new("org/absent@dev"), cache, &Offline)
        .unwrap_err()
        .to_string();
    let repo = cache.join("models--org--absent");
    assert!(err.contains("org/absent@dev"), "{err}");
    assert!(
        err.contains(&repo.join("snapshots").display().to_string()),
        "{err}"
    );
    assert!(
        err.contains(&repo.join("refs").join("dev").display().to_string()),
        "{err}"
    );
    for f in [
        "config.json",
        "vocab.txt",
        "tokenizer_config.json",
        "model.safetensors|pytorch_model.bin",
    ] {
        assert!(err.contains(f), "{err} lacks {f}");
    }
    // Not a hub id and not a path.
    let err = hub::resolve_model_in(Path::new("/no/such/dir"), cache, &Offline)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no such model dir"), "{err}");
}

#[test]
fn existing_path_wins_over_hub_id() {
    let tmp = common::scratch("hub-path-wins");
    let cache = tmp.path();
    let tiny = common::tiny_dir();
    let got = hub::resolve_model_in(&tiny, cache, &Offline).unwrap();
    assert_eq!(got, tiny);
}

#[test]
fn bad_ref_file_is_an_error_naming_it() {
    let tmp = common::scratch("hub-badref");
    let cache = tmp.path();
    let repo = cache.join("models--org--broken");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "not a hash").unwrap();
    let err = hub::resolve_model_in(Path::new("org/broken"), cache, &Offline)
        .unwrap_err()
        .to_string();
    assert!(err.contains("refs") && err.contains("commit hash"), "{err}");
}

#[test]
fn list_cached_models_reports_refs_size_and_completeness() {
    let tmp = common::scratch("hub-list");
    let cache = tmp.path();
    build_cache(cache);
    let models = hub::list_cached_models(cache);
    assert_eq!(models.len(), 2, "{models:?}");
    let by_commit = |c: &str| models.iter().find(|m| m.commit == c).unwrap();
    let main = by_commit(MAIN);
    assert_eq!(main.repo, "org/tiny");
    assert_eq!(main.refs, vec!["main".to_string()]);
    assert!(main.missing.is_empty());
    let expected: u64 = [
        "config.json",
        "vocab.txt",
        "tokenizer_config.json",
        "model.safetensors",
    ]
    .iter()
    .map(|f| std::fs::metadata(common::tiny_dir().join(f)).unwrap().len())
    .sum();
    assert_eq!(main.size, expected, "size follows the blob links");
    let old = by_commit(OLD);
    assert_eq!(old.refs, vec!["v1".to_string()]);
    assert_eq!(old.missing.len(), 3);
    assert!(hub::list_cached_models(&cache.join("absent")).is_empty());
}
