//! Ctrl-C: the first press asks the trainer to checkpoint and stop at the next step
//! (`tokken_model::interrupt`); a second press exits at once (checkpoints are written
//! atomically, so even that leaves a resumable run dir).

/// Installs the SIGINT/SIGTERM handler; call once, before long work starts.
pub fn install() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        if tokken_model::interrupt::requested() {
            eprintln!("\ninterrupted again: exiting now");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: saving a checkpoint and stopping (Ctrl-C again to quit now)");
        tokken_model::interrupt::request();
    })?;
    Ok(())
}
