//! `pytorch_model.bin` (torch zip + pickle) reading: parity with safetensors, views,
//! refusal of code-running pickles, no panics on corrupt input.

mod common;

use std::io::{Cursor, Read, Write};

use common::{fixtures, load_bytes, TempDir};
use tokken_engine::{EngineError, Weights};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// A zip laid out like `torch.save` output: `archive/data.pkl` plus the given extra entries.
fn torch_like_zip(pkl: &[u8], extra: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(method);
    let mut entries = vec![
        ("archive/data.pkl", pkl),
        ("archive/byteorder", &b"little"[..]),
    ];
    entries.extend_from_slice(extra);
    for (name, data) in entries {
        zip.start_file(name, opts).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// All entries of a zip, in order.
fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().unwrap().to_string(), data)
        })
        .collect()
}

#[test]
fn bin_equals_safetensors_fixture_tensor_by_tensor() {
    let bin = Weights::load(&fixtures().join("tiny_pytorch_model.bin")).unwrap();
    let st = Weights::load(&fixtures().join("tiny_model.safetensors")).unwrap();
    assert_eq!(bin.names(), st.names());
    assert_eq!(bin.len(), 10, "{:?}", bin.names());
    for (name, want) in st.iter() {
        let got = bin.get(name).unwrap();
        assert_eq!(got.shape(), want.shape(), "{name}");
        assert_eq!(got.dtype(), want.dtype(), "{name}");
        assert_eq!(got.as_bytes().unwrap(), want.as_bytes().unwrap(), "{name}");
    }
    for w in [&bin, &st] {
        assert_eq!(w.skipped().len(), 1);
        assert_eq!(w.skipped()[0].name, "embeddings.position_ids");
    }
    // Contiguous tensors of stored entries are read in place; strided views are copies.
    for name in [
        "f32.weight",
        "param.weight",
        "bf16.weight",
        "f16.bias",
        "shared.tail",
    ] {
        assert!(
            bin.get(name).unwrap().is_mapped(),
            "{name} should be mapped"
        );
    }
    assert!(!bin.get("transposed").unwrap().is_mapped());
    assert!(!bin.get("shared.strided").unwrap().is_mapped());
}

/// The views checked against their definition, independently of the safetensors file.
#[test]
fn bin_views_follow_offset_and_stride() {
    let bin = Weights::load(&fixtures().join("tiny_pytorch_model.bin")).unwrap();
    let base = bin.get("base").unwrap().as_f32().unwrap(); // [3, 4]
    let t = bin.get("transposed").unwrap(); // base.t(): [4, 3]
    assert_eq!(t.shape(), &[4, 3]);
    let t = t.as_f32().unwrap();
    for i in 0..4 {
        for j in 0..3 {
            assert_eq!(t[i * 3 + j], base[j * 4 + i]);
        }
    }
    let full = bin.get("shared.full").unwrap().as_f32().unwrap();
    assert_eq!(
        bin.get("shared.tail").unwrap().as_f32().unwrap(),
        &full[6..10]
    );
    let strided = bin.get("shared.strided").unwrap().as_f32().unwrap();
    assert_eq!(strided, &[full[1], full[4], full[7]]);
    let scalar = bin.get("scalar").unwrap();
    assert_eq!(
        (scalar.shape(), scalar.as_f32().unwrap()),
        (&[][..], &[2.5f32][..])
    );
}

#[test]
fn model_dir_falls_back_to_pytorch_model_bin() {
    let dir = TempDir::new("bin-dir");
    std::fs::copy(
        fixtures().join("tiny_pytorch_model.bin"),
        dir.path().join("pytorch_model.bin"),
    )
    .unwrap();
    let w = Weights::load(dir.path()).unwrap();
    assert_eq!(w.len(), 10);
}

fn assert_refused(result: Result<Weights, EngineError>, global: &str) {
    match result {
        Err(EngineError::Refused { reason, .. }) => {
            assert!(
                reason.contains(global),
                "reason {reason:?} should name {global}"
            )
        }
        other => panic!("expected Refused naming {global}, got {other:?}"),
    }
}

