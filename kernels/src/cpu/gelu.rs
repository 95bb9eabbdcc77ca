//! gelu kernels (being built).
