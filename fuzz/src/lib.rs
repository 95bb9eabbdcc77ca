//! Helpers shared by the fuzz targets.

use std::path::PathBuf;

/// A per-process scratch file named `name` (the loaders under test read paths, not bytes),
/// holding `bytes`. Lives in /dev/shm when there is one, to keep iterations fast.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("tokken-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    path
}
