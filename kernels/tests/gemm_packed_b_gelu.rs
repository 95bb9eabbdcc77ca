//! `gemm_packed_b_bias_gelu` (exact GELU applied to A while it is packed) against what it
//! replaces: `gelu_forward` into a buffer, then `gemm_packed_b_bias` on it. Bit for bit on
//! every packed kind this CPU has, A as stored and transposed, tile edges, odd K for bf16
//! pairs, K over two K blocks, and 1 and 2 threads; A spans both GELU branches (|x| < √2
//! and beyond) and its tails.

mod common;

use common::gemm::{assert_bitwise, random_vec, stored};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokken_kernels::cpu::gelu::gelu_forward;
use tokken_kernels::cpu::gemm::*;

#[test]
fn gelu_while_packing_equals_gelu_then_gemm_bitwise() {
    let mut rng = StdRng::seed_from_u64(41);
    let shapes = [
        (64, 96, 64),
        (1, 5, 3),
        (15, 33, 2),
        (29, 70, 7),
        (33, 13, 3077),
        (100, 40, 1537),
    ];
    let kinds: Vec<PackedKind> = Kernel::available()
        .into_iter()
        .map(PackedKind::F32)
        .chain(Bf16Kernel::available().into_iter().map(PackedKind::Bf16))
        .collect();
    let pools: Vec<_> = [1, 2]
        .into_iter()
        .map(|t| {
            (
                t,
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap(),
            )
        })
        .collect();
    for kind in kinds {
        for (i, &(m, n, k)) in shapes.iter().enumerate() {
            for ta in [Trans::N, Trans::T] {
                let tb = [Trans::T, Trans::N][i % 2];
                let (sa, sb) = (stored(ta, m, k), stored(tb, k, n));
                let (lda, ldb) = (sa.1 + i % 3, sb.1);
                // pre-activations in [-6, 6): both branches of Φ and both tails
                let a: Vec<f32> = random_vec(&mut rng, (sa.0 - 1) * lda + sa.1)
                    .into_iter()
                    .map(|v| 6.0 * v)
                    .collect();
                let b = random_vec(&mut rng, (sb.0 - 1) * ldb + sb.1);
                let bias = random_vec(&mut rng, n);
                let pb = PackedB::from_f32(kind, tb, &b, ldb, k, n);
                let mut act = vec![0.0f32; a.len()];
                gelu_forward(&mut act, &a);
                for (threads, pool) in &pools {
                    let (got, want) = pool.install(|| {
                        let mut got = vec![f32::NAN; m * n];
                        gemm_packed_b_bias_gelu(ta, m, 1.0, &a, lda, &pb, &bias, &mut got, n);
                        let mut want = vec![f32::NAN; m * n];
                        gemm_packed_b_bias(ta, m, 1.0, &act, lda, &pb, &bias, &mut want, n);
                        (got, want)
                    });
                    let what = format!("{kind:?} {ta:?}{tb:?} m {m} n {n} k {k} threads {threads}");
                    assert_bitwise(what, &got, &want);
                }
            }
        }
    }
}
