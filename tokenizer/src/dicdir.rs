//! dicdir (being built).
