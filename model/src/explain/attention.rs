//! Attention weights and attention rollout (Abnar & Zuidema 2020, "Quantifying Attention
//! Flow in Transformers"): per layer, average the heads, add the identity for the residual
//! connection and renormalise the rows, `Â = (Ā + I) / rowsum`; then multiply through the
//! layers, `R = Â_L · … · Â_1`. `R[i, j]` is how much of position `i`'s top representation
//! flows from input token `j`; the [CLS] row (`R[0, ·]`) explains the classification.

/// `[T, T]` head average of one layer's `[NH, T, T]` attention probabilities.
pub fn mean_heads(probs: &[f32], nh: usize, t: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; t * t];
    for head in probs.chunks_exact(t * t).take(nh) {
        for (o, &p) in out.iter_mut().zip(head) {
            *o += p / nh as f32;
        }
    }
    out
}

/// `[T, T]` `(A + I)` with rows renormalised to sum 1.
pub fn add_identity(a: &[f32], t: usize) -> Vec<f32> {
    let mut out = a.to_vec();
    for (i, row) in out.chunks_exact_mut(t).enumerate() {
        row[i] += 1.0;
        let sum: f32 = row.iter().sum();
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
    out
}

/// `[T, T]` product `a · b` of two `[T, T]` matrices.
fn matmul(a: &[f32], b: &[f32], t: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; t * t];
    for i in 0..t {
        for k in 0..t {
            let aik = a[i * t + k];
            for j in 0..t {
                out[i * t + j] += aik * b[k * t + j];
            }
        }
    }
    out
}

/// `[T, T]` rollout of the layers' `[NH, T, T]` attention probabilities (first layer
/// first).
pub fn rollout(layers: &[Vec<f32>], nh: usize, t: usize) -> Vec<f32> {
    let mut r: Vec<f32> = (0..t * t)
        .map(|i| if i / t == i % t { 1.0 } else { 0.0 })
        .collect();
    for probs in layers {
        let a = add_identity(&mean_heads(probs, nh, t), t);
        r = matmul(&a, &r, t);
    }
    r
}
