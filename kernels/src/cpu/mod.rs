//! CPU kernels. Each file is one op (forward and backward side by side) with a scalar
//! reference kept for tests; SIMD variants are chosen at run time.

pub mod adamw;
pub mod attention;
pub mod attention_lanes;
pub mod bias;
pub mod dropout;
pub mod embedding;
pub mod gelu;
pub mod gemm;
pub mod grad_norm;
pub mod layernorm;
pub mod layernorm_lanes;
pub mod math;
pub mod peak;
pub mod residual;
pub mod softmax;
pub mod tanh;
pub mod vectorize;
pub mod xent;
