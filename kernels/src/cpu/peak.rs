//! Machine peak probe: measured f32 FMA and bf16 dot-product throughput of this CPU.
//!
//! Each probe runs a loop of independent multiply-add accumulator chains (enough of them to
//! cover latency x issue width) in the widest instruction set the GEMM kernels use, on
//! `threads` threads of rayon's global pool at once, for about a quarter of a second, and
//! returns the best measured rate in GFLOP/s. Benches divide their speed by it, so results
//! read as "fraction of what this machine did in the same run".
//!
//! Flops per instruction: an f32 FMA is 2 per lane; `vdpbf16ps` does two multiply-adds per
//! f32 lane, so 4 per lane. Where the bf16 GEMM converts to f32 instead (no AVX512-BF16, or
//! `vdpbf16ps` slower than FMAs: see [`bf16_dot_outpaces_f32_fma`]) the bf16 peak is the f32
//! peak.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::gemm::Bf16Kernel;

/// Wall time one probe spends (split into rounds; the best round counts).
const PROBE_TIME: Duration = Duration::from_millis(300);
const ROUNDS: u32 = 16;

/// Peak f32 GFLOP/s on `threads` threads (capped at the pool size), using the ISA named by
/// [`f32_peak_isa`].
pub fn measure_f32_peak(threads: usize) -> f64 {
    let (burst, flops_per_iter) = f32_burst();
    measure(threads, burst, flops_per_iter)
}

/// Peak bf16 GFLOP/s on `threads` threads (capped at the pool size), using the ISA named by
/// [`bf16_peak_isa`]: that of the bf16 GEMM path chosen on this CPU ([`Bf16Kernel::best`]).
pub fn measure_bf16_peak(threads: usize) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if Bf16Kernel::best() == Bf16Kernel::Avx512Bf16 {
        // SAFETY: that path is only chosen where AVX-512F and AVX512-BF16 are present.
        let burst: fn(u64) -> f32 = |n| unsafe { x86::dpbf16_burst(n) };
        return measure(threads, burst, x86::DPBF16_FLOPS_PER_ITER);
    }
    measure_f32_peak(threads)
}

/// Whether `vdpbf16ps` gives more multiply-adds per second than f32 FMAs on bf16 values
/// widened to f32 (which is what the other bf16 path does). Measured on the calling thread in
/// a few alternating bursts of about half a millisecond, best of each.
///
/// The two cases it separates are far apart: Zen 4 runs `vdpbf16ps` at twice the FMA's flop
/// rate, Sapphire / Emerald Rapids at half of it (one instruction every other cycle against
/// two FMAs per cycle), so a noisy burst cannot flip the answer.
pub fn bf16_dot_outpaces_f32_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16") {
        // SAFETY (both closures): features checked just above.
        let dot: fn(u64) -> f32 = |n| unsafe { x86::dpbf16_burst(n) };
        let fma: fn(u64) -> f32 = |n| unsafe { x86::fma512_burst(n) };
        let (dot_iters, fma_iters) = (iters_for(dot, QUICK_BURST), iters_for(fma, QUICK_BURST));
        let (mut dot_best, mut fma_best) = (0.0f64, 0.0f64);
        for _ in 0..QUICK_ROUNDS {
            dot_best = dot_best.max(burst_rate(dot, dot_iters, x86::DPBF16_FLOPS_PER_ITER));
            fma_best = fma_best.max(burst_rate(fma, fma_iters, x86::FMA512_FLOPS_PER_ITER));
        }
        return dot_best >= fma_best;
    }
    false
}

/// Length and count of the bursts [`bf16_dot_outpaces_f32_fma`] compares.
const QUICK_BURST: Duration = Duration::from_micros(500);
const QUICK_ROUNDS: u32 = 4;

/// Iterations of `burst` that take about `target` on this thread.
fn iters_for(burst: fn(u64) -> f32, target: Duration) -> u64 {
    let mut iters = 1u64 << 8;
    loop {
        let t = Instant::now();
        black_box(burst(black_box(iters)));
        let dt = t.elapsed();
        if dt >= target / 4 {
            return ((iters as f64) * target.as_secs_f64() / dt.as_secs_f64()).max(1.0) as u64;
        }
        iters *= 4;
    }
}

/// Flops per second of one run of `burst`.
fn burst_rate(burst: fn(u64) -> f32, iters: u64, flops_per_iter: f64) -> f64 {
    let t = Instant::now();
    black_box(burst(black_box(iters)));
    iters as f64 * flops_per_iter / t.elapsed().as_secs_f64()
}

