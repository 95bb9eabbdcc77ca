//! Cooperative interruption (Ctrl-C): a process-wide flag that long loops (the trainer)
//! poll between steps, so they can write a checkpoint and return cleanly instead of dying
//! mid-write. The binary's signal handler calls [`request`]; libraries only read the flag.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Ask running loops to stop at their next safe point. Async-signal-safe (one atomic store).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// True once [`request`] was called (and not [`clear`]ed since).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Forget a request (tests; a caller that handled it and goes on).
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}
