//! Models by name: `org/name[@revision]` through the local Hugging Face cache, downloading
//! what is missing.
//!
//! The cache layout is huggingface_hub's (shared with Python and the `hf-hub` crate):
//!
//! ```text
//! <cache>/models--org--name/refs/<branch or tag>   (file: the commit hash)
//! <cache>/models--org--name/snapshots/<hash>/config.json, vocab.txt, ...
//! <cache>/models--org--name/blobs/<etag>           (the snapshot files link here)
//! ```
//!
//! `<cache>` is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
//! A path that exists always wins over a hub id of the same spelling.

use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};

/// Files a model dir needs besides the weights.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "vocab.txt", "tokenizer_config.json"];
/// Weight files, in order of preference; one is enough.
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// A parsed `org/name[@revision]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubId {
    /// `org/name` (or a bare `name` for the few un-namespaced hub models).
    pub repo: String,
    /// Branch, tag or commit hash (default `main`).
    pub revision: String,
}

impl HubId {
    /// Parses `org/name[@revision]`; `None` when `s` cannot be a hub id (empty parts,
    /// more than one `/`, characters the hub does not allow in repo names).
    pub fn parse(s: &str) -> Option<HubId> {
        let (repo, revision) = match s.split_once('@') {
            Some((r, rev)) if !rev.is_empty() && !rev.contains('@') => (r, rev),
            Some(_) => return None,
            None => (s, "main"),
        };
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.is_empty() || parts.len() > 2 {
            return None;
        }
        let name_ok = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && !p.starts_with('-')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !parts.iter().all(|p| name_ok(p)) {
            return None;
        }
        // Revisions are git ref names: no path tricks that would leave `refs/`.
        if revision.contains("..") || revision.starts_with('/') || revision.contains('\\') {
            return None;
        }
        Some(HubId {
            repo: repo.to_string(),
            revision: revision.to_string(),
        })
    }

    /// The cache folder name: `models--org--name`.
    pub fn folder_name(&self) -> String {
        format!("models--{}", self.repo.replace('/', "--"))
    }
}

/// The hub cache directory from the environment (see the module docs).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(home) = std::env::var_os("HF_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("huggingface").join("hub")
}

/// True for a 40-hex-digit git commit hash.
fn is_commit_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The snapshot dir `id` points at in `cache`: `snapshots/<revision>` when the revision is a
/// commit hash, else `snapshots/<contents of refs/<revision>>`. `None` when the cache does
/// not know the revision (no ref file); the dir itself may or may not exist yet.
pub fn snapshot_dir(cache: &Path, id: &HubId) -> Result<Option<PathBuf>> {
    let repo_dir = cache.join(id.folder_name());
    if is_commit_hash(&id.revision) {
        return Ok(Some(repo_dir.join("snapshots").join(&id.revision)));
    }
    let ref_path = repo_dir.join("refs").join(&id.revision);
    let hash = match std::fs::read_to_string(&ref_path) {
        Ok(text) => text.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ModelError::Io {
                path: ref_path,
                source: e,
            })
        }
    };
    if !is_commit_hash(&hash) {
        return Err(ModelError::DataFile {
            path: ref_path,
            msg: format!("expected a 40-hex-digit commit hash, found {hash:?}"),
        });
    }
    Ok(Some(repo_dir.join("snapshots").join(hash)))
}

/// The files of a model dir that are missing from `dir` (weights count as one entry,
/// `model.safetensors|pytorch_model.bin`, when neither is there).
pub fn missing_files(dir: &Path) -> Vec<String> {
    let mut missing: Vec<String> = REQUIRED_FILES
        .iter()
        .filter(|f| !dir.join(f).is_file())
        .map(|f| f.to_string())
        .collect();
    if !WEIGHT_FILES.iter().any(|f| dir.join(f).is_file()) {
        missing.push(WEIGHT_FILES.join("|"));
    }
    missing
}

