//! The kernels crate's error type: everything that can go wrong finding, compiling or
//! running CUDA code. CPU kernels check their contracts with `assert!` instead (a bad
//! shape there is a programming error, not a runtime condition).

use std::path::PathBuf;

/// Errors of the CUDA path (library probing, NVRTC, the kernel cache, launches).
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// No usable driver or device: `libcuda` missing, no device with that ordinal, ...
    #[error("no CUDA device: {0}")]
    NoDevice(String),
    /// The NVRTC library could not be found or lacks a symbol.
    #[error("NVRTC not available: {0}")]
    NvrtcMissing(String),
    /// NVRTC rejected a kernel source (the log is included).
    #[error("NVRTC failed to compile {file} for {arch}:\n{log}")]
    Compile {
        file: String,
        arch: String,
        log: String,
    },
    /// An NVRTC call other than compilation failed.
    #[error("NVRTC {call} failed with code {code}")]
    Nvrtc { call: &'static str, code: i32 },
    /// The device's compute capability is too old for these kernels (sm_80+ needed).
    #[error("CUDA device {ordinal} has compute capability {major}.{minor}; tokken's kernels need 8.0 or newer")]
    Unsupported {
        ordinal: usize,
        major: i32,
        minor: i32,
    },
    /// A setting (environment variable, kernel choice) that cannot apply.
    #[error("{0}")]
    Config(String),
    /// A launcher's shape or layout contract does not hold.
    #[error("{kernel}: {message}")]
    Shape {
        kernel: &'static str,
        message: String,
    },
    /// Reading or writing the on-disk kernel cache.
    #[error("kernel cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A CUDA driver call failed.
    #[cfg(feature = "cuda")]
    #[error("CUDA driver: {0}")]
    Driver(#[from] cudarc::driver::DriverError),
}

/// Shorthand for a shape error.
#[cfg(feature = "cuda")]
pub(crate) fn shape(kernel: &'static str, message: impl Into<String>) -> CudaError {
    CudaError::Shape {
        kernel,
        message: message.into(),
    }
}

/// The option that `value` (of environment variable `var`) names; unset or empty means the
/// first option. Anything else is a [`CudaError::Config`] listing the names.
#[cfg(feature = "cuda")]
pub(crate) fn env_choice<T: Copy>(
    var: &str,
    value: Option<&str>,
    options: &[(&str, T)],
) -> Result<T, CudaError> {
    let value = value.unwrap_or("");
    match options.iter().find(|(name, _)| *name == value) {
        Some(&(_, choice)) => Ok(choice),
        None if value.is_empty() && !options.is_empty() => Ok(options[0].1),
        None => {
            let names: Vec<String> = options.iter().map(|(n, _)| format!("`{n}`")).collect();
            Err(CudaError::Config(format!(
                "{var}={value:?}: expected {}",
                names.join(", ")
            )))
        }
    }
}
