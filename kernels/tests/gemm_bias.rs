//! `sgemm_bias` and `gemm_f32_bf16_bias` (a dense layer on unpacked weights: C tiles start
//! at residual + bias) against what they replace: C filled with residual + bias, then
//! `sgemm` / `gemm_f32_bf16` (N, T) with beta = 1. Bit for bit, with and without a residual
//! (padded row strides), tile edges, m = 1, K over one and two K blocks (KC = 1536), more
//! rows than one row block (MC = 3072), X rows a multiple of 4 KiB apart (the AVX-512
//! kernel's two half passes), and 1 and 2 threads.

mod common;

use common::gemm::{assert_bitwise, random_vec, SENTINEL};
use half::bf16 as Bf16;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokken_kernels::cpu::gemm::*;

/// Which weights the layer has.
#[derive(Clone, Copy, Debug)]
enum Weights {
    F32,
    Bf16,
}

/// One layer's operands: X `[m, k]` (stride `ldx`), W `[n, k]` (stride k + 2), bias `[n]`,
/// residual `[m, n]` (stride n + 3).
struct Layer {
    m: usize,
    n: usize,
    k: usize,
    ldx: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    w16: Vec<Bf16>,
    bias: Vec<f32>,
    residual: Vec<f32>,
}

impl Layer {
    fn new(rng: &mut StdRng, m: usize, n: usize, k: usize, ldx: usize) -> Layer {
        let w = random_vec(rng, (n - 1) * (k + 2) + k);
        Layer {
            m,
            n,
            k,
            ldx,
            x: random_vec(rng, (m - 1) * ldx + k),
            w16: w.iter().map(|&v| Bf16::from_f32(v)).collect(),
            w,
            bias: random_vec(rng, n),
            residual: random_vec(rng, (m - 1) * (n + 3) + n),
        }
    }

    fn residual(&self, with: bool) -> Option<(&[f32], usize)> {
        with.then_some((&self.residual[..], self.n + 3))
    }

    /// C (stride n + 1, NaN in the view, sentinels between rows) through the bias entry.
    fn with_bias(&self, weights: Weights, with_residual: bool) -> Vec<f32> {
        let (m, n, k, ldc) = (self.m, self.n, self.k, self.n + 1);
        let mut c = initial_c(m, n, ldc);
        let r = self.residual(with_residual);
        match weights {
            Weights::F32 => sgemm_bias(
                m,
                n,
                k,
                &self.x,
                self.ldx,
                &self.w,
                k + 2,
                &self.bias,
                r,
                &mut c,
                ldc,
            ),
            Weights::Bf16 => gemm_f32_bf16_bias(
                m,
                n,
                k,
                &self.x,
                self.ldx,
                &self.w16,
                k + 2,
                &self.bias,
                r,
                &mut c,
                ldc,
            ),
        }
        c
    }

    /// The same C by filling it first, then beta = 1.
    fn fill_then_gemm(&self, weights: Weights, with_residual: bool) -> Vec<f32> {
        let (m, n, k, ldc) = (self.m, self.n, self.k, self.n + 1);
        let mut c = initial_c(m, n, ldc);
        for i in 0..m {
            for j in 0..n {
                c[i * ldc + j] = match self.residual(with_residual) {
                    Some((r, ldr)) => r[i * ldr + j] + self.bias[j],
                    None => self.bias[j],
                };
            }
        }
        let (x, w) = (&self.x, &self.w);
        match weights {
            Weights::F32 => sgemm(
                Trans::N,
                Trans::T,
                m,
                n,
                k,
                1.0,
                x,
                self.ldx,
                w,
                k + 2,
                1.0,
                &mut c,
                ldc,
            ),
            Weights::Bf16 => gemm_f32_bf16(
                Trans::N,
                Trans::T,
                m,
                n,
                k,
                1.0,
                x,
                self.ldx,
                &self.w16,
                k + 2,
                1.0,
                &mut c,
                ldc,
            ),
        }
        c
    }
}

/// NaN in the `m x n` view (the layer must ignore it), [`SENTINEL`] in the row padding
/// (left untouched).
fn initial_c(m: usize, n: usize, ldc: usize) -> Vec<f32> {
    let mut c = vec![SENTINEL; (m - 1) * ldc + n];
    for i in 0..m {
        c[i * ldc..i * ldc + n].fill(f32::NAN);
    }
    c
}

#[test]
fn bias_and_residual_start_equals_fill_then_beta_one_bitwise() {
    let mut rng = StdRng::seed_from_u64(41);
    // (m, n, k, X row stride); strides of 1024 and 2048 floats are multiples of 4 KiB.
    let shapes = [
        (1, 5, 3, 4),
        (15, 33, 2, 3),
        (29, 70, 7, 8),
        (64, 96, 64, 65),
        (33, 13, 3077, 3078),
        (300, 200, 100, 101),
        (700, 160, 768, 769),
        (3080, 40, 1600, 1601),
        (45, 70, 1000, 1024),
        (20, 40, 2000, 2048),
    ];
    for &(m, n, k, ldx) in &shapes {
        let layer = Layer::new(&mut rng, m, n, k, ldx);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for weights in [Weights::F32, Weights::Bf16] {
                for with_residual in [false, true] {
                    let (got, want) = pool.install(|| {
                        (
                            layer.with_bias(weights, with_residual),
                            layer.fill_then_gemm(weights, with_residual),
                        )
                    });
                    let what = format!(
                        "{weights:?} m {m} n {n} k {k} ldx {ldx} residual {with_residual} threads {threads}"
                    );
                    assert!(got.iter().all(|v| !v.is_nan()), "{what}: NaN left in C");
                    assert_bitwise(what, &got, &want);
                }
            }
        }
    }
}

#[test]
fn degenerate_layers_start_at_residual_plus_bias() {
    // K = 0: C = residual + bias; m = 0: nothing touched.
    let bias = [1.5f32, -2.0, 0.25];
    let residual = [1.0f32, 2.0, 3.0, SENTINEL, 4.0, 5.0, 6.0];
    let mut c = vec![f32::NAN; 7];
    c[3] = SENTINEL;
    sgemm_bias(
        2,
        3,
        0,
        &[],
        1,
        &[],
        1,
        &bias,
        Some((&residual, 4)),
        &mut c,
        4,
    );
    assert_eq!(c, vec![2.5, 0.0, 3.25, SENTINEL, 5.5, 3.0, 6.25]);
    let mut c = vec![5.0f32; 3];
    sgemm_bias(0, 3, 2, &[], 2, &[1.0; 6], 2, &bias, None, &mut c, 3);
    assert_eq!(c, vec![5.0; 3]);
}

#[test]
#[should_panic(expected = "bias has 2 elements")]
fn bias_of_wrong_length_panics_clearly() {
    let mut c = vec![0.0f32; 6];
    sgemm_bias(
        2, 3, 4, &[1.0; 8], 4, &[1.0; 12], 4, &[0.0; 2], None, &mut c, 3,
    );
}

#[test]
#[should_panic(expected = "residual")]
fn short_residual_panics_clearly() {
    let mut c = vec![0.0f32; 6];
    sgemm_bias(
        2,
        3,
        4,
        &[1.0; 8],
        4,
        &[1.0; 12],
        4,
        &[0.0; 3],
        Some((&[0.0; 5], 3)),
        &mut c,
        3,
    );
}
