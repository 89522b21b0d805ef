//! `signet`: sign and verify container images with Notary Project signatures.
//!
//! The command line of two binaries: `signet` ([`signet_main`]) and
//! `signet-server` ([`server_main`]). They parse the same command line; the
//! services and their administration (`serve`, `signer`, `audit`) run in
//! `signet-server`, which `signet` starts in its place for those. Keeping
//! the servers (HTTP servers, SQL stores, PKCS#11) out of `signet` halves it:
//! a short command such as `signet verify` of one image is mostly process
//! start, and start-up is paid per page of code and relocated data.
//!
//! This is glue: it parses flags, finds the config directory, and calls the
//! `notary` and `oci` libraries. Every decision lives in those.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

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

// `defer`: a subcommand's arguments are only built when that subcommand is
// the one run. clap's tree of every subcommand and argument is ~0.5 MB of
// heap and a good part of a short command's start-up (`signet verify` of
// one image: 0.3 ms of 2.7); `signet --help` still lists every subcommand.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
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

/// `signet`: runs every subcommand but the services and their
/// administration, for which it starts `signet-server` in its place.
pub fn signet_main() -> ExitCode {
    run(exec_server)
}

/// `signet-server`: runs every subcommand in this process.
pub fn server_main() -> ExitCode {
    if let Err(e) = check_caller_version(std::env::var_os(CALLER_VERSION)) {
        return output::fail(&e);
    }
    run(run_server)
}

/// What runs `serve`, `signer` and `audit`: [`run_server`] in `signet-server`,
/// [`exec_server`] in `signet` (so that `signet` does not link them).
type Servers = fn(Command) -> anyhow::Result<ExitCode>;

fn run(servers: Servers) -> ExitCode {
    let cli = Cli::parse();
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
        Command::Bundle(cmd) => bundle::run(&config, cmd),
        Command::Runtime(cmd) => runtime::run(cmd),
        Command::Serve(_) | Command::Signer(_) | Command::Audit(_) => servers(cli.command),
    };
    match result {
        Ok(code) => code,
        Err(e) => output::fail(&e),
    }
}

/// `serve`, `signer` and `audit`, in this process.
fn run_server(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(cmd) => serve::run(cmd),
        Command::Signer(cmd) => commands::signer::run(cmd),
        Command::Audit(cmd) => commands::audit::run(cmd),
        other => anyhow::bail!("not a service command: {other:?}"),
    }
}

/// The executable [`exec_server`] runs.
const SERVER: &str = "signet-server";

/// The version of the `signet` that started `signet-server`, in its
/// environment: the two come from one build, and a `signet-server` found on
/// `PATH` may be an older install, whose command line differs.
const CALLER_VERSION: &str = "SIGNET_CALLER_VERSION";

/// Refuses to run for a `signet` of another version (see [`CALLER_VERSION`]).
fn check_caller_version(caller: Option<std::ffi::OsString>) -> anyhow::Result<()> {
    let ours = env!("CARGO_PKG_VERSION");
    match caller {
        Some(v) if v != ours => {
            let here = std::env::current_exe().map_or_else(|_| SERVER.into(), |p| p.display().to_string());
            anyhow::bail!(
                "{here} is version {ours}, but the signet that started it is version {}: signet runs the \
                 {SERVER} next to it, else the first one on PATH. Install the two together (`cargo install \
                 --locked --path crates/cli` installs both)",
                v.to_string_lossy()
            )
        }
        _ => Ok(()),
    }
}

/// Replaces this process with `signet-server` and the same arguments (same
/// PID, signals and exit status, as a service manager expects).
fn exec_server(_: Command) -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let server = server_binary()?;
    let error = std::process::Command::new(&server)
        .args(std::env::args_os().skip(1))
        .env(CALLER_VERSION, env!("CARGO_PKG_VERSION"))
        .exec();
    Err(anyhow::Error::new(error).context(format!("cannot run {}", server.display())))
}

/// `signet-server` next to this executable (as `cargo install` and the
/// release archives put them), else the first one on `PATH`.
fn server_binary() -> anyhow::Result<PathBuf> {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from));
    if let Some(beside) = dir.as_ref().map(|d| d.join(SERVER)).filter(|p| p.is_file()) {
        return Ok(beside);
    }
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(SERVER))
        .find(|p| p.is_file());
    on_path.ok_or_else(|| {
        anyhow::anyhow!(
            "`signet serve`, `signet signer` and `signet audit` run {SERVER}, which is neither next to this signet \
             ({}) nor on PATH. It is built and installed with signet: `cargo install --locked --path crates/cli` \
             installs both",
            dir.map_or_else(|| "its directory is unknown".to_owned(), |d| d.display().to_string())
        )
    })
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
    use std::collections::BTreeMap;

    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_parser_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Every subcommand's texts, as the tree holds them, by its path.
    fn texts(cmd: &clap::Command, path: &str, out: &mut BTreeMap<String, String>) {
        for sub in cmd.get_subcommands() {
            let path = format!("{path} {}", sub.get_name());
            out.insert(
                path.clone(),
                format!("{:?} / {:?}", sub.get_about(), sub.get_long_about()),
            );
            texts(sub, &path, out);
        }
    }

    /// A deferred subcommand's arguments are added after its own texts: a
    /// documented `Args` struct flattened into it would replace them (its doc
    /// comment is an `about` too). Building the tree must change no text.
    #[test]
    fn building_a_deferred_subcommand_keeps_its_texts() {
        let mut cmd = Cli::command();
        let mut before = BTreeMap::new();
        texts(&cmd, "signet", &mut before);
        cmd.build();
        let mut after = BTreeMap::new();
        texts(&cmd, "signet", &mut after);
        let changed: Vec<_> = before
            .iter()
            .filter(|(path, text)| after.get(*path) != Some(text))
            .map(|(path, text)| format!("{path}: {text} -> {:?}", after.get(path)))
            .collect();
        assert!(before.len() > 40 && changed.is_empty(), "{changed:#?}");
    }

    /// Deferred subcommands still parse their own and the global options,
    /// and still teach in `--help`.
    #[test]
    fn deferred_subcommands_parse_and_explain() {
        let cli = Cli::try_parse_from([
            "signet",
            "-v",
            "verify",
            "--config-dir=/y",
            "-o",
            "json",
            "r/a:v1",
        ])
        .unwrap();
        assert_eq!(cli.global.config_dir, Some(PathBuf::from("/y")));
        assert_eq!(cli.global.verbose, 1);
        match cli.command {
            Command::Verify(a) => {
                assert_eq!(a.references, ["r/a:v1"]);
                assert!(matches!(a.output, output::Format::Json));
            }
            other => panic!("parsed as {other:?}"),
        }
        let help = Cli::try_parse_from(["signet", "verify", "--help"])
            .unwrap_err()
            .to_string();
        assert!(
            help.starts_with(verify::ABOUT)
                && help.contains("Several artifacts are verified concurrently")
                && help.contains("--oci-layout")
                && help.contains(verify::EXAMPLES),
            "{help}"
        );
        let help = Cli::try_parse_from(["signet", "blob", "sign", "--help"])
            .unwrap_err()
            .to_string();
        assert!(help.contains("--signature-format"), "{help}");
        let top = Cli::try_parse_from(["signet", "--help"]).unwrap_err().to_string();
        assert!(
            top.contains("verify") && top.contains("quickstart") && top.contains(verify::ABOUT),
            "{top}"
        );
        let bad = Cli::try_parse_from(["signet", "verify", "-j", "0", "r/a:v1"]).unwrap_err();
        assert_eq!(bad.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
