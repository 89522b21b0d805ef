//! `signet`: sign and verify container images with Notary Project signatures.
//!
//! This binary is glue: it parses flags, finds the config directory, and
//! calls the `notary` and `oci` libraries. Every decision lives in those.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// `println!` and `print!` for every module below: std's panic when stdout
/// is closed early (`signet ls … | head`); these end the process quietly
/// with the status a SIGPIPE death gives (141), as other command-line tools do.
macro_rules! println {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

mod commands;
mod config;
mod node_client;
mod output;
mod plugins;
mod signer_client;
mod target;

use commands::{
    blob, bundle, cert, copy, discover, inspect, key, login, ls, plugin, policy, quickstart, runtime, serve,
    sign, verify,
};

/// Sign and verify container images with Notary Project signatures.
///
/// Signatures are byte-compatible with notation: what signet signs, `notation
/// verify` accepts, and the other way round. The config directory uses
/// notation's layout (signingkeys.json, localkeys/, truststore/, trustpolicy.json).
///
/// New here? `signet quickstart` walks through signing and verifying an image
/// in an OCI layout on disk, printing each step.
#[derive(Debug, Parser)]
#[command(name = "signet", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// Config directory (keys, trust store, trust policy).
    /// Default: $XDG_CONFIG_HOME/signet or ~/.config/signet.
    #[arg(long, global = true, env = "SIGNET_CONFIG", value_name = "DIR")]
    config_dir: Option<PathBuf>,

    /// More logging (-v debug, -vv trace); also RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign an artifact in a registry or in an OCI layout on disk.
    ///
    /// A tag is resolved to the digest it points at, and the digest is signed;
    /// the signature is pushed next to the artifact (a referrer with
    /// `subject`), where `notation` and `signet verify` find it.
    #[command(after_help = "Examples:
  signet sign registry.example.com/app@sha256:<hex>
  signet sign --insecure-registry localhost:5000 localhost:5000/app:v1 --signature-format cose
  signet sign --oci-layout ./layout:v1
  signet sign --oci-layout ./layout@sha256:<hex> --key acme --signature-format cose --expiry 30d
  signet sign --oci-layout ./layout:v1 -m buildId=1234 -m commit=abc123 --output json")]
    Sign(Box<sign::Args>),
    /// Verify the signatures of artifacts against the trust policy.
    ///
    /// Several artifacts are verified concurrently, each with its own result
    /// line. Exit status 0 when every artifact has an accepted signature, 1
    /// otherwise. Each check
    /// (integrity, authenticity, expiry, authenticTimestamp, revocation) is
    /// applied with the action the trust policy assigns: enforce, log or skip.
    #[command(after_help = "Examples:
  signet verify registry.example.com/app@sha256:<hex>
  signet verify reg.example.com/a:v1 reg.example.com/b:v2 reg.example.com/c:v3 --output json
  signet verify --oci-layout ./layout:v1
  signet verify --oci-layout ./layout@sha256:<hex> --scope local/layout -m buildId=1234
  signet verify --oci-layout ./layout:v1 --output json | jq .verified")]
    Verify(verify::Args),
    /// List the signatures of an artifact.
    #[command(
        alias = "list",
        after_help = "Examples:
  signet ls registry.example.com/app:v1
  signet ls --oci-layout ./layout:v1 --output json"
    )]
    Ls(ls::Args),
    /// Show every signature of an artifact decoded: algorithm, signed and
    /// unsigned attributes, certificates, timestamp and signed artifact.
    Inspect(inspect::Args),
    /// Show the referrers graph of an artifact: signatures, SBOMs,
    /// attestations, and what refers to them.
    #[command(after_help = "Examples:
  signet discover registry.example.com/app:v1
  signet discover --oci-layout ./layout:v1 --output json")]
    Discover(discover::Args),
    /// Copy an artifact between registries and OCI layouts, optionally with
    /// its signatures and other referrers.
    #[command(after_help = "Examples:
  signet copy --with-signatures src.example.com/app:v1 dst.example.com/app:v1
  signet copy --with-signatures --to-oci-layout src.example.com/app:v1 ./offline:v1
  signet copy --with-signatures --from-oci-layout ./offline:v1 dst.example.com/app")]
    Copy(copy::Args),
    /// Log in to a registry: check the credentials, then store them in
    /// docker's config.json (or its credential helper).
    #[command(after_help = "Examples:
  echo \"$TOKEN\" | signet login ghcr.io -u me --password-stdin
  signet login localhost:5000 -u admin -p secret --insecure-registry localhost:5000")]
    Login(login::LoginArgs),
    /// Remove the stored credentials of a registry.
    Logout(login::LogoutArgs),
    /// Sign, verify and inspect detached signatures of files (blobs), and
    /// manage the blob trust policy.
    #[command(subcommand)]
    Blob(blob::Command),
    /// Manage certificates in the trust store, and generate test certificates.
    #[command(subcommand)]
    Cert(cert::Command),
    /// Manage signing keys.
    #[command(subcommand)]
    Key(key::Command),
    /// Manage the trust policy.
    #[command(subcommand)]
    Policy(policy::Command),
    /// Manage plugins (notation's plugin protocol): list, install, uninstall.
    #[command(subcommand)]
    Plugin(plugin::Command),
    /// The verifier config bundle nodes enforce: create, sign, publish, show, verify.
    #[command(subcommand)]
    Bundle(bundle::Command),
    /// What runs on this node: `signet runtime scan` lists images in use that
    /// would be refused now (revoked, unsigned).
    #[command(subcommand)]
    Runtime(runtime::Command),
    /// The signing service's setup and API tokens (`signet signer init`,
    /// `signet signer token create|revoke|list`).
    #[command(subcommand)]
    Signer(commands::signer::Command),
    /// Check and export the signing service's audit log.
    #[command(subcommand)]
    Audit(commands::audit::Command),
    /// Run a service: `signet serve signer|admission|node --config FILE`.
    #[command(subcommand)]
    Serve(serve::Command),
    /// From nothing: make a sample image, a test key, sign, trust and verify — printing each step.
    Quickstart(quickstart::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, matches!(cli.command, Command::Serve(_)));
    let config = match config::ConfigDir::resolve(cli.config_dir) {
        Ok(c) => c,
        Err(e) => return output::fail(&e),
    };
    let result = match cli.command {
        Command::Sign(args) => sign::run(&config, *args),
        Command::Verify(args) => verify::run(&config, args),
        Command::Ls(args) => ls::run(&config, args),
        Command::Inspect(args) => inspect::run(&config, args),
        Command::Discover(args) => discover::run(&config, args),
        Command::Copy(args) => copy::run(&config, args),
        Command::Login(args) => login::login(&config, args),
        Command::Logout(args) => login::logout(args),
        Command::Blob(cmd) => blob::run(&config, cmd),
        Command::Cert(cmd) => cert::run(&config, cmd),
        Command::Key(cmd) => key::run(&config, cmd),
        Command::Policy(cmd) => policy::run(&config, cmd),
        Command::Plugin(cmd) => plugin::run(&config, cmd),
        Command::Quickstart(args) => quickstart::run(args),
        Command::Serve(cmd) => serve::run(cmd),
        Command::Bundle(cmd) => bundle::run(&config, cmd),
        Command::Runtime(cmd) => runtime::run(cmd),
        Command::Signer(cmd) => commands::signer::run(cmd),
        Command::Audit(cmd) => commands::audit::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => output::fail(&e),
    }
}

fn init_tracing(verbose: u8, service: bool) {
    let default = match verbose {
        0 if service => "info",
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if service {
        // A service's log lines need their time.
        logs.init();
    } else {
        logs.without_time().init();
    }
}
