//! The feed-forward activation, by config `hidden_act`.

use tokken_kernels::cpu::gelu::{gelu_forward, gelu_in_place};

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
