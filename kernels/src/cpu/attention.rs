//! attention kernels (being built).
