//! vocab (being built).
