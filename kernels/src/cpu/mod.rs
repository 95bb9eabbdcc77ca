//! CPU kernels. Each file is one op (forward and backward side by side) with a scalar
//! reference kept for tests; SIMD variants are chosen at run time.

pub mod attention;
pub mod embedding;
pub mod gelu;
pub mod gemm;
pub mod layernorm;
pub mod math;
pub mod peak;
pub mod softmax;
pub mod vectorize;
