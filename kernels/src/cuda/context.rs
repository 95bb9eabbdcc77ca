//! One CUDA device as the launchers see it: context, stream, the kernels compiled for its
//! architecture (NVRTC + disk cache, loaded lazily per source file) and a caching
//! allocator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DeviceRepr, LaunchConfig,
};
use cudarc::nvrtc::Ptx;

use super::alloc::CachingAllocator;
use super::attention::AttentionKernel;
use super::cache::KernelCache;
use super::error::CudaError;
use super::gemm::TensorCoreKernel;
use super::nvrtc::Nvrtc;
use super::probe;
use super::sources::Source;

/// A CUDA device ready to run tokken's kernels.
pub struct CudaDevice {
    ordinal: usize,
    arch: String,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    nvrtc: Nvrtc,
    cache: KernelCache,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<&'static str, CudaFunction>>,
    /// The kernels [`crate::cuda::gemm::gemm_cuda`] and the attention launchers run.
    kernels: Mutex<(TensorCoreKernel, AttentionKernel)>,
    /// Whether the stream is one of our own (capturable into CUDA graphs) with cudarc's
    /// per-buffer event tracking off; else the context's default stream.
    graphs: bool,
    /// Dynamic shared memory each kernel has been allowed (by name), so the attribute is set
    /// once, not on every launch (and never while a graph is being captured).
    smem_allowed: Mutex<HashMap<&'static str, u32>>,
    /// Device memory pool (see [`CachingAllocator`]).
    pub alloc: CachingAllocator,
}

/// NVRTC target for a compute capability: the `a` variant on Hopper (wgmma-capable
/// features), the plain real architecture elsewhere.
pub fn arch_for(major: i32, minor: i32) -> String {
    if (major, minor) == (9, 0) {
        "sm_90a".to_string()
    } else {
        format!("sm_{major}{minor}")
    }
}

/// `$TOKKEN_CUDA_GRAPHS`: `0` (or unset) or `1`.
fn graphs_from_env() -> Result<bool, CudaError> {
    super::error::env_choice(
        "TOKKEN_CUDA_GRAPHS",
        std::env::var("TOKKEN_CUDA_GRAPHS").ok().as_deref(),
        &[("0", false), ("1", true)],
    )
}

impl CudaDevice {
    /// Opens device `ordinal`. Errors (never panics) when the driver is missing, the
    /// ordinal does not exist, the device predates sm_80, or NVRTC cannot be found.
    pub fn new(ordinal: usize) -> Result<Self, CudaError> {
        Self::open(ordinal, graphs_from_env()?)
    }

    /// [`CudaDevice::new`] with CUDA graphs allowed or not (`TOKKEN_CUDA_GRAPHS` for
    /// `new`). With graphs the device runs on a stream of its own, which can be captured,
    /// and cudarc's per-buffer event tracking is off: tokken queues all work on this one
    /// stream, in order, so the events would only cost time (and a capture cannot wait on
    /// events recorded before it).
    pub fn open(ordinal: usize, graphs: bool) -> Result<Self, CudaError> {
        let count = probe::device_count()?;
        if ordinal >= count {
            return Err(CudaError::NoDevice(format!(
                "device {ordinal} requested, {count} present"
            )));
        }
        let ctx = CudaContext::new(ordinal)?;
        let (major, minor) = ctx.compute_capability()?;
        if major < 8 {
            return Err(CudaError::Unsupported {
                ordinal,
                major,
                minor,
            });
        }
        let nvrtc = Nvrtc::load()?;
        let stream = if graphs {
            // SAFETY: every buffer of this device is created after this call and used on its
            // one stream only, so nothing needs cross-stream events.
            unsafe { ctx.disable_event_tracking() };
            ctx.new_stream()?
        } else {
            ctx.default_stream()
        };
        let arch = arch_for(major, minor);
        let gemm = TensorCoreKernel::from_env()?.check_arch(&arch)?;
        Ok(Self {
            ordinal,
            kernels: Mutex::new((gemm, AttentionKernel::from_env()?)),
            arch,
            alloc: CachingAllocator::new(stream.clone()),
            ctx,
            stream,
            nvrtc,
            cache: KernelCache::new(KernelCache::default_dir()),
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            graphs,
            smem_allowed: Mutex::new(HashMap::new()),
        })
    }

