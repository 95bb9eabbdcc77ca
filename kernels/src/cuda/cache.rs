//! On-disk cache of compiled kernels, so NVRTC runs once per (source, architecture,
//! NVRTC version) on a machine. Files are `<stem>-<arch>-<key>.cubin` where the key hashes
//! everything that affects the output; they are written atomically (temp file + rename),
//! so concurrent processes never read a half-written CUBIN.

use std::fs;
use std::path::PathBuf;

use super::error::CudaError;
use super::nvrtc::{Nvrtc, OPTIONS};
use super::sources::{Source, COMMON_HEADER};

/// Bumped when the cache layout or compile pipeline changes.
const CACHE_VERSION: &str = "tokken-cuda-cache-v1";

/// A directory of compiled kernels.
#[derive(Clone, Debug)]
pub struct KernelCache {
    dir: PathBuf,
}

impl KernelCache {
    /// `$TOKKEN_CACHE_DIR/cuda`, else `$XDG_CACHE_HOME/tokken/cuda`, else
    /// `$HOME/.cache/tokken/cuda`, else a directory under the system temp dir.
    pub fn default_dir() -> PathBuf {
        let env = |v: &str| {
            std::env::var_os(v)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        };
        if let Some(d) = env("TOKKEN_CACHE_DIR") {
            return d.join("cuda");
        }
        if let Some(d) = env("XDG_CACHE_HOME") {
            return d.join("tokken").join("cuda");
        }
        if let Some(h) = env("HOME") {
            return h.join(".cache").join("tokken").join("cuda");
        }
        std::env::temp_dir().join("tokken-cuda-cache")
    }

    /// A cache in `dir` (created on first write).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Where the CUBIN of `src` for `arch` compiled by `nvrtc` lives.
    pub fn path_for(&self, nvrtc: &Nvrtc, src: &Source, arch: &str) -> PathBuf {
        let (major, minor) = nvrtc.version();
        let mut h = Fnv128::new();
        for part in [CACHE_VERSION, &format!("nvrtc {major}.{minor}"), arch]
            .into_iter()
            .chain(OPTIONS)
            .chain([COMMON_HEADER.code, src.file, src.code])
        {
            h.write(part.as_bytes());
            h.write(&[0xff]); // separator: ("ab", "c") != ("a", "bc")
        }
        let stem = src.file.trim_end_matches(".cu");
        self.dir
            .join(format!("{stem}-{arch}-{:032x}.cubin", h.finish()))
    }

    /// The cached CUBIN, or compile, store and return it.
    pub fn get_or_compile(
        &self,
        nvrtc: &Nvrtc,
        src: &Source,
        arch: &str,
    ) -> Result<Vec<u8>, CudaError> {
        let path = self.path_for(nvrtc, src, arch);
        if let Ok(bytes) = fs::read(&path) {
            if !bytes.is_empty() {
                return Ok(bytes);
            }
        }
        let compiled = nvrtc.compile(src, arch)?;
        let io = |e| CudaError::Cache {
            path: path.clone(),
            source: e,
        };
        fs::create_dir_all(&self.dir).map_err(io)?;
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        fs::write(&tmp, &compiled.cubin).map_err(io)?;
        fs::rename(&tmp, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io(e)
        })?;
        Ok(compiled.cubin)
    }
}

/// 128-bit FNV-1a: stable across Rust versions and platforms (std's hasher is not).
struct Fnv128(u128);

impl Fnv128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;

    fn new() -> Self {
        Self(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u128;
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u128 {
        self.0
    }
}