/// Name of the instruction the f32 probe uses.
pub fn f32_peak_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            return "avx512f vfmadd231ps zmm";
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return "avx2 vfmadd231ps ymm";
        }
    }
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("neon") {
        return "neon fmla v.4s";
    }
    "portable wide f32x8 mul_add"
}

/// Name of the instruction the bf16 probe uses.
pub fn bf16_peak_isa() -> &'static str {
    if Bf16Kernel::best() == Bf16Kernel::Avx512Bf16 {
        return "avx512bf16 vdpbf16ps zmm";
    }
    f32_peak_isa()
}

/// The f32 burst for the widest ISA here and the flops one of its iterations does.
fn f32_burst() -> (fn(u64) -> f32, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: feature checked just above.
            return (
                |n| unsafe { x86::fma512_burst(n) },
                x86::FMA512_FLOPS_PER_ITER,
            );
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: features checked just above.
            return (
                |n| unsafe { x86::fma256_burst(n) },
                x86::FMA256_FLOPS_PER_ITER,
            );
        }
    }
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("neon") {
        // SAFETY: feature checked just above.
        return (|n| unsafe { arm::fmla_burst(n) }, arm::FMLA_FLOPS_PER_ITER);
    }
    (portable_burst, PORTABLE_FLOPS_PER_ITER)
}

/// Run `burst` on `threads` pool threads concurrently; sum each thread's best round rate.
fn measure(threads: usize, burst: fn(u64) -> f32, flops_per_iter: f64) -> f64 {
    // Calibrate on this thread: iterations for one round of PROBE_TIME / ROUNDS.
    let iters = iters_for(burst, PROBE_TIME / ROUNDS);
    let threads = threads.clamp(1, rayon::current_num_threads());
    let total_mflops = AtomicU64::new(0);
    rayon::broadcast(|ctx| {
        if ctx.index() >= threads {
            return;
        }
        let best = (0..ROUNDS)
            .map(|_| burst_rate(burst, iters, flops_per_iter))
            .fold(0.0f64, f64::max);
        total_mflops.fetch_add((best / 1e6) as u64, Ordering::Relaxed);
    });
    total_mflops.load(Ordering::Relaxed) as f64 / 1e3
}

const PORTABLE_ACC: usize = 8;
const PORTABLE_FLOPS_PER_ITER: f64 = (PORTABLE_ACC * 8 * 2) as f64;

