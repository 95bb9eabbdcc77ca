//! error (being built).