    /// Whether this device's stream can be captured into CUDA graphs
    /// ([`CudaDevice::open`]).
    pub fn graphs(&self) -> bool {
        self.graphs
    }

    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// The NVRTC architecture kernels are compiled for (`sm_80`, `sm_90a`, ...).
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The tensor-core GEMM kernel family [`crate::cuda::gemm::gemm_cuda`] launches.
    pub fn tensor_core_kernel(&self) -> TensorCoreKernel {
        self.kernels.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// Switches the tensor-core GEMM kernel family (tests and benches compare them); the
    /// wgmma ones need an sm_90a device.
    pub fn use_tensor_core_kernel(&self, kernel: TensorCoreKernel) -> Result<(), CudaError> {
        let kernel = kernel.check_arch(&self.arch)?;
        self.kernels.lock().unwrap_or_else(|e| e.into_inner()).0 = kernel;
        Ok(())
    }

    /// The fused-attention kernels [`crate::cuda::attention`] launches.
    pub fn attention_kernel(&self) -> AttentionKernel {
        self.kernels.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Switches the attention kernels (tests and benches compare both).
    pub fn use_attention_kernel(&self, kernel: AttentionKernel) {
        self.kernels.lock().unwrap_or_else(|e| e.into_inner()).1 = kernel;
    }

    /// The device's name as the driver reports it.
    pub fn name(&self) -> Result<String, CudaError> {
        Ok(self.ctx.name()?)
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Kernel `name` of `src`, compiling (or reading the cached CUBIN of) the file on first use.
    pub fn function(&self, src: &Source, name: &'static str) -> Result<CudaFunction, CudaError> {
        if let Some(f) = self
            .functions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(f.clone());
        }
        let module = {
            let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
            match modules.get(src.file) {
                Some(m) => m.clone(),
                None => {
                    let cubin = self.cache.get_or_compile(&self.nvrtc, src, &self.arch)?;
                    let m = self.ctx.load_module(Ptx::from_binary(cubin))?;
                    modules.insert(src.file, m.clone());
                    m
                }
            }
        };
        let f = module.load_function(name)?;
        self.functions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, f.clone());
        Ok(f)
    }

    /// Kernel `name` of `src` allowed to launch with `bytes` of dynamic shared memory (above
    /// the 48 KB default needs this opt-in); the attribute is set the first time a size is
    /// asked for, not on every launch.
    pub fn function_with_smem(
        &self,
        src: &Source,
        name: &'static str,
        bytes: u32,
    ) -> Result<CudaFunction, CudaError> {
        let f = self.function(src, name)?;
        let mut allowed = self.smem_allowed.lock().unwrap_or_else(|e| e.into_inner());
        if allowed.get(name).is_none_or(|&b| b < bytes) {
            // cuFuncSetAttribute needs the context current on this thread (launches bind it
            // themselves).
            self.stream.context().bind_to_thread()?;
            f.set_attribute(
                cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                bytes as i32,
            )?;
            allowed.insert(name, bytes);
        }
        Ok(f)
    }

    /// Copies a host slice to a new device buffer.
    pub fn upload<T: DeviceRepr>(&self, host: &[T]) -> Result<CudaSlice<T>, CudaError> {
        Ok(self.stream.clone_htod(host)?)
    }

    /// Copies a device buffer back (waits for the stream).
    pub fn download<T: DeviceRepr>(&self, dev: &CudaSlice<T>) -> Result<Vec<T>, CudaError> {
        Ok(self.stream.clone_dtoh(dev)?)
    }

    /// Waits for all queued work.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        Ok(self.stream.synchronize()?)
    }
}

/// Launch shape of a grid-stride element-wise kernel over `n` elements.
pub(crate) fn elementwise_config(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(256).clamp(1, 65_535) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Checks a device buffer holds at least `need` elements.
pub(crate) fn check_len<T>(
    kernel: &'static str,
    what: &str,
    buf: &CudaSlice<T>,
    need: usize,
) -> Result<(), CudaError> {
    if buf.len() < need {
        return Err(super::error::shape(
            kernel,
            format!("{what} holds {} elements, {need} needed", buf.len()),
        ));
    }
    Ok(())
}

/// Checks a device buffer holds exactly `need` elements.
pub(crate) fn check_exact<T>(
    kernel: &'static str,
    what: &str,
    buf: &CudaSlice<T>,
    need: usize,
) -> Result<(), CudaError> {
    if buf.len() != need {
        return Err(super::error::shape(
            kernel,
            format!("{what} holds {} elements, expected {need}", buf.len()),
        ));
    }
    Ok(())
}
