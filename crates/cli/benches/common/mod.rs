//! What the benches share: their knobs from the environment and running
//! the `signet` binary they measure.
#![allow(dead_code, clippy::unwrap_used)]

pub mod load;

use std::{path::Path, process::Command};

/// `$name` parsed, else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `signet --config-dir CONFIG`, ready for arguments.
pub fn signet(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
    c.arg("--config-dir").arg(config);
    c
}

/// Runs `c` and fails the bench, with what it printed, if it fails.
pub fn run(mut c: Command) {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
