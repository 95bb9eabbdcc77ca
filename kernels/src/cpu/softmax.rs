//! softmax kernels (being built).
