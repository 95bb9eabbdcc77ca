//! CI proof of the CUDA kernels without a GPU: every `kernels/cuda/*.cu` compiles with
//! NVRTC to a CUBIN for sm_80 (mma.sync path) and sm_90a (Hopper) with no error, no
//! warning and no register spill (ptxas `-v`), and every kernel the launchers look up by
//! name is in the CUBIN.
//!
//! NVRTC comes from `$TOKKEN_NVRTC`, the PyPI wheel `nvidia-cuda-nvrtc-cu12` (installed by
//! `.ci/run`, located through `python3`), or a CUDA toolkit; without any, the test prints
//! a skip line and passes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use tokken_kernels::cuda::nvrtc::Nvrtc;
use tokken_kernels::cuda::sources::{self, Source};

const ARCHS: [&str; 2] = ["sm_80", "sm_90a"];

/// The wheel's `lib/libnvrtc.so.12`, asked of the Python that `.ci/run` installed it with.
fn wheel_nvrtc() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, nvidia.cuda_nvrtc as m; print(os.path.join(list(m.__path__)[0], 'lib'))",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    ["libnvrtc.so.12", "libnvrtc.so"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
}

fn find_nvrtc() -> Result<Nvrtc, String> {
    if let Some(p) = std::env::var_os("TOKKEN_NVRTC").filter(|p| !p.is_empty()) {
        return Nvrtc::open(Path::new(&p)).map_err(|e| e.to_string());
    }
    if let Some(p) = wheel_nvrtc() {
        return Nvrtc::open(&p).map_err(|e| e.to_string());
    }
    Nvrtc::load().map_err(|e| e.to_string())
}

