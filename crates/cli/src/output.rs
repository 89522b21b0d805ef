//! How the CLI reports: errors on stderr as `Error: …` with their causes, and
//! a machine-readable JSON form where a command offers `--output json`.

use std::process::ExitCode;

/// `--output` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Prints an error chain and returns the failure exit code.
pub fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("Error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    ExitCode::FAILURE
}

/// Prints `value` as pretty JSON on stdout.
pub fn json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Writes to stdout; a closed stdout (the reader went away) ends the process
/// with status 141, as a SIGPIPE death would, instead of a panic.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(141);
    }
}
