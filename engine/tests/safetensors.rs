//! safetensors reading and writing: round trips, zero-copy mapping, corrupt input.

mod common;

use std::collections::BTreeMap;

use common::{raw_safetensors, TempDir};
use half::{bf16, f16};
use tokken_engine::{save_safetensors, DType, EngineError, Tensor, Weights};

fn sample_tensors() -> Vec<(String, Tensor)> {
    let f32s: Vec<f32> = (0..24).map(|i| i as f32 * 0.37 - 3.0).collect();
    vec![
        (
            "a.weight".into(),
            Tensor::from_f32(vec![2, 3, 4], f32s.clone()).unwrap(),
        ),
        (
            // Odd element count of a 2-byte type: would misalign whatever follows it.
            "b.bf16".into(),
            Tensor::from_bf16(
                vec![3],
                vec![bf16::from_f32(1.5), bf16::MAX, bf16::NEG_INFINITY],
            )
            .unwrap(),
        ),
        (
            "c.f16".into(),
            Tensor::from_f16(
                vec![5],
                (0..5).map(|i| f16::from_f32(i as f32 / 3.0)).collect(),
            )
            .unwrap(),
        ),
        (
            "d.scalar".into(),
            Tensor::from_f32(vec![], vec![42.0]).unwrap(),
        ),
        (
            "e.empty".into(),
            Tensor::from_f32(vec![0, 7], vec![]).unwrap(),
        ),
        (
            "z.bias".into(),
            Tensor::from_f32(vec![7], vec![1.0; 7]).unwrap(),
        ),
    ]
}

#[test]
fn round_trip_all_dtypes_and_metadata() {
    let dir = TempDir::new("roundtrip");
    let path = dir.path().join("w.safetensors");
    let tensors = sample_tensors();
    let list: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    save_safetensors(&path, &list, Some(&meta)).unwrap();

    let w = Weights::load(&path).unwrap();
    assert_eq!(w.len(), tensors.len());
    assert_eq!(
        w.names(),
        vec!["a.weight", "b.bf16", "c.f16", "d.scalar", "e.empty", "z.bias"]
    );
    assert_eq!(w.metadata(), &meta);
    for (name, t) in &tensors {
        let got = w.get(name).unwrap();
        assert_eq!(got.shape(), t.shape(), "{name}");
        assert_eq!(got.dtype(), t.dtype(), "{name}");
        assert_eq!(got.as_bytes().unwrap(), t.as_bytes().unwrap(), "{name}");
        // Our writer aligns every tensor, so all of them are read in place.
        assert!(got.is_mapped(), "{name} should be mapped");
    }
    // No temp file left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
}

#[test]
fn aligned_f32_is_zero_copy_inside_the_mapping() {
    let dir = TempDir::new("zerocopy");
    let path = dir.path().join("model.safetensors");
    let t = Tensor::from_f32(vec![4, 4], (0..16).map(|i| i as f32).collect()).unwrap();
    save_safetensors(&path, &[("w", &t)], None).unwrap();

    // Loading through the directory picks model.safetensors.
    let w = Weights::load(dir.path()).unwrap();
    let got = w.get("w").unwrap();
    assert!(got.is_mapped());
    let file = got.mapped_file_bytes().unwrap();
    let data = got.as_f32().unwrap();
    let (start, end) = (file.as_ptr() as usize, file.as_ptr() as usize + file.len());
    let p = data.as_ptr() as usize;
    assert!(
        p >= start && p + 64 <= end,
        "data must point into the mapping"
    );
    // It is the last 64 bytes of the file (one tensor, after the header).
    assert_eq!(p, end - 64);
    assert_eq!(data, t.as_f32().unwrap());
}

#[test]
fn unaligned_f32_is_copied() {
    // A foreign writer that does not pad the header: data starts at 8 + 63 = 71 (odd).
    let mut header = r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.to_string();
    while (8 + header.len()).is_multiple_of(4) || header.len() < 63 {
        header.push(' ');
    }
    assert_ne!((8 + header.len()) % 4, 0);
    let mut data = Vec::new();
    data.extend_from_slice(&1.25f32.to_le_bytes());
    data.extend_from_slice(&(-7.5f32).to_le_bytes());
    let dir = TempDir::new("unaligned");
    let path = dir.path().join("odd.safetensors");
    std::fs::write(&path, raw_safetensors(&header, &data)).unwrap();

    let w = Weights::load(&path).unwrap();
    let x = w.get("x").unwrap();
    assert!(!x.is_mapped(), "unaligned data must be copied");
    assert_eq!(x.as_f32().unwrap(), &[1.25, -7.5]);
}

#[test]
fn int64_buffers_are_skipped_not_fatal() {
    let header = r#"{"pos":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},"w":{"dtype":"F32","shape":[1],"data_offsets":[24,28]}}"#;
    let mut data = vec![0u8; 24];
    data.extend_from_slice(&3.0f32.to_le_bytes());
    let dir = TempDir::new("int64");
    let path = dir.path().join("m.safetensors");
    std::fs::write(&path, raw_safetensors(header, &data)).unwrap();

    let w = Weights::load(&path).unwrap();
    assert_eq!(w.names(), vec!["w"]);
    assert_eq!(w.skipped().len(), 1);
    assert_eq!(w.skipped()[0].name, "pos");
    assert!(w.skipped()[0].reason.contains("I64"));
}

