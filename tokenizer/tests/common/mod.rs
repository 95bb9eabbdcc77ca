//! Helpers shared by the tokenizer's integration tests (each test file uses some of them).
#![allow(dead_code)]

pub mod counting_alloc;
pub mod mecab_reference;
