//! Helpers shared by the tokenizer's integration tests.

pub mod counting_alloc;
