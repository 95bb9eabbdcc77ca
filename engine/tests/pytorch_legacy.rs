//! Legacy `pytorch_model.bin` reading (torch < 1.6, non-zip): parity with safetensors,
//! every truncation an error, refusals, no panics on corrupt input.

mod common;

use common::{fixtures, load_bytes, TempDir};
use tokken_engine::{EngineError, Weights};

/// The legacy fixtures: protocol 2 (what torch.save writes by default) and protocol 4.
const LEGACY: [&str; 2] = [
    "tiny_pytorch_model_legacy.bin",
    "tiny_pytorch_model_legacy_p4.bin",
];

/// Every tensor equals the safetensors fixture's (made from the same state dict), including
/// the transposed, offset and strided views; the int64 buffer is skipped as with the zip.
#[test]
fn legacy_bins_equal_safetensors_fixture_tensor_by_tensor() {
    let st = Weights::load(&fixtures().join("tiny_model.safetensors")).unwrap();
    for file in LEGACY {
        let bin = Weights::load(&fixtures().join(file)).unwrap();
        assert_eq!(bin.names(), st.names(), "{file}");
        for (name, want) in st.iter() {
            let got = bin.get(name).unwrap();
            assert_eq!(got.shape(), want.shape(), "{file} {name}");
            assert_eq!(got.dtype(), want.dtype(), "{file} {name}");
            assert_eq!(
                got.as_bytes().unwrap(),
                want.as_bytes().unwrap(),
                "{file} {name}"
            );
        }
        assert_eq!(bin.skipped().len(), 1, "{file}");
        assert_eq!(bin.skipped()[0].name, "embeddings.position_ids");
    }
}

#[test]
fn model_dir_with_a_legacy_pytorch_model_bin_loads() {
    let dir = TempDir::new("legacy-dir");
    std::fs::copy(
        fixtures().join(LEGACY[0]),
        dir.path().join("pytorch_model.bin"),
    )
    .unwrap();
    let w = Weights::load(dir.path()).unwrap();
    assert_eq!(w.len(), 10);
}

/// A file cut anywhere is an error naming the file, never a load of partial data.
#[test]
fn every_truncation_is_an_error() {
    let dir = TempDir::new("legacy-cut");
    for file in LEGACY {
        let orig = std::fs::read(fixtures().join(file)).unwrap();
        for cut in 1..orig.len() {
            match load_bytes(&dir, "cut.bin", &orig[..cut]) {
                Err(e) => assert!(e.to_string().contains("cut.bin"), "{e}"),
                Ok(_) => panic!("{file} cut at {cut} of {} loaded", orig.len()),
            }
        }
    }
}

/// A byte change at every position gives Ok or an error, never a panic.
#[test]
fn corrupt_legacy_bins_never_panic() {
    let dir = TempDir::new("legacy-flip");
    let orig = std::fs::read(fixtures().join(LEGACY[0])).unwrap();
    let (mut ok, mut err) = (0, 0);
    for pos in 0..orig.len() {
        for flip in [0xff, 0x01] {
            let mut bad = orig.clone();
            bad[pos] ^= flip;
            match load_bytes(&dir, "flip.bin", &bad) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
        }
    }
    // Flips inside the raw float data still load (with other values).
    assert!(err > 0 && ok > 0, "ok {ok}, err {err}");
}

/// The five header pickles of a legacy file around `object` (a state dict pickle) and the
/// key list `keys`, then `data` (the storages' bytes, with their counts).
fn legacy_file(little_endian: bool, object: &[u8], keys: &[&str], data: &[u8]) -> Vec<u8> {
    let mut f = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.".to_vec(); // magic
    f.extend_from_slice(b"\x80\x02M\xe9\x03."); // 1001
    f.extend_from_slice(b"\x80\x02}X\x0d\x00\x00\x00little_endian");
    f.push(if little_endian { 0x88 } else { 0x89 });
    f.extend_from_slice(b"s.");
    f.extend_from_slice(object);
    f.extend_from_slice(b"\x80\x02(");
    for k in keys {
        f.push(b'X');
        f.extend_from_slice(&(k.len() as u32).to_le_bytes());
        f.extend_from_slice(k.as_bytes());
    }
    f.extend_from_slice(b"l.");
    f.extend_from_slice(data);
    f
}

/// `{'w': _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 2, <view>), 0, (2,),
/// (1,), False, OrderedDict())}`; `view` is the pickle of the sixth item.
fn one_tensor_state_dict(view: &[u8]) -> Vec<u8> {
    let mut p = b"\x80\x02ccollections\nOrderedDict\nq\x00)R(X\x01\x00\x00\x00w".to_vec();
    p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage");
    p.extend_from_slice(b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02");
    p.extend_from_slice(view);
    p.extend_from_slice(b"tQK\x00(K\x02t(K\x01t\x89h\x00)RtRu.");
    p
}

/// Two f32 values with their element count, as the legacy layout stores a storage.
fn two_floats() -> Vec<u8> {
    let mut d = 2u64.to_le_bytes().to_vec();
    d.extend_from_slice(&1.5f32.to_le_bytes());
    d.extend_from_slice(&(-2.0f32).to_le_bytes());
    d
}

#[test]
fn hand_built_legacy_file_loads_and_bad_variants_are_named() {
    let dir = TempDir::new("legacy-hand");
    let sd = one_tensor_state_dict(b"N");
    // Sanity: the well-formed file loads (the data is unaligned, so it is copied).
    let w = load_bytes(
        &dir,
        "ok.bin",
        &legacy_file(true, &sd, &["0"], &two_floats()),
    )
    .unwrap();
    assert_eq!(w.get("w").unwrap().as_f32().unwrap(), &[1.5, -2.0]);

    let storage_view = one_tensor_state_dict(b"(X\x01\x00\x00\x001K\x00K\x02t");
    let mut short = two_floats();
    short.pop();
    let cases: [(Vec<u8>, &str); 5] = [
        (legacy_file(false, &sd, &["0"], &two_floats()), "big-endian"),
        (legacy_file(true, &sd, &["0"], &short), "past the end"),
        (legacy_file(true, &sd, &["1"], &two_floats()), "never used"),
        (
            legacy_file(
                true,
                &sd,
                &["0", "0"],
                &[two_floats(), two_floats()].concat(),
            ),
            "listed twice",
        ),
        (
            legacy_file(true, &storage_view, &["0"], &two_floats()),
            "view of a storage",
        ),
    ];
    for (i, (bytes, what)) in cases.iter().enumerate() {
        let err = load_bytes(&dir, &format!("bad{i}.bin"), bytes).unwrap_err();
        assert!(matches!(err, EngineError::BadFile { .. }), "{err}");
        assert!(err.to_string().contains(what), "case {i}: {err}");
    }
    // A storage the key list leaves out has no bytes.
    let err = load_bytes(&dir, "nokey.bin", &legacy_file(true, &sd, &[], &[])).unwrap_err();
    assert!(
        err.to_string().contains("not in the storage key list"),
        "{err}"
    );
}

/// The state dict pickle goes through the same allow-list as in zip checkpoints.
#[test]
fn code_running_globals_in_a_legacy_file_are_refused() {
    let dir = TempDir::new("legacy-malicious");
    let object = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsq\x00\x85R.";
    let err = load_bytes(&dir, "m.bin", &legacy_file(true, object, &[], &[])).unwrap_err();
    match err {
        EngineError::Refused { reason, .. } => assert!(reason.contains("os.system"), "{reason}"),
        other => panic!("expected Refused, got {other:?}"),
    }
}
