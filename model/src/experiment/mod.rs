//! Experiments built from the trainer and the evaluator: [`few_shot`] (train each mode on
//! small stratified samples over several seeds; mean ± std of the test scores), with its
//! seeded sampling in [`sampling`]; [`templates`] (each reasoning-step template trained with
//! the same data and budget over several seeds). Shared: [`cells`] (train and score one
//! cell, resumable; mean ± std).

pub mod cells;
pub mod few_shot;
pub mod sampling;
pub mod templates;

pub use few_shot::{run_few_shot, Cell, FewShotConfig, FewShotResults, ModeSummary};
pub use sampling::stratified_sample;
pub use templates::{run_templates, TemplatesConfig, TemplatesResults};