#[test]
fn sources_list_matches_directory() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cuda");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("kernels/cuda exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cu"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = sources::ALL.iter().map(|s| s.file.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "sources::ALL must list every kernels/cuda/*.cu"
    );
    for s in sources::ALL {
        for k in s.kernels {
            assert!(
                s.code.contains(k),
                "{}: kernel {k} listed but not in the source",
                s.file
            );
        }
    }
}

#[test]
fn every_kernel_compiles_for_sm80_and_sm90a_without_warnings() {
    let nvrtc = match find_nvrtc() {
        Ok(n) => n,
        Err(e) => {
            println!("skipping: NVRTC not found ({e}); .ci/run installs nvidia-cuda-nvrtc-cu12");
            return;
        }
    };
    println!(
        "NVRTC {}.{} from {}",
        nvrtc.version().0,
        nvrtc.version().1,
        nvrtc.path().display()
    );
    let jobs: Vec<(Source, &str)> = sources::ALL
        .iter()
        .flat_map(|s| ARCHS.iter().map(move |a| (*s, *a)))
        .collect();
    let next = Mutex::new(0usize);
    let failures = Mutex::new(Vec::<String>::new());
    // NVRTC holds ~0.5 GB per compilation: a few workers, not one per job.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let job = {
                    let mut n = next.lock().unwrap();
                    let j = jobs.get(*n).copied();
                    *n += 1;
                    j
                };
                let Some((src, arch)) = job else { break };
                let started = std::time::Instant::now();
                let compiled = nvrtc.compile_with(&src, arch, &["--ptxas-options=-v"]);
                let problem = match &compiled {
                    Err(e) => Some(e.to_string()),
                    Ok(c) if !warnings(&c.log).is_empty() => Some(format!(
                        "{} for {arch} warned:\n{}",
                        src.file,
                        warnings(&c.log)
                    )),
                    Ok(c) if spills(&c.log) => Some(format!(
                        "{} for {arch} spills registers (a performance bug):\n{}",
                        src.file, c.log
                    )),
                    Ok(c) => src
                        .kernels
                        .iter()
                        .find(|k| !contains(&c.cubin, k.as_bytes()))
                        .map(|k| {
                            format!("{} for {arch}: kernel {k} missing from the CUBIN", src.file)
                        }),
                };
                println!(
                    "{} {arch}: {} ({:.1} s{})",
                    src.file,
                    if problem.is_none() { "ok" } else { "FAILED" },
                    started.elapsed().as_secs_f64(),
                    compiled_registers(&compiled)
                );
                if let Some(p) = problem {
                    failures.lock().unwrap().push(p);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The log without ptxas's `-v` resource report (what remains are warnings). ptxas tags
/// its performance advisories as info too ("Potential Performance Loss: wgmma.mma_async
/// instructions are serialized ..."); those are kept: they are performance bugs.
fn warnings(log: &str) -> String {
    log.lines()
        .filter(|l| {
            !l.trim().is_empty()
                && (l.contains("Potential Performance Loss")
                    || (!l.starts_with("ptxas info") && !l.starts_with("ptxas         .")))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// ", at most N registers per thread" from a successful compile's ptxas report.
fn compiled_registers<E>(compiled: &Result<tokken_kernels::cuda::nvrtc::Compiled, E>) -> String {
    let Ok(c) = compiled else {
        return String::new();
    };
    let most = c
        .log
        .lines()
        .filter_map(|l| {
            l.split("Used ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .max();
    most.map_or(String::new(), |r| format!(", at most {r} registers"))
}

/// Whether any kernel spills: ptxas reports `N bytes spill stores, M bytes spill loads`.
fn spills(log: &str) -> bool {
    log.lines()
        .filter(|l| l.contains("bytes spill stores"))
        .any(|l| !l.contains(" 0 bytes spill stores, 0 bytes spill loads"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn ptxas_report_parsing() {
    let clean = "ptxas info    : Compiling entry function 'k' for 'sm_90a'\n\
                 ptxas info    : Function properties for k\n\
                 ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
                 ptxas info    : Used 124 registers, used 1 barriers";
    assert_eq!(warnings(clean), "");
    assert!(!spills(clean));
    let spilling = clean.replace(" 0 bytes spill stores", " 8 bytes spill stores");
    assert!(spills(&spilling));
    let warned = format!(
        "{clean}\ngemm.cu(12): warning #177-D: variable \"x\" was declared but never referenced"
    );
    assert!(warnings(&warned).contains("warning #177-D"));
    let serialized = format!(
        "{clean}\nptxas info    : (C7515) Potential Performance Loss: wgmma.mma_async instructions are serialized due to the presence of Extern calls in the function 'k'."
    );
    assert!(warnings(&serialized).contains("C7515"));
}

#[test]
fn kernel_cache_compiles_once_then_reads_the_file() {
    use tokken_kernels::cuda::cache::KernelCache;
    let nvrtc = match find_nvrtc() {
        Ok(n) => n,
        Err(e) => {
            println!("skipping: NVRTC not found ({e})");
            return;
        }
    };
    // The cache dir starts absent (the cache creates it); `tmp` removes it when it drops.
    let tmp = tempfile::Builder::new()
        .prefix("tokken-kernel-cache-test-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("cache");
    let cache = KernelCache::new(dir.clone());
    let src = sources::EMBEDDING;
    let first = cache.get_or_compile(&nvrtc, &src, "sm_80").unwrap();
    let path = cache.path_for(&nvrtc, &src, "sm_80");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        first,
        "CUBIN stored at {}",
        path.display()
    );
    // A second call reads the file: plant a marker and get it back.
    std::fs::write(&path, b"marker").unwrap();
    assert_eq!(
        cache.get_or_compile(&nvrtc, &src, "sm_80").unwrap(),
        b"marker"
    );
    // The key separates architectures and sources; no temp file is left behind.
    assert_ne!(path, cache.path_for(&nvrtc, &src, "sm_90a"));
    assert_ne!(path, cache.path_for(&nvrtc, &sources::XENT, "sm_80"));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("embedding-sm_80-") && names[0].ends_with(".cubin"),
        "{names:?}"
    );
}
