//! Hierarchical classification: labels are paths of a tree (`国際/経済`).
//!
//! - [`tree`]: the tree file (JSON), validation, nodes in level order, paths;
//! - [`loss`]: one softmax head per level, each level's distribution masked to the children
//!   of the gold parent, loss = weighted sum of the level cross-entropies, with its gradient;
//! - [`decode`]: per-node probabilities and the most probable full path (exact, not greedy);
//! - [`metrics`]: per-level accuracy / macro-F1, exact-path accuracy, hierarchical P/R/F1;
//! - [`run_dir`]: `hierarchy.json` in a run dir, data checks naming `file:line`.
//!
//! The level heads are row blocks of the one `classifier` dense layer: its output row `i`
//! is node `i` of [`Hierarchy::paths`] (level 1 first, then level 2, …), so the head is
//! saved, loaded, trained (LoRA / full / head-only) and back-propagated exactly like the
//! flat classifier; only the loss on the logits and the decoding differ.

pub mod decode;
pub mod loss;
pub mod metrics;
pub mod run_dir;
pub mod tree;

pub use decode::{decode, LevelChoice, PathPrediction};
pub use loss::HierarchyLoss;
pub use metrics::{HierarchyMetrics, LevelMetrics};
pub use tree::Hierarchy;
