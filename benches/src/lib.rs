//! Shared helpers for tokken benches.
