//! Tensor construction, views, dtype conversion and copy-on-write.

use half::{bf16, f16};
use tokken_engine::{DType, EngineError, Tensor};

#[test]
fn from_f32_checks_numel() {
    let err = Tensor::from_f32(vec![2, 3], vec![0.0; 5]).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::DataLength {
                expected: 6,
                got: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(Tensor::from_f32(vec![usize::MAX, 2], vec![]).is_err());
    let t = Tensor::from_f32(vec![2, 3], vec![1.0; 6]).unwrap();
    assert_eq!(
        (t.shape(), t.numel(), t.dtype()),
        (&[2usize, 3][..], 6, DType::F32)
    );
    assert!(!t.is_mapped());
}

#[test]
fn typed_views_name_the_actual_dtype() {
    let t = Tensor::zeros(vec![4], DType::BF16);
    assert_eq!(t.as_bf16().unwrap(), &[bf16::ZERO; 4]);
    let err = t.as_f32().unwrap_err();
    assert!(err.to_string().contains("got bf16"), "{err}");
    assert!(t.as_f16().is_err());
}

#[test]
fn to_dtype_rounds_to_nearest_even_and_is_cheap_when_same() {
    // 1 + 2^-8 lies exactly halfway between two bf16 values (1 and 1 + 2^-7): ties to even -> 1.
    // 1 + 3*2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even -> 1 + 2^-6.
    let x = [1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8), -2.5, 1e-3];
    let t = Tensor::from_f32(vec![4], x.to_vec()).unwrap();
    let b = t.to_dtype(DType::BF16);
    let got: Vec<f32> = b.as_bf16().unwrap().iter().map(|v| v.to_f32()).collect();
    assert_eq!(got[0], 1.0);
    assert_eq!(got[1], 1.0 + 2f32.powi(-6));
    assert_eq!(got[2], -2.5);
    assert_eq!(b.as_bf16().unwrap()[3], bf16::from_f32(1e-3));
    let h = t.to_dtype(DType::F16);
    assert_eq!(h.as_f16().unwrap()[3], f16::from_f32(1e-3));
    // Back to f32 is exact.
    assert_eq!(b.to_dtype(DType::F32).as_f32().unwrap(), &got[..]);
    assert_eq!(h.to_f32_vec()[2], -2.5);
    // Same dtype: shares data.
    let same = t.to_dtype(DType::F32);
    assert_eq!(
        same.as_f32().unwrap().as_ptr(),
        t.as_f32().unwrap().as_ptr()
    );
}

#[test]
fn reshape_and_narrow_share_data() {
    let t = Tensor::from_f32(vec![3, 2], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let r = t.reshape(vec![6]).unwrap();
    assert_eq!(r.as_f32().unwrap().as_ptr(), t.as_f32().unwrap().as_ptr());
    assert!(t.reshape(vec![4]).is_err());
    let n = t.narrow(1, 2).unwrap();
    assert_eq!(n.shape(), &[2, 2]);
    assert_eq!(n.as_f32().unwrap(), &[2.0, 3.0, 4.0, 5.0]);
    assert!(t.narrow(2, 2).is_err());
    assert!(t.narrow(usize::MAX, 2).is_err());
    assert_eq!(t.narrow(3, 0).unwrap().numel(), 0);
}

#[test]
fn mutation_copies_on_write() {
    let t = Tensor::from_f32(vec![2, 2], vec![1.0; 4]).unwrap();
    let mut u = t.clone();
    u.as_f32_mut().unwrap()[0] = 9.0;
    assert_eq!(t.as_f32().unwrap()[0], 1.0, "the original must not change");
    assert_eq!(u.as_f32().unwrap()[0], 9.0);
    // Sole owner: writes in place, no further copy.
    let p = u.as_f32().unwrap().as_ptr();
    u.as_f32_mut().unwrap()[1] = 8.0;
    assert_eq!(u.as_f32().unwrap().as_ptr(), p);
    // A view copies only its own rows.
    let mut row = t.narrow(1, 1).unwrap();
    row.as_f32_mut().unwrap()[0] = 5.0;
    assert_eq!(row.as_f32().unwrap(), &[5.0, 1.0]);
    assert_eq!(t.as_f32().unwrap(), &[1.0; 4]);
    assert!(row.as_bf16_mut().is_err());
}

#[test]
fn dtype_names_parse() {
    for (s, d) in [
        ("f32", DType::F32),
        ("torch.float32", DType::F32),
        ("BF16", DType::BF16),
        ("bfloat16", DType::BF16),
        ("half", DType::F16),
        ("float16", DType::F16),
    ] {
        assert_eq!(s.parse::<DType>().unwrap(), d, "{s}");
    }
    assert!("int8".parse::<DType>().is_err());
    assert_eq!(DType::from_safetensors_name("BF16"), Some(DType::BF16));
    assert_eq!(DType::from_safetensors_name("I64"), None);
    assert_eq!(DType::BF16.size_in_bytes(), 2);
    assert_eq!(DType::F32.to_string(), "f32");
}

#[test]
fn tensors_and_weights_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tensor>();
    assert_send_sync::<tokken_engine::Weights>();
    assert_send_sync::<EngineError>();
}
