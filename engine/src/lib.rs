//! tokken-engine: tensors, storage, weight loading, thread pool. Knows nothing of BERT.

pub mod threads;
