//! Is there a CUDA driver? cudarc's dynamic loading panics on first use when `libcuda` is
//! missing, so we `dlopen` it ourselves first and turn its absence into
//! [`CudaError::NoDevice`].

use std::sync::OnceLock;

use super::error::CudaError;

/// Sonames of the driver library (the `.so.1` is what the driver package installs).
const DRIVER_NAMES: [&str; 2] = ["libcuda.so.1", "libcuda.so"];

/// `Ok` when the driver library loads; the result is computed once per process.
pub fn driver_available() -> Result<(), CudaError> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let mut errors = Vec::new();
            for name in DRIVER_NAMES {
                // SAFETY: loading the driver library runs its initialisers only.
                match unsafe { libloading::Library::new(name) } {
                    Ok(lib) => {
                        // Keep it loaded: cudarc opens it again and expects it to stay.
                        std::mem::forget(lib);
                        return Ok(());
                    }
                    Err(e) => errors.push(format!("{name}: {e}")),
                }
            }
            Err(format!(
                "the CUDA driver library is not installed ({})",
                errors.join("; ")
            ))
        })
        .clone()
        .map_err(CudaError::NoDevice)
}

/// Number of CUDA devices; a driver that is present but fails to initialise (no device
/// node, driver/library mismatch, ...) is a [`CudaError::NoDevice`] naming the driver error.
pub fn device_count() -> Result<usize, CudaError> {
    driver_available()?;
    cudarc::driver::CudaContext::device_count()
        .map(|n| n.max(0) as usize)
        .map_err(|e| CudaError::NoDevice(format!("the CUDA driver failed to initialise: {e}")))
}
