//! `tokken-cli tokenize` (being built).

/// Flags of `tokken-cli tokenize`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`tokenize` is not built yet")
}
