//! The `pytorch_model.bin` reader executes nothing: every pickle construct that runs code
//! in Python (by any opcode path, not only GLOBAL + REDUCE) is a refused-file error, and a
//! refused file leaves no side effect behind.

mod common;

use std::io::{Cursor, Write};

use common::TempDir;
use tokken_engine::{EngineError, Weights};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// `archive/data.pkl` = `pkl` in a torch-like zip, loaded from a file.
fn load_pickle(dir: &TempDir, name: &str, pkl: &[u8]) -> Result<Weights, EngineError> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (entry, data) in [
        ("archive/data.pkl", pkl),
        ("archive/byteorder", &b"little"[..]),
    ] {
        zip.start_file(entry, opts).unwrap();
        zip.write_all(data).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    Weights::load(&path)
}

#[test]
fn code_running_pickles_are_refused_by_every_opcode_path() {
    let dir = TempDir::new("refusals");
    let marker = dir.path().join("pwned");
    let touch = format!("touch {}", marker.display());
    // BINUNICODE: 'X', u32 little-endian length, UTF-8 bytes.
    let mut arg = b"X".to_vec();
    arg.extend_from_slice(&u32::try_from(touch.len()).unwrap().to_le_bytes());
    arg.extend_from_slice(touch.as_bytes());

    // GLOBAL os.system + REDUCE: Python would run `touch <marker>`.
    let mut reduce = b"\x80\x02cos\nsystem\n".to_vec();
    reduce.extend_from_slice(&arg);
    reduce.extend_from_slice(b"\x85R.");
    // INST: MARK, args, `i module\nname\n` calls os.system(args) in Python.
    let mut inst = b"\x80\x02(".to_vec();
    inst.extend_from_slice(&arg);
    inst.extend_from_slice(b"ios\nsystem\n.");
    // OBJ: MARK, callable, args, `o`.
    let mut obj = b"\x80\x02(cos\nsystem\n".to_vec();
    obj.extend_from_slice(&arg);
    obj.extend_from_slice(b"o.");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("reduce", reduce),
        ("inst", inst),
        ("obj", obj),
        // EXT1/EXT2/EXT4: globals from the copyreg extension registry.
        ("ext1", b"\x80\x02\x82\x01)R.".to_vec()),
        ("ext2", b"\x80\x02\x83\x01\x00)R.".to_vec()),
        ("ext4", b"\x80\x02\x84\x01\x00\x00\x00)R.".to_vec()),
        // NEWOBJ_EX on an allowed-looking class.
        (
            "newobj_ex",
            b"\x80\x04\x8c\x0bcollections\x8c\x0bOrderedDict\x93)}\x92.".to_vec(),
        ),
        // BUILD calls __setstate__ / updates __dict__ of arbitrary objects.
        ("build", b"\x80\x02cbuiltins\nobject\n)R}b.".to_vec()),
        // A dangerous global inside the arguments of an allowed rebuild function.
        (
            "nested",
            b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(cos\nsystem\nK\x00tR.".to_vec(),
        ),
        // getattr is the classic way to reach anything from an allowed module.
        ("getattr", b"\x80\x02cbuiltins\ngetattr\n.".to_vec()),
        // Protocol 5 and a memoised global fetched back with GET.
        ("memo", b"\x80\x05cos\nsystem\nq\x00h\x00.".to_vec()),
    ];
    for (name, pkl) in &cases {
        match load_pickle(&dir, &format!("{name}.bin"), pkl) {
            Err(EngineError::Refused { reason, .. }) => {
                assert!(!reason.is_empty(), "{name}: a reason is given");
            }
            Err(other) => panic!("{name}: expected a refused-file error, got {other}"),
            Ok(_) => panic!("{name}: a code-running pickle loaded"),
        }
        assert!(!marker.exists(), "{name}: the pickle ran code");
    }
    // The plain GLOBAL + REDUCE one must be refused as such, naming the global.
    match load_pickle(&dir, "again.bin", &cases[0].1) {
        Err(EngineError::Refused { reason, .. }) => {
            assert!(reason.contains("os.system"), "{reason}")
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}
