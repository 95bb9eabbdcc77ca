//! Trainable parameters and their gradients, one arena each (llm.c `ParameterTensors`),
//! handed out as named views. Frozen weights never appear here.

use std::ops::Range;

/// One trainable tensor: its HF/PEFT name, shape and place in the arenas.
#[derive(Clone, Debug)]
pub struct Slot {
    pub name: String,
    pub shape: Vec<usize>,
    pub range: Range<usize>,
    /// Decayed by AdamW (false for biases and LayerNorm weights, as HF `Trainer`).
    pub weight_decay: bool,
}

/// A trainable tensor as the optimizer sees it.
pub struct ParamMut<'a> {
    /// HF state-dict key (PEFT file key = `base_model.model.` + name).
    pub name: &'a str,
    pub value: &'a mut [f32],
    pub grad: &'a [f32],
    pub weight_decay: bool,
}

/// The trainable parameter and gradient arenas.
#[derive(Debug, Default)]
pub struct Trainable {
    pub values: Vec<f32>,
    pub grads: Vec<f32>,
    pub slots: Vec<Slot>,
}

/// HF `Trainer` decays every parameter except biases and LayerNorm weights.
fn decays(name: &str) -> bool {
    !(name.ends_with("bias") || name.contains("LayerNorm"))
}

impl Trainable {
    /// Append a tensor with initial values `init`; returns its range in the arenas.
    pub fn add(&mut self, name: String, shape: Vec<usize>, init: &[f32]) -> Range<usize> {
        debug_assert_eq!(shape.iter().product::<usize>(), init.len());
        let start = self.values.len();
        self.values.extend_from_slice(init);
        self.grads.resize(self.values.len(), 0.0);
        let range = start..self.values.len();
        let weight_decay = decays(&name);
        self.slots.push(Slot {
            name,
            shape,
            range: range.clone(),
            weight_decay,
        });
        range
    }

    pub fn zero_grads(&mut self) {
        self.grads.fill(0.0);
    }

    /// Every slot as (name, value, grad); slots are contiguous and in arena order.
    pub fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut out = Vec::with_capacity(self.slots.len());
        let mut rest: &mut [f32] = &mut self.values;
        let mut at = 0;
        for slot in &self.slots {
            debug_assert_eq!(at, slot.range.start, "slots are contiguous");
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(slot.range.len());
            rest = tail;
            at = slot.range.end;
            out.push(ParamMut {
                name: &slot.name,
                value: head,
                grad: &self.grads[slot.range.clone()],
                weight_decay: slot.weight_decay,
            });
        }
        out
    }
}

/// Two disjoint mutable ranges of one buffer (e.g. LayerNorm `dgamma` and `dbeta`).
pub fn two_mut(buf: &mut [f32], a: Range<usize>, b: Range<usize>) -> (&mut [f32], &mut [f32]) {
    assert!(
        a.end <= b.start || b.end <= a.start,
        "two_mut: ranges overlap"
    );
    if a.start < b.start {
        let (lo, hi) = buf.split_at_mut(b.start);
        (&mut lo[a], &mut hi[..b.end - b.start])
    } else {
        let (lo, hi) = buf.split_at_mut(a.start);
        (&mut hi[..a.end - a.start], &mut lo[b])
    }
}
