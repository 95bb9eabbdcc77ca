//! Host side of the counter-based dropout mask used by the CUDA kernels: the 64-bit seed
//! becomes two 32-bit keys and `p` a 24-bit threshold, exactly as in
//! [`crate::cpu::dropout`], so a GPU run drops the same elements as a CPU run.
//! [`DropoutKeys::keep`] is the device formula (`common.cuh`: `dropout_keep`) in Rust; a
//! test checks it against [`crate::cpu::dropout::keep`].

/// Kernel arguments of one dropout stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutKeys {
    pub k0: u32,
    pub k1: u32,
    /// Elements whose 24-bit draw is `>= thr` are kept.
    pub thr: u32,
    /// `1 / (1 - p)`, 0 when `p == 1` (everything dropped, as torch).
    pub scale: f32,
}

impl DropoutKeys {
    /// Keys for probability `p` in [0, 1] and `seed`.
    pub fn new(p: f32, seed: u64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "dropout: p = {p} is not in [0, 1]"
        );
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Self {
            k0: z as u32,
            k1: (z >> 32) as u32,
            thr: (p as f64 * (1u32 << 24) as f64).round() as u32,
            scale: if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 },
        }
    }

    /// Whether element `index` survives (the device's `dropout_keep`).
    pub fn keep(&self, index: u32) -> bool {
        mix32(mix32(index ^ self.k0).wrapping_add(self.k1)) >> 8 >= self.thr
    }
}

fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::dropout::keep;

    #[test]
    fn device_formula_matches_cpu_mask() {
        for &(p, seed) in &[
            (0.1f32, 0u64),
            (0.5, 42),
            (0.9, u64::MAX),
            (0.0, 7),
            (1.0, 9),
        ] {
            let k = DropoutKeys::new(p, seed);
            for index in (0..20_000u32).chain([u32::MAX - 3, u32::MAX]) {
                assert_eq!(
                    k.keep(index),
                    keep(seed, index, p),
                    "p {p} seed {seed} index {index}"
                );
            }
        }
    }
}
