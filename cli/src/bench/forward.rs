//! `tokken-cli bench forward` (being built).

/// Flags of `tokken-cli bench forward`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bench forward` is not built yet")
}
