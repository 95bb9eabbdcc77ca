//! The feed-forward activation, by config `hidden_act`.

use tokken_kernels::cpu::gelu::gelu_forward;

use crate::config::HiddenAct;

/// `out = act(inp)`, elementwise.
pub fn activation_forward(act: HiddenAct, out: &mut [f32], inp: &[f32]) {
    match act {
        HiddenAct::Gelu => gelu_forward(out, inp),
        HiddenAct::GeluTanh => {
            // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), HF `NewGELUActivation`
            let s = (2.0f32 / std::f32::consts::PI).sqrt();
            for (o, &x) in out.iter_mut().zip(inp) {
                *o = 0.5 * x * (1.0 + (s * (x + 0.044715 * x * x * x)).tanh());
            }
        }
        HiddenAct::Relu => {
            for (o, &x) in out.iter_mut().zip(inp) {
                *o = x.max(0.0);
            }
        }
        HiddenAct::Silu => {
            for (o, &x) in out.iter_mut().zip(inp) {
                *o = x / (1.0 + (-x).exp());
            }
        }
    }
}
