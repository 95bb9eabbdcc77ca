//! NVRTC (CUDA's run-time compiler) loaded with `dlopen`, so nothing CUDA is needed to
//! build tokken: the library is looked for only when a kernel must be compiled.
//!
//! Only the handful of entry points we need are bound: create a program from a source and
//! the shared header, compile it for one real architecture (`sm_80`, `sm_90a`, ...) and take
//! the CUBIN. A successful compilation that still printed a log had warnings; callers that
//! must be warning-free (the CI test) check [`Compiled::log`].

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};

use libloading::Library;

use super::error::CudaError;
use super::sources::{Source, COMMON_HEADER};

type Program = *mut c_void;
type VersionFn = unsafe extern "C" fn(*mut c_int, *mut c_int) -> c_int;
type CreateFn = unsafe extern "C" fn(
    *mut Program,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
type CompileFn = unsafe extern "C" fn(Program, c_int, *const *const c_char) -> c_int;
type SizeFn = unsafe extern "C" fn(Program, *mut usize) -> c_int;
type BytesFn = unsafe extern "C" fn(Program, *mut c_char) -> c_int;
type DestroyFn = unsafe extern "C" fn(*mut Program) -> c_int;

/// Options every kernel is compiled with (part of the cache key).
pub const OPTIONS: [&str; 1] = ["-std=c++17"];

/// A loaded NVRTC library.
pub struct Nvrtc {
    path: PathBuf,
    version: (i32, i32),
    create: CreateFn,
    compile: CompileFn,
    log_size: SizeFn,
    log: BytesFn,
    cubin_size: SizeFn,
    cubin: BytesFn,
    destroy: DestroyFn,
    /// Keeps the function pointers above valid.
    _lib: Library,
}

/// The output of one compilation.
#[derive(Debug)]
pub struct Compiled {
    /// The CUBIN for the requested architecture.
    pub cubin: Vec<u8>,
    /// NVRTC's log: empty unless the compiler warned.
    pub log: String,
}

/// File names tried through the dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache).
const NAMES: [&str; 3] = ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"];

impl Nvrtc {
    /// Finds NVRTC: `$TOKKEN_NVRTC` (a file) when set, then the loader's search path, then
    /// `lib64/` under `$CUDA_HOME`, `$CUDA_PATH` and `/usr/local/cuda`.
    pub fn load() -> Result<Self, CudaError> {
        if let Some(p) = std::env::var_os("TOKKEN_NVRTC").filter(|p| !p.is_empty()) {
            return Self::open(Path::new(&p));
        }
        let mut tried = Vec::new();
        for name in NAMES {
            match Self::open(Path::new(name)) {
                Ok(n) => return Ok(n),
                Err(_) => tried.push(name.to_string()),
            }
        }
        let roots = ["CUDA_HOME", "CUDA_PATH"]
            .iter()
            .filter_map(|v| std::env::var_os(v).map(PathBuf::from))
            .chain([PathBuf::from("/usr/local/cuda")]);
        for root in roots {
            for name in NAMES {
                let p = root.join("lib64").join(name);
                if p.exists() {
                    return Self::open(&p);
                }
                tried.push(p.display().to_string());
            }
        }
        Err(CudaError::NvrtcMissing(format!(
            "tried {} (set TOKKEN_NVRTC to the library file)",
            tried.join(", ")
        )))
    }

    /// Loads NVRTC from a file (or a bare name the dynamic loader resolves).
    pub fn open(path: &Path) -> Result<Self, CudaError> {
        let missing =
            |e: libloading::Error| CudaError::NvrtcMissing(format!("{}: {e}", path.display()));
        // SAFETY: loading NVRTC runs no initialisers with preconditions on our side.
        let lib = unsafe { Library::new(path) }.map_err(missing)?;
        // SAFETY: the symbol types match NVRTC's C declarations (nvrtc.h).
        unsafe {
            let version: VersionFn = *lib.get(b"nvrtcVersion\0").map_err(missing)?;
            let create: CreateFn = *lib.get(b"nvrtcCreateProgram\0").map_err(missing)?;
            let compile: CompileFn = *lib.get(b"nvrtcCompileProgram\0").map_err(missing)?;
            let log_size: SizeFn = *lib.get(b"nvrtcGetProgramLogSize\0").map_err(missing)?;
            let log: BytesFn = *lib.get(b"nvrtcGetProgramLog\0").map_err(missing)?;
            let cubin_size: SizeFn = *lib.get(b"nvrtcGetCUBINSize\0").map_err(missing)?;
            let cubin: BytesFn = *lib.get(b"nvrtcGetCUBIN\0").map_err(missing)?;
            let destroy: DestroyFn = *lib.get(b"nvrtcDestroyProgram\0").map_err(missing)?;
            let (mut major, mut minor) = (0, 0);
            check("nvrtcVersion", version(&mut major, &mut minor))?;
            Ok(Self {
                path: path.to_path_buf(),
                version: (major, minor),
                create,
                compile,
                log_size,
                log,
                cubin_size,
                cubin,
                destroy,
                _lib: lib,
            })
        }
    }

    /// (major, minor) of the CUDA release this NVRTC belongs to.
    pub fn version(&self) -> (i32, i32) {
        self.version
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Compiles `src` (with [`COMMON_HEADER`]) to a CUBIN for `arch`, e.g. `sm_80`, `sm_90a`.
    pub fn compile(&self, src: &Source, arch: &str) -> Result<Compiled, CudaError> {
        self.compile_with(src, arch, &[])
    }

    /// [`Nvrtc::compile`] with extra NVRTC options (tests: `--ptxas-options=-v` puts each
    /// kernel's registers and spills in the log).
    pub fn compile_with(
        &self,
        src: &Source,
        arch: &str,
        extra: &[&str],
    ) -> Result<Compiled, CudaError> {
        let code = cstring(src.code)?;
        let name = cstring(src.file)?;
        let header = cstring(COMMON_HEADER.code)?;
        let header_name = cstring(COMMON_HEADER.file)?;
        let mut opts = vec![cstring(&format!("--gpu-architecture={arch}"))?];
        for o in OPTIONS.iter().chain(extra) {
            opts.push(cstring(o)?);
        }
        let opt_ptrs: Vec<*const c_char> = opts.iter().map(|o| o.as_ptr()).collect();
        let mut prog: Program = std::ptr::null_mut();
        // SAFETY: every pointer is a live NUL-terminated string for the duration of the call.
        unsafe {
            check(
                "nvrtcCreateProgram",
                (self.create)(
                    &mut prog,
                    code.as_ptr(),
                    name.as_ptr(),
                    1,
                    &header.as_ptr(),
                    &header_name.as_ptr(),
                ),
            )?;
        }
        let guard = ProgramGuard {
            prog,
            destroy: self.destroy,
        };
        // SAFETY: `prog` is a valid program until `guard` drops; buffers are sized by NVRTC.
        unsafe {
            let rc = (self.compile)(guard.prog, opt_ptrs.len() as c_int, opt_ptrs.as_ptr());
            let log = self.read(guard.prog, self.log_size, self.log, "nvrtcGetProgramLog")?;
            let log = CStr::from_bytes_until_nul(&log)
                .map(|s| s.to_string_lossy().trim().to_string())
                .unwrap_or_default();
            if rc != 0 {
                return Err(CudaError::Compile {
                    file: src.file.to_string(),
                    arch: arch.to_string(),
                    log,
                });
            }
            let cubin = self.read(guard.prog, self.cubin_size, self.cubin, "nvrtcGetCUBIN")?;
            Ok(Compiled { cubin, log })
        }
    }

    /// Reads a size-then-bytes NVRTC output.
    unsafe fn read(
        &self,
        prog: Program,
        size: SizeFn,
        bytes: BytesFn,
        call: &'static str,
    ) -> Result<Vec<u8>, CudaError> {
        let mut n = 0usize;
        // SAFETY: the caller passes a live program; the buffer holds `n` bytes.
        unsafe {
            check(call, size(prog, &mut n))?;
            let mut buf = vec![0u8; n];
            if n > 0 {
                check(call, bytes(prog, buf.as_mut_ptr() as *mut c_char))?;
            }
            Ok(buf)
        }
    }
}

/// Destroys the program on every exit path.
struct ProgramGuard {
    prog: Program,
    destroy: DestroyFn,
}

impl Drop for ProgramGuard {
    fn drop(&mut self) {
        // SAFETY: created by nvrtcCreateProgram and destroyed once.
        unsafe {
            (self.destroy)(&mut self.prog);
        }
    }
}

fn check(call: &'static str, code: c_int) -> Result<(), CudaError> {
    if code == 0 {
        Ok(())
    } else {
        Err(CudaError::Nvrtc { call, code })
    }
}

fn cstring(s: &str) -> Result<CString, CudaError> {
    CString::new(s).map_err(|_| CudaError::Nvrtc {
        call: "CString::new (interior NUL)",
        code: -1,
    })
}
