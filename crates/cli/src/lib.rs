//! `signet`: sign and verify container images with Notary Project signatures.
//!
//! This binary is glue: it parses flags, finds the config directory, and
//! calls the `notary` and `oci` libraries. Every decision lives in those.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, FromArgMatches, Parser, Subcommand};

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
    #[command(flatten)]
    global: GlobalArgs,

    #[command(subcommand)]
    command: Command,
}

/// The options every subcommand takes.
#[derive(Debug, Args)]
struct GlobalArgs {
    /// Config directory (keys, trust store, trust policy).
    /// Default: $XDG_CONFIG_HOME/signet or ~/.config/signet.
    #[arg(long, global = true, env = "SIGNET_CONFIG", value_name = "DIR")]
    config_dir: Option<PathBuf>,

    /// More logging (-v debug, -vv trace); also RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

impl Cli {
    /// Parses the command line. `signet verify` — the command scripts and CI
    /// run most, often once per image — is parsed with only its own
    /// subcommand built: clap's tree of every subcommand is ~0.5 MB of heap
    /// and a good part of a short run's start-up. Anything else, including
    /// `signet --help` and a mistyped subcommand, gets the whole tree.
    fn parse_args() -> Cli {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        if subcommand_name(&args) == Some("verify") {
            let matches = Cli::verify_only_command().get_matches_from(&args);
            match Cli::from_arg_matches(&matches) {
                Ok(cli) => return cli,
                Err(e) => e.exit(),
            }
        }
        Cli::parse_from(args)
    }

    /// The command line parser with only `verify` in it, built from the same
    /// definitions as the whole one (a test compares their help and errors).
    fn verify_only_command() -> clap::Command {
        let verify = verify::Args::augment_args(clap::Command::new("verify"))
            .about(verify::ABOUT)
            .long_about(verify::LONG_ABOUT)
            .after_help(verify::EXAMPLES);
        let top = clap::Command::new("signet")
            .version(env!("CARGO_PKG_VERSION"))
            .propagate_version(true)
            .max_term_width(100)
            .subcommand_required(true)
            .arg_required_else_help(true);
        GlobalArgs::augment_args(top).subcommand(verify)
    }
}

/// The subcommand `args` name: the first argument that is neither a global
/// option nor its value. `None` when anything else comes before it.
fn subcommand_name(args: &[std::ffi::OsString]) -> Option<&str> {
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        match arg {
            "--config-dir" => {
                rest.next()?;
            }
            "--verbose" => {}
            _ if arg.starts_with("--config-dir=") => {}
            _ if arg.len() > 1 && arg.starts_with('-') && arg[1..].bytes().all(|b| b == b'v') => {}
            _ if arg.starts_with('-') => return None,
            _ => return Some(arg),
        }
    }
    None
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
    // Its texts are constants: the verify-only parser uses them too.
    #[command(about = verify::ABOUT, long_about = verify::LONG_ABOUT, after_help = verify::EXAMPLES)]
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
    let cli = Cli::parse_args();
    init_tracing(cli.global.verbose, matches!(cli.command, Command::Serve(_)));
    let config = match config::ConfigDir::resolve(cli.global.config_dir) {
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
        args.iter().map(Into::into).collect()
    }

    /// What a parser makes of `args`: the parsed command line, or the error
    /// (help and version are errors to clap) as the user would see it.
    fn outcome(cmd: clap::Command, args: &[&str]) -> String {
        match cmd.try_get_matches_from(args) {
            Ok(m) => format!("{:?}", Cli::from_arg_matches(&m).map_err(|e| e.to_string())),
            Err(e) => format!("{:?}: {}", e.kind(), e.render()),
        }
    }

    #[test]
    fn the_verify_only_parser_answers_as_the_whole_one() {
        let cases: &[&[&str]] = &[
            &["signet", "verify", "--help"],
            &["signet", "verify", "-h"],
            &["signet", "verify", "--version"],
            &["signet", "verify", "--bogus"],
            &["signet", "verify", "-j", "0", "reg/app:v1"],
            &["signet", "verify", "-m", "novalue", "reg/app:v1"],
            &["signet", "verify"],
            &["signet", "--config-dir", "/x", "verify", "a", "b", "-o", "json"],
            &[
                "signet",
                "-vv",
                "verify",
                "--oci-layout",
                "l:v1",
                "-m",
                "k=v",
                "--config-dir=/y",
            ],
            &[
                "signet",
                "verify",
                "--insecure-registry",
                "h:5000",
                "h:5000/a:b",
                "--ca-file",
                "/c",
                "-v",
            ],
        ];
        for args in cases {
            assert_eq!(subcommand_name(&os(args)), Some("verify"), "{args:?}");
            assert_eq!(
                outcome(Cli::verify_only_command(), args),
                outcome(Cli::command(), args),
                "{args:?}"
            );
        }
    }

    #[test]
    fn only_a_plain_verify_command_line_takes_the_short_way() {
        for (args, want) in [
            (&["signet"][..], None),
            (&["signet", "--help"], None),
            (&["signet", "help", "verify"], Some("help")),
            (&["signet", "sign", "verify"], Some("sign")),
            (&["signet", "--config-dir"], None),
            (&["signet", "--config-dir", "verify"], None),
            (&["signet", "--config-dir", "verify", "verify"], Some("verify")),
            (&["signet", "-x", "verify"], None),
            (&["signet", "-vx", "verify"], None),
            (&["signet", "-v", "--verbose", "verify"], Some("verify")),
            (&["signet", "--", "verify"], None),
        ] {
            assert_eq!(subcommand_name(&os(args)), want, "{args:?}");
        }
    }

    #[test]
    fn both_parsers_are_well_formed() {
        Cli::command().debug_assert();
        Cli::verify_only_command().debug_assert();
    }
}
