//! encoder (being built).
