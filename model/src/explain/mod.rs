//! Explanations: which input tokens drive a classifier's logit, computed on our own
//! backward pass (no autograd), and the shortcut report over a labelled set.
//!
//! # What is attributed
//! Gradients are taken w.r.t. the **word-embedding output** `E[ids]` ([T, C], HF's
//! `inputs_embeds`, Captum's usual choice for BERT), the sum `word + position + token_type`
//! being formed after it, before the embeddings LayerNorm. Since the sum is linear, the
//! gradient w.r.t. the word embeddings equals the gradient w.r.t. the summed embeddings.
//! Per-token attribution = the sum over the hidden dimension C.
//!
//! # Methods
//! - [`integrated_gradients`]: `(x − x') · ∫₀¹ ∇f(x' + α(x − x')) dα`, the integral by the
//!   trapezoid rule over `steps` intervals (`steps + 1` gradient evaluations, batched);
//!   baselines in [`Baseline`]. Completeness: the attributions sum to
//!   `f(x) − f(x')` up to the quadrature error, reported as `delta`.
//! - [`grad_input`]: `x · ∇f(x)` (one forward + backward).
//! - [`attention`]: attention probabilities per layer and head from the inference forward,
//!   and attention rollout (Abnar & Zuidema 2020); the token score is the [CLS] row of the
//!   rollout.
//!
//! Layout: [`explainer`] (the model set up for input gradients) → a method → [`explanation`]
//! (tokens, offsets back to the original characters, words) → [`terminal`] / [`html`]
//! views; [`shortcuts`] aggregates explanations over a labelled set.

pub mod attention;
pub mod explainer;
pub mod explanation;
pub mod grad_input;
pub mod html;
pub mod integrated_gradients;
pub mod shortcuts;
pub mod spans;
pub mod terminal;

use serde::Serialize;

pub use explainer::{Explainer, SpecialIds};
pub use explanation::{explain_text, Explanation};
pub use shortcuts::{shortcut_report, ShortcutReport};

/// How attributions are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Integrated gradients.
    #[serde(rename = "ig")]
    IntegratedGradients,
    /// Gradient × input.
    GradInput,
    /// Attention rollout (and the raw attention weights).
    Attention,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::IntegratedGradients => "ig",
            Method::GradInput => "grad-input",
            Method::Attention => "attention",
        }
    }
}

/// The reference input of integrated gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// `[PAD]`'s word embedding at every position except `[CLS]` and `[SEP]`, which keep
    /// their own (Captum's BERT tutorial reference): attributions to `[CLS]`/`[SEP]` are 0.
    Pad,
    /// All-zero word embeddings at every position, `[CLS]`/`[SEP]` included.
    Zero,
}

impl Baseline {
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Pad => "pad",
            Baseline::Zero => "zero",
        }
    }
}

/// Options of one explanation.
#[derive(Clone, Debug)]
pub struct ExplainOptions {
    pub method: Method,
    /// The class whose logit is explained; `None`: the predicted class.
    pub class: Option<usize>,
    /// Integrated-gradients intervals (`steps + 1` gradient evaluations).
    pub steps: usize,
    pub baseline: Baseline,
    /// Most token rows (interpolation points × tokens) per forward/backward pass.
    pub max_rows: usize,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        ExplainOptions {
            method: Method::IntegratedGradients,
            class: None,
            steps: 64,
            baseline: Baseline::Pad,
            max_rows: 1024,
        }
    }
}