fn portable_burst(iters: u64) -> f32 {
    use wide::f32x8;
    let x = f32x8::splat(black_box(0.999_999));
    let y = f32x8::splat(black_box(1e-7));
    let mut acc = [f32x8::splat(1.0); PORTABLE_ACC];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(x, y);
        }
    }
    acc.iter().map(|a| a.reduce_add()).sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::hint::black_box;

    const ACC512: usize = 16;
    const ACC256: usize = 12;
    pub const FMA512_FLOPS_PER_ITER: f64 = (ACC512 * 16 * 2) as f64;
    pub const DPBF16_FLOPS_PER_ITER: f64 = (ACC512 * 16 * 4) as f64;
    pub const FMA256_FLOPS_PER_ITER: f64 = (ACC256 * 8 * 2) as f64;

    /// `iters` rounds of 16 independent `ins zmmN, x, y` (zmmN += x * y) on zmm0..zmm15,
    /// written out in asm: LLVM compiled the same loop of intrinsics into a register
    /// rotation with stack spills whose speed depended on the build (the bf16 probe read
    /// 258 vs 408 GFLOP/s for the same code in two builds; the f32 one 250 vs 346 after an
    /// unrelated change to its caller).
    macro_rules! sixteen_chains {
        ($ins:literal, $iters:expr, $x:expr, $y:expr, $acc:expr) => {
            std::arch::asm!(
                "2:",
                concat!($ins, " zmm0, {x}, {y}"),
                concat!($ins, " zmm1, {x}, {y}"),
                concat!($ins, " zmm2, {x}, {y}"),
                concat!($ins, " zmm3, {x}, {y}"),
                concat!($ins, " zmm4, {x}, {y}"),
                concat!($ins, " zmm5, {x}, {y}"),
                concat!($ins, " zmm6, {x}, {y}"),
                concat!($ins, " zmm7, {x}, {y}"),
                concat!($ins, " zmm8, {x}, {y}"),
                concat!($ins, " zmm9, {x}, {y}"),
                concat!($ins, " zmm10, {x}, {y}"),
                concat!($ins, " zmm11, {x}, {y}"),
                concat!($ins, " zmm12, {x}, {y}"),
                concat!($ins, " zmm13, {x}, {y}"),
                concat!($ins, " zmm14, {x}, {y}"),
                concat!($ins, " zmm15, {x}, {y}"),
                "dec {n}",
                "jnz 2b",
                n = inout(reg) $iters => _,
                x = in(zmm_reg) $x,
                y = in(zmm_reg) $y,
                inout("zmm0") $acc[0],
                inout("zmm1") $acc[1],
                inout("zmm2") $acc[2],
                inout("zmm3") $acc[3],
                inout("zmm4") $acc[4],
                inout("zmm5") $acc[5],
                inout("zmm6") $acc[6],
                inout("zmm7") $acc[7],
                inout("zmm8") $acc[8],
                inout("zmm9") $acc[9],
                inout("zmm10") $acc[10],
                inout("zmm11") $acc[11],
                inout("zmm12") $acc[12],
                inout("zmm13") $acc[13],
                inout("zmm14") $acc[14],
                inout("zmm15") $acc[15],
                options(nomem, nostack),
            )
        };
    }

    /// `iters` rounds of 16 independent zmm FMAs.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma512_burst(iters: u64) -> f32 {
        let x = _mm512_set1_ps(black_box(0.999_999));
        let y = _mm512_set1_ps(black_box(1e-7));
        const { assert!(ACC512 == 16, "the asm names 16 accumulators") };
        let mut acc = [_mm512_set1_ps(1.0); ACC512];
        if iters > 0 {
            // SAFETY: register-only loop; AVX-512F enabled on this function.
            unsafe { sixteen_chains!("vfmadd231ps", iters, x, y, acc) };
        }
        acc.iter().map(|&a| _mm512_reduce_add_ps(a)).sum()
    }

    /// `iters` rounds of 16 independent zmm `vdpbf16ps`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn dpbf16_burst(iters: u64) -> f32 {
        let x: __m512bh = _mm512_cvtne2ps_pbh(
            _mm512_set1_ps(black_box(0.5)),
            _mm512_set1_ps(black_box(0.25)),
        );
        let y: __m512bh = _mm512_cvtne2ps_pbh(
            _mm512_set1_ps(black_box(1e-3)),
            _mm512_set1_ps(black_box(-1e-3)),
        );
        const { assert!(ACC512 == 16, "the asm names 16 accumulators") };
        // SAFETY: __m512bh and __m512 are both 64 bytes of vector register.
        let (x, y) = unsafe {
            (
                std::mem::transmute::<__m512bh, __m512>(x),
                std::mem::transmute::<__m512bh, __m512>(y),
            )
        };
        let mut acc = [_mm512_set1_ps(1.0); ACC512];
        if iters > 0 {
            // SAFETY: register-only loop; AVX512-BF16 enabled on this function.
            unsafe { sixteen_chains!("vdpbf16ps", iters, x, y, acc) };
        }
        acc.iter().map(|&a| _mm512_reduce_add_ps(a)).sum()
    }

    /// `iters` rounds of 12 independent ymm FMAs.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma256_burst(iters: u64) -> f32 {
        let x = _mm256_set1_ps(black_box(0.999_999));
        let y = _mm256_set1_ps(black_box(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); ACC256];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, x, y);
            }
        }
        let mut out = [0.0f32; 8];
        let mut s = 0.0;
        for a in acc {
            // SAFETY: `out` holds 8 floats.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), a) };
            s += out.iter().sum::<f32>();
        }
        s
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;
    use std::hint::black_box;

    const ACC: usize = 16;
    pub const FMLA_FLOPS_PER_ITER: f64 = (ACC * 4 * 2) as f64;

    /// `iters` rounds of 16 independent q-register FMAs.
    #[target_feature(enable = "neon")]
    pub unsafe fn fmla_burst(iters: u64) -> f32 {
        let x = vdupq_n_f32(black_box(0.999_999));
        let y = vdupq_n_f32(black_box(1e-7));
        let mut acc = [vdupq_n_f32(1.0); ACC];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = vfmaq_f32(y, *a, x);
            }
        }
        acc.iter().map(|&a| vaddvq_f32(a)).sum()
    }
}