/// Made by Python's own pickle (scripts/reference/make_malicious_pickle.py).
#[test]
fn malicious_pickle_fixtures_are_refused() {
    let path = fixtures().join("malicious_os_system.bin");
    assert_refused(Weights::load(&path), "posix.system");
    let err = Weights::load(&path).unwrap_err();
    assert!(err.to_string().contains("malicious_os_system.bin"), "{err}");
    assert_refused(
        Weights::load(&fixtures().join("malicious_eval_proto4.bin")),
        "builtins.eval",
    );
}

#[test]
fn hand_built_malicious_pickles_are_refused() {
    let dir = TempDir::new("malicious");
    let cases: [(&[u8], &str); 4] = [
        // GLOBAL os.system, called on a string.
        (
            b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsq\x00\x85R.",
            "os.system",
        ),
        // STACK_GLOBAL subprocess.Popen, only named (refused before any call).
        (
            b"\x80\x04\x8c\nsubprocess\x8c\x05Popen\x93.",
            "subprocess.Popen",
        ),
        // A dangerous global hidden as a dict value of an OrderedDict.
        (
            b"\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00acbuiltins\nexec\nu.",
            "builtins.exec",
        ),
        // Looks like a storage type but is not one.
        (b"\x80\x02ctorch\nload\n.", "torch.load"),
    ];
    for (i, (pkl, global)) in cases.iter().enumerate() {
        let bytes = torch_like_zip(pkl, &[], CompressionMethod::Stored);
        assert_refused(load_bytes(&dir, &format!("m{i}.bin"), &bytes), global);
    }
    // Object construction and non-storage persistent ids are refused too.
    for (i, pkl) in [
        &b"\x80\x02ccollections\nOrderedDict\n)\x81."[..],
        b"\x80\x02K\x01\x85Q.",
    ]
    .iter()
    .enumerate()
    {
        let bytes = torch_like_zip(pkl, &[], CompressionMethod::Stored);
        let r = load_bytes(&dir, &format!("o{i}.bin"), &bytes);
        assert!(matches!(r, Err(EngineError::Refused { .. })), "{r:?}");
    }
}

