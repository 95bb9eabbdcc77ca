//! embedding kernels (being built).
