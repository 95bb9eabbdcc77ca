//! Experiments built from the trainer and the evaluator: [`few_shot`] (train each mode on
//! small stratified samples over several seeds; mean ± std of the test scores), with its
//! seeded sampling in [`sampling`].

pub mod few_shot;
pub mod sampling;

pub use few_shot::{run_few_shot, Cell, FewShotConfig, FewShotResults, ModeSummary};
pub use sampling::stratified_sample;
