//! The feed-forward activation, by config `hidden_act`.

use rayon::prelude::*;
use tokken_kernels::cpu::gelu::{gelu_forward, gelu_forward_in_place, gelu_in_place};

use crate::config::HiddenAct;

/// `out = act(inp)`, elementwise.
pub fn activation_forward(act: HiddenAct, out: &mut [f32], inp: &[f32]) {
    match act {
        HiddenAct::Gelu => gelu_forward(out, inp),
        other => {
            for (o, &x) in out.iter_mut().zip(inp) {
                *o = scalar(other, x);
            }
        }
    }
}

/// Values per parallel task of [`activation_forward_in_place`] (GELU's own kernel chunks
/// alike).
const CHUNK: usize = 8192;

/// `x = act(x)` in parallel; the same bits as [`activation_forward`].
pub fn activation_forward_in_place(act: HiddenAct, x: &mut [f32]) {
    match act {
        HiddenAct::Gelu => gelu_forward_in_place(x),
        other => x
            .par_chunks_mut(CHUNK)
            .for_each(|chunk| activation_in_place(other, chunk)),
    }
}

/// `x = act(x)` on the calling thread; the same bits as [`activation_forward`].
pub fn activation_in_place(act: HiddenAct, x: &mut [f32]) {
    match act {
        HiddenAct::Gelu => gelu_in_place(x),
        other => {
            for v in x.iter_mut() {
                *v = scalar(other, *v);
            }
        }
    }
}

/// One value of the activations computed element by element (GELU has its own kernel).
fn scalar(act: HiddenAct, x: f32) -> f32 {
    match act {
        HiddenAct::Gelu => x * tokken_kernels::cpu::math::normal_cdf(x),
        HiddenAct::GeluTanh => {
            // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), HF `NewGELUActivation`
            let s = (2.0f32 / std::f32::consts::PI).sqrt();
            0.5 * x * (1.0 + (s * (x + 0.044715 * x * x * x)).tanh())
        }
        HiddenAct::Relu => x.max(0.0),
        HiddenAct::Silu => x / (1.0 + (-x).exp()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every activation gives the same bits in place (parallel or not) as out of place.
    #[test]
    fn in_place_forms_equal_the_forward_bitwise() {
        // More than one parallel chunk, odd length, both signs and large magnitudes.
        let x: Vec<f32> = (0..20_011)
            .map(|i| ((i * 7919) % 20_011) as f32 / 1000.0 - 10.0)
            .collect();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        for act in [
            HiddenAct::Gelu,
            HiddenAct::GeluTanh,
            HiddenAct::Relu,
            HiddenAct::Silu,
        ] {
            let mut want = vec![f32::NAN; x.len()];
            activation_forward(act, &mut want, &x);
            let mut parallel = x.clone();
            activation_forward_in_place(act, &mut parallel);
            assert_eq!(bits(&parallel), bits(&want), "{act:?} in place, parallel");
            let mut serial = x.clone();
            activation_in_place(act, &mut serial);
            assert_eq!(bits(&serial), bits(&want), "{act:?} in place, serial");
        }
    }
}