/// Fetches missing files of a hub model into the cache (the real one uses `hf-hub`).
pub trait Downloader {
    /// Makes `id`'s snapshot in `cache` hold every file [`missing_files`] would list, and
    /// returns that snapshot dir.
    fn download(&self, cache: &Path, id: &HubId) -> std::result::Result<PathBuf, String>;
}

/// Never downloads (offline mode, tests): resolution only looks at the cache.
pub struct Offline;

impl Downloader for Offline {
    fn download(&self, _cache: &Path, _id: &HubId) -> std::result::Result<PathBuf, String> {
        Err("offline (HF_HUB_OFFLINE is set)".into())
    }
}

/// Downloads with the `hf-hub` crate's blocking API: a progress bar per file, resumable
/// partial downloads, `HF_TOKEN` (or the token file `hf auth login` writes) for gated and
/// private models, `HF_ENDPOINT` for mirrors.
pub struct HfHubDownloader {
    /// Show progress bars (off when stderr is not a terminal is up to the caller).
    pub progress: bool,
}

impl Downloader for HfHubDownloader {
    fn download(&self, cache: &Path, id: &HubId) -> std::result::Result<PathBuf, String> {
        use hf_hub::api::sync::ApiBuilder;
        use hf_hub::{Cache, Repo, RepoType};

        let mut builder =
            ApiBuilder::from_cache(Cache::new(cache.to_path_buf())).with_progress(self.progress);
        if let Some(token) = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()) {
            builder = builder.with_token(Some(token));
        }
        if let Some(endpoint) = std::env::var("HF_ENDPOINT").ok().filter(|e| !e.is_empty()) {
            builder = builder.with_endpoint(endpoint);
        }
        let api = builder.build().map_err(|e| e.to_string())?;
        let repo = api.repo(Repo::with_revision(
            id.repo.clone(),
            RepoType::Model,
            id.revision.clone(),
        ));
        let mut snapshot = None;
        for file in REQUIRED_FILES {
            let path = repo.get(file).map_err(|e| format!("{file}: {e}"))?;
            snapshot = path.parent().map(Path::to_path_buf);
        }
        // The first weight format the repo has; a 404 on safetensors falls through to .bin.
        let mut errors = Vec::new();
        for file in WEIGHT_FILES {
            match repo.get(file) {
                Ok(_) => {
                    return snapshot.ok_or_else(|| "download gave no snapshot dir".to_string())
                }
                Err(e) => errors.push(format!("{file}: {e}")),
            }
        }
        Err(errors.join("; "))
    }
}

/// Resolves a `--model` argument to a model dir: an existing path as it is; otherwise a hub
/// id looked up in [`cache_dir`] and, when files are missing, downloaded with `downloader`.
///
/// The error for a hub id that cannot be completed lists the missing files and the snapshot
/// dir to put them in.
pub fn resolve_model(arg: &Path, downloader: &dyn Downloader) -> Result<PathBuf> {
    resolve_model_in(arg, &cache_dir(), downloader)
}

/// [`resolve_model`] with an explicit cache dir.
pub fn resolve_model_in(arg: &Path, cache: &Path, downloader: &dyn Downloader) -> Result<PathBuf> {
    if arg.exists() {
        return Ok(arg.to_path_buf());
    }
    let id = match arg.to_str().and_then(HubId::parse) {
        Some(id) => id,
        None => {
            return Err(ModelError::Other(format!(
                "{}: no such model dir (and not a hub id like org/name[@revision])",
                arg.display()
            )))
        }
    };
    if let Some(dir) = snapshot_dir(cache, &id)? {
        if dir.is_dir() && missing_files(&dir).is_empty() {
            return Ok(dir);
        }
    }
    let download_error = match downloader.download(cache, &id) {
        Ok(dir) if missing_files(&dir).is_empty() => return Ok(dir),
        Ok(dir) => format!("download left {} incomplete", dir.display()),
        Err(e) => e,
    };
    Err(not_found_error(cache, &id, &download_error)?)
}

