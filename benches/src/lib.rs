//! Shared helpers for tokken benches: deterministic inputs, BERT-base GEMM shapes, and the
//! machine peak printed next to results so speeds read as a fraction of it.

use half::bf16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokken_kernels::cpu::gemm::Trans;
use tokken_kernels::cpu::peak;

/// BERT-base linear layers as `(K_in, N_out)`: attention output, fused QKV, FFN up, FFN down.
pub const BERT_BASE_LINEARS: [(usize, usize); 4] =
    [(768, 768), (768, 2304), (768, 3072), (3072, 768)];

/// Tokens per batch in the GEMM benches (M of the forward product).
pub const TOKENS: usize = 2048;

/// One GEMM of a linear layer's training step. HF Linear weights are `W [N_out, K_in]`,
/// activations `x [M, K_in]`.
#[derive(Clone, Copy, Debug)]
pub struct LinearGemm {
    /// `forward` (`y = x W^T`), `dX` (`dx = dy W`) or `dW` (`dW += dy^T x`).
    pub pass: &'static str,
    pub ta: Trans,
    pub tb: Trans,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub lda: usize,
    pub ldb: usize,
    /// 1 for the accumulating weight gradient, else 0.
    pub beta: f32,
}

impl LinearGemm {
    /// The three GEMMs of a `(K_in, N_out)` layer over `m_tokens` tokens.
    pub fn passes(m_tokens: usize, k_in: usize, n_out: usize) -> [LinearGemm; 3] {
        [
            LinearGemm {
                pass: "forward",
                ta: Trans::N,
                tb: Trans::T,
                m: m_tokens,
                n: n_out,
                k: k_in,
                lda: k_in,
                ldb: k_in,
                beta: 0.0,
            },
            LinearGemm {
                pass: "dX",
                ta: Trans::N,
                tb: Trans::N,
                m: m_tokens,
                n: k_in,
                k: n_out,
                lda: n_out,
                ldb: k_in,
                beta: 0.0,
            },
            LinearGemm {
                pass: "dW",
                ta: Trans::T,
                tb: Trans::N,
                m: n_out,
                n: k_in,
                k: m_tokens,
                lda: n_out,
                ldb: k_in,
                beta: 1.0,
            },
        ]
    }

    /// Floating-point operations of one call (2mnk).
    pub fn flops(&self) -> u64 {
        2 * (self.m * self.n * self.k) as u64
    }

    /// Elements of A, B and C.
    pub fn lens(&self) -> (usize, usize, usize) {
        (self.m * self.k, self.k * self.n, self.m * self.n)
    }
}

/// `len` uniform values in [-1, 1), deterministic per `seed`.
pub fn random_f32(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Round each value to bf16 (nearest even).
pub fn to_bf16(v: &[f32]) -> Vec<bf16> {
    v.iter().map(|&x| bf16::from_f32(x)).collect()
}

/// Measured peaks (GFLOP/s) on all pool threads: `(f32, bf16)`.
pub struct Peaks {
    pub threads: usize,
    pub f32_gflops: f64,
    pub bf16_gflops: f64,
}

/// Measure the f32 and bf16 peaks of this machine now and print them (one line each).
pub fn measure_and_print_peaks() -> Peaks {
    let threads = rayon::current_num_threads();
    let peaks = Peaks {
        threads,
        f32_gflops: peak::measure_f32_peak(threads),
        bf16_gflops: peak::measure_bf16_peak(threads),
    };
    println!(
        "peak on {threads} threads: f32 {:.1} GFLOP/s ({}), bf16 {:.1} GFLOP/s ({})",
        peaks.f32_gflops,
        peak::f32_peak_isa(),
        peaks.bf16_gflops,
        peak::bf16_peak_isa()
    );
    peaks
}