/// Every corrupt variant must give a BadFile error naming the file, never a panic.
#[test]
fn truncated_and_corrupt_files_are_errors() {
    let dir = TempDir::new("corrupt");
    let good_path = dir.path().join("good.safetensors");
    let t = Tensor::from_f32(vec![8], vec![0.5; 8]).unwrap();
    save_safetensors(&good_path, &[("t", &t)], None).unwrap();
    let good = std::fs::read(&good_path).unwrap();

    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in [0, 3, 8, 9, 20, good.len() - 1] {
        cases.push((format!("truncated at {cut}"), good[..cut].to_vec()));
    }
    let mut huge_len = good.clone();
    huge_len[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    cases.push(("header length u64::MAX".into(), huge_len));
    let mut long_len = good.clone();
    long_len[..8].copy_from_slice(&(good.len() as u64).to_le_bytes());
    cases.push(("header length past end".into(), long_len));
    cases.push(("trailing bytes".into(), [good.clone(), vec![0; 4]].concat()));
    for (what, header, data_len) in [
        (
            "offsets past data",
            r#"{"t":{"dtype":"F32","shape":[8],"data_offsets":[0,64]}}"#,
            32,
        ),
        (
            "size mismatch",
            r#"{"t":{"dtype":"F32","shape":[9],"data_offsets":[0,32]}}"#,
            32,
        ),
        (
            "reversed offsets",
            r#"{"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#,
            8,
        ),
        (
            "shape overflow",
            r#"{"t":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}"#,
            0,
        ),
        ("not json", r#"{"t":"#, 0),
        (
            "unknown dtype",
            r#"{"t":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#,
            1,
        ),
    ] {
        cases.push((what.into(), raw_safetensors(header, &vec![0; data_len])));
    }

    for (i, (what, bytes)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.safetensors"));
        std::fs::write(&path, bytes).unwrap();
        match Weights::load(&path) {
            Err(EngineError::BadFile { path: p, reason }) => {
                assert_eq!(p, path, "{what}: error must name the file");
                assert!(!reason.is_empty());
            }
            other => panic!("{what}: expected BadFile, got {other:?}"),
        }
    }
}

#[test]
fn missing_file_and_empty_dir_name_the_path() {
    let dir = TempDir::new("missing");
    let err = Weights::load(&dir.path().join("nope.safetensors")).unwrap_err();
    assert!(matches!(err, EngineError::Io { .. }), "{err}");
    assert!(err.to_string().contains("nope.safetensors"));
    let err = Weights::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("no weights file found"), "{err}");
}

#[test]
fn sharded_index_loads_all_shards() {
    let dir = TempDir::new("sharded");
    let a = Tensor::from_f32(vec![2], vec![1.0, 2.0]).unwrap();
    let b = Tensor::from_bf16(vec![1], vec![bf16::ONE]).unwrap();
    save_safetensors(
        &dir.path().join("model-00001-of-00002.safetensors"),
        &[("a", &a)],
        None,
    )
    .unwrap();
    save_safetensors(
        &dir.path().join("model-00002-of-00002.safetensors"),
        &[("b", &b)],
        None,
    )
    .unwrap();
    let index = r#"{"metadata":{"total_size":6},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#;
    std::fs::write(dir.path().join("model.safetensors.index.json"), index).unwrap();
    let w = Weights::load(dir.path()).unwrap();
    assert_eq!(w.names(), vec!["a", "b"]);
    assert_eq!(w.get("b").unwrap().dtype(), DType::BF16);

    let bad = r#"{"weight_map":{"a":"../etc/passwd"}}"#;
    let bad_path = dir.path().join("bad.index.json");
    std::fs::write(&bad_path, bad).unwrap();
    assert!(Weights::load(&bad_path)
        .unwrap_err()
        .to_string()
        .contains("not a plain file name"));
}

#[test]
fn duplicate_or_reserved_names_are_refused_and_nothing_is_written() {
    let dir = TempDir::new("dupnames");
    let path = dir.path().join("d.safetensors");
    let t = Tensor::from_f32(vec![1], vec![1.0]).unwrap();
    for list in [vec![("x", &t), ("x", &t)], vec![("__metadata__", &t)]] {
        let err = save_safetensors(&path, &list, None).unwrap_err();
        assert!(err.to_string().contains("duplicate or reserved"), "{err}");
        assert!(!path.exists());
    }
}

#[test]
fn failed_atomic_write_keeps_the_old_file_and_leaves_no_temp() {
    let dir = TempDir::new("atomic");
    let path = dir.path().join("keep.txt");
    std::fs::write(&path, b"old").unwrap();
    let err = tokken_engine::write_file_atomically(&path, |w| {
        use std::io::Write;
        w.write_all(b"half of the new conte")?;
        Err(std::io::Error::other("disk full"))
    })
    .unwrap_err();
    assert!(err.to_string().contains("keep.txt"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // Writing into a missing directory is an error naming the path.
    let missing = dir.path().join("no/such/dir/w.safetensors");
    let t = Tensor::from_f32(vec![1], vec![1.0]).unwrap();
    let err = save_safetensors(&missing, &[("t", &t)], None).unwrap_err();
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[test]
fn unknown_and_legacy_formats_are_named() {
    let dir = TempDir::new("formats");
    let legacy = dir.path().join("old.bin");
    // A legacy torch.save file starts with a raw pickle (magic number first); this one
    // stops there, and the error names the format and the file.
    std::fs::write(&legacy, b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.").unwrap();
    let err = Weights::load(&legacy).unwrap_err();
    assert!(err.to_string().contains("legacy"), "{err}");
    assert!(err.to_string().contains("old.bin"), "{err}");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, b"hello world").unwrap();
    let err = Weights::load(&text).unwrap_err();
    assert!(
        err.to_string().contains("neither a safetensors file"),
        "{err}"
    );
}

/// Mapped tensors stacked along dimension 0 stay mapped until the whole is read as one
/// slice; the parts are there to read in place; the joined data is the concatenation;
/// writing copies and leaves the parts and the file alone.
#[test]
fn stacked_mapped_tensors_copy_nothing_until_joined() {
    let dir = TempDir::new("stacked");
    let path = dir.path().join("model.safetensors");
    let a = Tensor::from_f32(vec![2, 3], (0..6).map(|i| i as f32).collect()).unwrap();
    let b = Tensor::from_f32(vec![1, 3], vec![10.0, 11.0, 12.0]).unwrap();
    save_safetensors(&path, &[("a", &a), ("b", &b)], None).unwrap();
    let w = Weights::load(dir.path()).unwrap();
    let (ma, mb) = (w.get("a").unwrap().clone(), w.get("b").unwrap().clone());

    let s = Tensor::stack_rows(&[ma.clone(), mb.clone(), ma.clone()]).unwrap();
    assert_eq!(s.shape(), [5, 3]);
    assert!(s.is_zero_copy() && !s.is_mapped());
    let parts = s.stacked_parts().unwrap();
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(Tensor::is_mapped));
    assert_eq!(parts[1].as_f32().unwrap(), [10.0, 11.0, 12.0]);
    // Reading the parts, or converting the whole, joins nothing.
    let want: Vec<f32> = [
        0., 1., 2., 3., 4., 5., 10., 11., 12., 0., 1., 2., 3., 4., 5.,
    ]
    .to_vec();
    assert_eq!(s.to_f32_vec(), want);
    let b16 = s.to_dtype(tokken_engine::DType::BF16);
    assert_eq!(b16.to_f32_vec(), want);
    assert!(s.is_zero_copy());

    let want: Vec<f32> = [
        0., 1., 2., 3., 4., 5., 10., 11., 12., 0., 1., 2., 3., 4., 5.,
    ]
    .to_vec();
    assert_eq!(s.as_f32().unwrap(), want);
    assert!(!s.is_zero_copy(), "reading the whole joins a copy");
    // Clones share the joined copy; a view of part of it is not the stacked whole.
    assert!(!s.clone().is_zero_copy());
    let view = s.narrow(2, 2).unwrap();
    assert_eq!(view.as_f32().unwrap(), &want[6..12]);
    assert!(view.stacked_parts().is_none());

    let mut m = s.clone();
    m.as_f32_mut().unwrap()[0] = -1.0;
    assert_eq!(s.as_f32().unwrap()[0], 0.0);
    assert_eq!(ma.as_f32().unwrap()[0], 0.0);
    assert!(m.stacked_parts().is_none());
}

#[test]
fn stacking_checks_dtypes_and_row_shapes() {
    let f = Tensor::from_f32(vec![2, 3], vec![0.0; 6]).unwrap();
    let g = Tensor::from_f32(vec![2, 4], vec![0.0; 8]).unwrap();
    let h = f.to_dtype(tokken_engine::DType::BF16);
    assert!(Tensor::stack_rows(&[]).is_err());
    assert!(Tensor::stack_rows(&[f.clone(), g]).is_err());
    assert!(Tensor::stack_rows(&[f.clone(), h]).is_err());
    let bias = Tensor::from_f32(vec![3], vec![1.0, 2.0, 3.0]).unwrap();
    let s = Tensor::stack_rows(&[bias.clone(), bias]).unwrap();
    assert_eq!(
        (s.shape(), s.as_f32().unwrap()),
        (&[6usize][..], &[1., 2., 3., 1., 2., 3.][..])
    );
    assert!(!s.is_zero_copy(), "owned parts are copies already");
    let scalar = Tensor::from_f32(vec![], vec![1.0]).unwrap();
    assert!(Tensor::stack_rows(&[scalar]).is_err());
}
