//! The compute thread pool (rayon's global pool), sized from the machine.

use std::sync::OnceLock;

static INIT: OnceLock<usize> = OnceLock::new();

/// Error from configuring the thread pool.
#[derive(Debug, thiserror::Error)]
pub enum ThreadsError {
    #[error("TOKKEN_THREADS must be a positive whole number, got {0:?}")]
    BadEnv(String),
    #[error("thread count must be at least 1")]
    Zero,
    #[error("could not start the thread pool: {0}")]
    Build(String),
}

/// Size rayon's global pool: `requested`, else `$TOKKEN_THREADS`, else all available cores.
/// Returns the thread count in use. Calling it again is harmless (the first size stays).
pub fn init(requested: Option<usize>) -> Result<usize, ThreadsError> {
    if let Some(&n) = INIT.get() {
        return Ok(n);
    }
    let n = match requested {
        Some(0) => return Err(ThreadsError::Zero),
        Some(n) => n,
        None => match std::env::var("TOKKEN_THREADS") {
            Ok(s) => match s.trim().parse::<usize>() {
                Ok(0) | Err(_) => return Err(ThreadsError::BadEnv(s)),
                Ok(n) => n,
            },
            Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
    };
    // An error here only means the global pool already exists (built by a library user or
    // by rayon on first use); we then report its real size below.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global();
    let actual = rayon::current_num_threads();
    let _ = INIT.set(actual);
    Ok(actual)
}
