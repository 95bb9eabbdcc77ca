//! layernorm kernels (being built).
