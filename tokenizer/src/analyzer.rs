//! analyzer (being built).
