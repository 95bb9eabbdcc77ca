//! Where a tensor's data lives, and the `cpu | cuda[:N]` spelling the CLI accepts.

use std::fmt;
use std::str::FromStr;

use crate::EngineError;

/// The memory a tensor lives in. CUDA storage arrives with the `cuda` feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    /// A CUDA device by ordinal.
    #[cfg(feature = "cuda")]
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            #[cfg(feature = "cuda")]
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Message for a `cuda` device in a build without the feature.
#[cfg_attr(feature = "cuda", allow(dead_code))]
pub const CUDA_NOT_BUILT: &str = "CUDA support not built (rebuild with --features cuda)";

impl FromStr for Device {
    type Err = EngineError;

    /// `cpu`, `cuda` (device 0) or `cuda:N`. In a build without the `cuda` feature a CUDA
    /// spelling is refused with [`CUDA_NOT_BUILT`].
    fn from_str(s: &str) -> Result<Self, EngineError> {
        let bad = || {
            EngineError::Device(format!(
                "unknown device {s:?}: expected cpu, cuda or cuda:N"
            ))
        };
        let t = s.trim().to_ascii_lowercase();
        if t == "cpu" {
            return Ok(Device::Cpu);
        }
        let ordinal = match t.strip_prefix("cuda") {
            Some("") => 0,
            Some(rest) => match rest.strip_prefix(':').map(str::parse::<usize>) {
                Some(Ok(n)) => n,
                _ => return Err(bad()),
            },
            None => return Err(bad()),
        };
        #[cfg(feature = "cuda")]
        {
            Ok(Device::Cuda(ordinal))
        }
        #[cfg(not(feature = "cuda"))]
        {
            let _ = ordinal;
            Err(EngineError::Device(CUDA_NOT_BUILT.to_string()))
        }
    }
}

impl Device {
    /// Checks the device can be used: always for the CPU; for CUDA, the driver library
    /// loads and the ordinal exists (a clean "no CUDA device" error otherwise, never a
    /// panic).
    pub fn check_available(self) -> Result<(), EngineError> {
        match self {
            Device::Cpu => Ok(()),
            #[cfg(feature = "cuda")]
            Device::Cuda(n) => {
                use tokken_kernels::cuda::probe;
                let count =
                    probe::device_count().map_err(|e| EngineError::Device(e.to_string()))?;
                if n >= count {
                    return Err(EngineError::Device(format!(
                        "no CUDA device: cuda:{n} requested, {count} present"
                    )));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_rejects_garbage() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!(" CPU ".parse::<Device>().unwrap(), Device::Cpu);
        for bad in ["gpu", "cuda:", "cuda:x", "cuda1", "cuda:-1", ""] {
            let e = bad.parse::<Device>().unwrap_err().to_string();
            assert!(e.contains("unknown device"), "{bad}: {e}");
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_get_it() {
        for s in ["cuda", "cuda:0", "cuda:3"] {
            let e = s.parse::<Device>().unwrap_err().to_string();
            assert_eq!(e, CUDA_NOT_BUILT, "{s}");
        }
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_ordinals_parse() {
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("cuda:2".parse::<Device>().unwrap(), Device::Cuda(2));
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn unavailable_cuda_is_a_clean_error() {
        // Without a driver (CI) this is "no CUDA device: ..."; a huge ordinal never exists.
        let e = Device::Cuda(1 << 20)
            .check_available()
            .unwrap_err()
            .to_string();
        assert!(e.contains("no CUDA device"), "{e}");
        assert!(Device::Cpu.check_available().is_ok());
    }
}