/// A deflated checkpoint (torch writes stored entries, other zip tools may not) loads by
/// inflating into owned memory.
#[test]
fn deflated_entries_load_as_copies() {
    let orig = std::fs::read(fixtures().join("tiny_pytorch_model.bin")).unwrap();
    let entries = zip_entries(&orig);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in &entries {
        zip.start_file(name, opts).unwrap();
        zip.write_all(data).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let dir = TempDir::new("deflated");
    let w = load_bytes(&dir, "deflated.bin", &bytes).unwrap();
    let st = Weights::load(&fixtures().join("tiny_model.safetensors")).unwrap();
    for (name, want) in st.iter() {
        let got = w.get(name).unwrap();
        assert!(!got.is_mapped());
        assert_eq!(got.as_bytes().unwrap(), want.as_bytes().unwrap(), "{name}");
    }
}

/// A byte change at every position and truncations of the pickle give Ok or an error, never
/// a panic; so does truncating the zip itself.
#[test]
fn corrupt_pickles_and_zips_never_panic() {
    let orig = std::fs::read(fixtures().join("tiny_pytorch_model.bin")).unwrap();
    let entries = zip_entries(&orig);
    let pkl_index = entries
        .iter()
        .position(|(n, _)| n.ends_with("/data.pkl"))
        .unwrap();
    let rebuild = |pkl: &[u8]| {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        for (i, (name, data)) in entries.iter().enumerate() {
            zip.start_file(name, opts).unwrap();
            zip.write_all(if i == pkl_index { pkl } else { data })
                .unwrap();
        }
        zip.finish().unwrap().into_inner()
    };
    let dir = TempDir::new("fuzz");
    let pkl = &entries[pkl_index].1;
    let (mut ok, mut err) = (0, 0);
    let mut tally = |r: Result<Weights, EngineError>| match r {
        Ok(_) => ok += 1,
        Err(_) => err += 1,
    };
    for pos in 0..pkl.len() {
        // Alternate flips so both small and sign-bit changes hit every opcode kind.
        let mut bad = pkl.clone();
        bad[pos] ^= if pos % 2 == 0 { 0xff } else { 0x01 };
        tally(load_bytes(&dir, "flip.bin", &rebuild(&bad)));
        if pos % 3 == 0 {
            tally(load_bytes(&dir, "cut.bin", &rebuild(&pkl[..pos])));
        }
    }
    for cut in (0..orig.len()).step_by(13) {
        tally(load_bytes(&dir, "zipcut.bin", &orig[..cut]));
    }
    assert!(err > 0 && ok > 0, "ok {ok}, err {err}");
}

/// A million-deep nested list: parsing is linear and dropping it must not overflow the stack.
#[test]
fn deeply_nested_pickle_is_an_error_not_a_crash() {
    let depth = 1_000_000;
    let mut pkl = b"\x80\x02".to_vec();
    pkl.extend(std::iter::repeat_n(b']', depth));
    pkl.extend(std::iter::repeat_n(b'a', depth - 1));
    pkl.push(b'.');
    let dir = TempDir::new("nested");
    let bytes = torch_like_zip(&pkl, &[], CompressionMethod::Stored);
    let err = load_bytes(&dir, "deep.bin", &bytes).unwrap_err();
    assert!(err.to_string().contains("not a state dict"), "{err}");
}

/// `{'w': _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', numel), offset, size,
/// stride, False, OrderedDict())}` with one-byte ints.
fn one_tensor_pickle(numel: u8, offset: u8, size: &[u8], stride: &[u8]) -> Vec<u8> {
    let ints = |v: &[u8]| -> Vec<u8> {
        let mut out = vec![b'('];
        for &x in v {
            out.extend_from_slice(&[b'K', x]);
        }
        out.push(b't');
        out
    };
    let mut p = b"\x80\x02ccollections\nOrderedDict\nq\x00)R(X\x01\x00\x00\x00w".to_vec();
    p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage");
    p.extend_from_slice(b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK");
    p.extend_from_slice(&[numel, b't', b'Q', b'K', offset]);
    p.extend(ints(size));
    p.extend(ints(stride));
    p.extend_from_slice(b"\x89h\x00)RtRu.");
    p
}

/// Storage bounds: a view reaching past its storage, or a blob shorter than the storage.
#[test]
fn views_outside_storage_are_errors() {
    let dir = TempDir::new("bounds");
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let extra: [(&str, &[u8]); 1] = [("archive/data/0", &data)];
    let load = |pkl: Vec<u8>| {
        let bytes = torch_like_zip(&pkl, &extra, CompressionMethod::Stored);
        load_bytes(&dir, "t.bin", &bytes)
    };
    // Sanity: the well-formed version loads.
    let w = load(one_tensor_pickle(4, 0, &[4], &[1])).unwrap();
    assert_eq!(w.get("w").unwrap().as_f32().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
    // A stride-0 (expanded) view is materialized.
    let w = load(one_tensor_pickle(4, 2, &[2, 3], &[1, 0])).unwrap();
    assert_eq!(
        w.get("w").unwrap().as_f32().unwrap(),
        &[3.0, 3.0, 3.0, 4.0, 4.0, 4.0]
    );
    for (pkl, what) in [
        (one_tensor_pickle(4, 1, &[4], &[1]), "reaches element"),
        (one_tensor_pickle(5, 0, &[4], &[1]), "needs 20"),
        (one_tensor_pickle(4, 0, &[2, 2], &[3, 1]), "reaches element"),
        // 255^4 elements of stride 0: ~16 GB from a 4-element storage.
        (
            one_tensor_pickle(4, 0, &[255; 4], &[0; 4]),
            "too large to copy",
        ),
    ] {
        let err = load(pkl).unwrap_err();
        assert!(matches!(err, EngineError::BadFile { .. }), "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
}
