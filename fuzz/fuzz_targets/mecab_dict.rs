//! Compiled MeCab dictionary readers. The first input byte picks the file kind, the rest is
//! its content: `char.bin` (CharProperty), `unk.dic`/`sys.dic` (DicFile header, double array,
//! token table, features — then lookups through the double array), `matrix.bin`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tokken_tokenizer::dict::char_property::CharProperty;
use tokken_tokenizer::dict::dic_file::{DicFile, DicType};
use tokken_tokenizer::dict::matrix::Matrix;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 4 {
        0 => {
            let path = std::path::Path::new("char.bin");
            if let Ok(cp) = CharProperty::parse(path, bytes) {
                for code in [0u16, 0x20, 0x41, 0x3042, 0x4e00, 0xffff] {
                    let _ = cp.info(code);
                }
                for id in 0..cp.len() {
                    let _ = cp.name(id);
                }
            }
        }
        1 | 2 => {
            let (name, ty) = if kind % 4 == 1 {
                ("unk.dic", DicType::Unknown)
            } else {
                ("sys.dic", DicType::System)
            };
            let path = tokken_fuzz::scratch_file(name, bytes);
            if let Ok(dic) = DicFile::open(&path, ty) {
                if dic.validate(dic.lsize, dic.rsize).is_ok() {
                    let da = dic.darts();
                    for key in [&b"DEFAULT"[..], "東京".as_bytes(), b"a", b""] {
                        let _ = da.exact_match(key);
                        da.common_prefix_search(key, |_, _| {});
                    }
                    for t in dic.tokens().iter().take(64) {
                        let _ = dic.feature_bytes(t[3]);
                    }
                }
            }
        }
        _ => {
            let path = tokken_fuzz::scratch_file("matrix.bin", bytes);
            if let Ok(m) = Matrix::open(&path) {
                let _ = (m.lsize(), m.rsize());
            }
        }
    }
});