/// The "missing files, put them here" error.
fn not_found_error(cache: &Path, id: &HubId, download_error: &str) -> Result<ModelError> {
    let repo_dir = cache.join(id.folder_name());
    let (dir, missing, how) = match snapshot_dir(cache, id)? {
        Some(dir) => {
            let missing = missing_files(&dir);
            (dir, missing, String::new())
        }
        None => {
            let all = REQUIRED_FILES
                .iter()
                .map(|s| s.to_string())
                .chain(std::iter::once(WEIGHT_FILES.join("|")))
                .collect();
            let hint = format!(
                " and write its commit hash to {}",
                repo_dir.join("refs").join(&id.revision).display()
            );
            (repo_dir.join("snapshots").join("<commit hash>"), all, hint)
        }
    };
    Ok(ModelError::Other(format!(
        "model {}@{} is not in the local Hugging Face cache and could not be downloaded ({download_error}).\n\
         missing: {}\n\
         put them in {}{how}, or pass a model dir path instead\n\
         (cache: {}; set HF_HUB_CACHE or HF_HOME to use another)",
        id.repo,
        id.revision,
        missing.join(", "),
        dir.display(),
        cache.display(),
    )))
}

/// One cached snapshot, for `tokken-cli models`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedModel {
    /// `org/name`.
    pub repo: String,
    /// The commit hash (the snapshot dir name).
    pub commit: String,
    /// The refs (branches, tags) pointing at this commit, sorted.
    pub refs: Vec<String>,
    /// Total size in bytes of the snapshot's files (links followed).
    pub size: u64,
    /// Files a model dir needs that this snapshot lacks (empty: usable).
    pub missing: Vec<String>,
    pub dir: PathBuf,
}

/// Every model snapshot in `cache`, sorted by repo then commit. Unreadable entries are
/// skipped (a cache shared with other tools may hold anything).
pub fn list_cached_models(cache: &Path) -> Vec<CachedModel> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(cache) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("models--") else {
            continue;
        };
        let repo = rest.replacen("--", "/", 1);
        let repo_dir = entry.path();
        let refs = read_refs(&repo_dir.join("refs"));
        let Ok(snapshots) = std::fs::read_dir(repo_dir.join("snapshots")) else {
            continue;
        };
        for snap in snapshots.flatten() {
            let dir = snap.path();
            if !dir.is_dir() {
                continue;
            }
            let commit = snap.file_name().to_string_lossy().into_owned();
            let mut pointing: Vec<String> = refs
                .iter()
                .filter(|(_, hash)| *hash == commit)
                .map(|(name, _)| name.clone())
                .collect();
            pointing.sort();
            out.push(CachedModel {
                repo: repo.clone(),
                refs: pointing,
                size: dir_size(&dir, 0),
                missing: missing_files(&dir),
                commit,
                dir,
            });
        }
    }
    out.sort_by(|a, b| (&a.repo, &a.commit).cmp(&(&b.repo, &b.commit)));
    out
}

/// `(ref name, commit)` for every file under `refs/` (tags nest: `refs/tags/v1`... are read
/// one level deep, named `tags/v1`).
fn read_refs(dir: &Path) -> Vec<(String, String)> {
    let mut refs = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return refs;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            for (sub, hash) in read_refs(&path) {
                refs.push((format!("{name}/{sub}"), hash));
            }
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            refs.push((name, text.trim().to_string()));
        }
    }
    refs
}

/// Bytes under `dir`, following links to blobs; depth-limited against link loops.
fn dir_size(dir: &Path, depth: usize) -> u64 {
    if depth > 8 {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match std::fs::metadata(e.path()) {
            Ok(m) if m.is_dir() => dir_size(&e.path(), depth + 1),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The downloader `--model` uses: [`Offline`] when `HF_HUB_OFFLINE` is set to a true value,
/// else [`HfHubDownloader`] with progress bars.
pub fn default_downloader() -> Box<dyn Downloader> {
    let offline = std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false);
    if offline {
        Box::new(Offline)
    } else {
        Box::new(HfHubDownloader { progress: true })
    }
}
