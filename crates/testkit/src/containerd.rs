//! A real containerd 2.x daemon, private to one test, whose image pulls call
//! the image verifiers in a directory of the test's choosing.
//!
//! `./scripts/install-peers` builds `containerd` and `ctr` (pinned
//! [`VERSION`]) into [`peers_bin`]. [`Containerd::start`] writes a config of
//! its own into a fresh temp dir (root, state, temp dir and the gRPC socket
//! all inside it; no `imports`; NRI, the `/opt` plugin and CRI disabled; the
//! `native` snapshotter for unpacking, which needs no overlayfs), starts
//! `containerd --config`, and waits until `ctr version` answers on the
//! socket. Dropping it kills the daemon, unmounts whatever it left mounted
//! under the temp dir and removes the dir.
//!
//! The verifier contract (containerd's `io.containerd.image-verifier.v1.bindir`
//! plugin): on every pull through the *transfer service* — `ctr image pull`
//! without `--local`, which is what [`Containerd::pull`] runs — after the
//! reference is resolved and before anything else is fetched, containerd runs
//! each executable in `bin_dir` (sorted by name, at most `max_verifiers`) as
//! `VERIFIER -name REF -digest sha256:… -stdin-media-type
//! application/vnd.oci.descriptor.v1+json`, with the image's OCI descriptor
//! as JSON (one line) on stdin. Exit status 0 allows the pull; anything else
//! refuses it, and the pull fails with `image verifier bindir blocked pull of
//! REF with digest D for reason: verifier NAME rejected image (exit code N):
//! STDOUT` (stdout trimmed, cut at 32 KiB). Stderr goes to containerd's log at
//! debug level (this config logs at debug: see [`Containerd::log`]). A
//! verifier that outlives `per_verifier_timeout` is killed with its process
//! group and the pull fails with an error rather than a judgement. A
//! `bin_dir` that is missing or empty allows every pull.

use std::{
    fs::File,
    os::unix::{fs::MetadataExt, net::UnixStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

pub use crate::notation::peers_bin;

/// The containerd release `./scripts/install-peers` builds.
pub const VERSION: &str = "v2.4.2";
/// The namespace [`Containerd::pull`] and [`Containerd::ctr`] use.
pub const NAMESPACE: &str = "signet-test";
/// The image-verifier plugin's ID: the `bindir` in pull errors.
pub const VERIFIER_PLUGIN: &str = "io.containerd.image-verifier.v1.bindir";
/// The media type containerd passes as `-stdin-media-type`.
pub const DESCRIPTOR_MEDIA_TYPE: &str = "application/vnd.oci.descriptor.v1+json";
/// The snapshotter unpacking uses: `native` copies, so it works on any
/// filesystem without overlayfs.
pub const SNAPSHOTTER: &str = "native";

/// How long [`Containerd::ctr`] lets one `ctr` run before killing it.
const CTR_TIMEOUT: Duration = Duration::from_secs(60);
/// How long start-up may take before [`Containerd::start`] gives up.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The plugin's `max_verifiers`, containerd's default: the first ten
/// entries of `bin_dir` in name order are run, the rest skipped.
pub const MAX_VERIFIERS: u32 = 10;
/// `sun_path` holds 108 bytes, the terminating NUL included.
const MAX_SOCKET_PATH: usize = 107;

/// How to run it.
#[derive(Debug, Clone)]
pub struct Options {
    /// The verifier plugin's `bin_dir`: every executable in it is a verifier.
    /// `None` points `bin_dir` at a directory that does not exist (so every
    /// pull is allowed), never at the host's default
    /// `/opt/containerd/image-verifier/bin`.
    pub verifier_dir: Option<PathBuf>,
    /// The plugin's `per_verifier_timeout` (containerd's default is 10 s).
    pub per_verifier_timeout: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            verifier_dir: None,
            per_verifier_timeout: Duration::from_secs(10),
        }
    }
}

/// A running containerd; dropping it kills the daemon and removes its files.
pub struct Containerd {
    child: Child,
    dir: Option<tempfile::TempDir>,
    address: PathBuf,
    ctr: PathBuf,
}

impl Containerd {
    /// Starts a private containerd and waits until it answers on its socket.
    /// Returns an error saying exactly what is missing or what failed (with
    /// the daemon's log) when it cannot run here: the binaries not installed,
    /// not root, a temp dir whose socket path is too long, the daemon exiting
    /// or not answering within 20 s.
    pub fn start(opts: Options) -> Result<Containerd, String> {
        Containerd::start_in(&peers_bin(), opts)
    }

    fn start_in(bin: &Path, opts: Options) -> Result<Containerd, String> {
        let containerd = bin.join("containerd");
        let ctr = bin.join("ctr");
        for path in [&containerd, &ctr] {
            if !path.is_file() {
                return Err(format!(
                    "{} not found: run ./scripts/install-peers (it builds containerd and ctr {VERSION}; \
                     or point SIGNET_PEERS_BIN at the directory holding them)",
                    path.display()
                ));
            }
        }
        let euid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .map_err(|e| format!("cannot tell who we are from /proc/self: {e}"))?;
        if euid != 0 {
            return Err(format!(
                "containerd must run as root (it mounts snapshots to unpack layers and owns its \
                 root and state dirs); this process runs as uid {euid}"
            ));
        }

        let dir = tempfile::Builder::new()
            .prefix("signet-ctd-")
            .tempdir()
            .map_err(|e| format!("containerd temp dir: {e}"))?;
        let address = dir.path().join("containerd.sock");
        let ttrpc = dir.path().join("containerd.sock.ttrpc");
        if ttrpc.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(format!(
                "the socket path {} is longer than the {MAX_SOCKET_PATH} bytes a unix socket allows: \
                 point TMPDIR at a shorter directory",
                ttrpc.display()
            ));
        }
        let config = config(dir.path(), &opts);
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).map_err(|e| format!("write {}: {e}", config_path.display()))?;
        let log_path = dir.path().join("containerd.log");
        let log = File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("{}: {e}", log_path.display()))?;

        let mut cmd = Command::new(&containerd);
        scrub_env(&mut cmd);
        cmd.arg("--config")
            .arg(&config_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", containerd.display()))?;
        let mut daemon = Containerd {
            child,
            dir: Some(dir),
            address,
            ctr,
        };
        daemon.wait_ready()?;
        Ok(daemon)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "containerd exited with {status} before serving {}:\n{}",
                    self.address.display(),
                    self.log()
                ));
            }
            if UnixStream::connect(&self.address).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "containerd did not open {} within {} s:\n{}",
                    self.address.display(),
                    START_TIMEOUT.as_secs(),
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let version = self.ctr(&["version"]);
        if !version.status.success() {
            return Err(format!(
                "containerd serves {} but `ctr version` failed ({}): {}{}\n--- containerd log\n{}",
                self.address.display(),
                version.status,
                String::from_utf8_lossy(&version.stdout),
                String::from_utf8_lossy(&version.stderr),
                self.log()
            ));
        }
        Ok(())
    }

    /// The gRPC socket.
    pub fn address(&self) -> &Path {
        &self.address
    }

    /// The temp dir holding the config, root, state and log.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("containerd dir").path()
    }

    /// The config containerd was started with.
    pub fn config(&self) -> String {
        std::fs::read_to_string(self.dir().join("config.toml")).unwrap_or_default()
    }

    /// containerd's log so far (debug level: each verifier's stderr is in
    /// it, one `level=debug` line per line, with `image_verifier=NAME
    /// stream=stderr`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr --address SOCK --namespace signet-test ARGS…`, killed after 60 s
    /// (then its stderr ends with a line saying so).
    pub fn ctr(&self, args: &[&str]) -> Output {
        let out_dir = tempfile::Builder::new()
            .prefix("ctr-")
            .tempdir_in(self.dir())
            .expect("ctr output dir");
        let (out_path, err_path) = (out_dir.path().join("stdout"), out_dir.path().join("stderr"));
        let mut cmd = Command::new(&self.ctr);
        scrub_env(&mut cmd);
        cmd.arg("--address")
            .arg(&self.address)
            .arg("--namespace")
            .arg(NAMESPACE)
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&out_path).expect("ctr stdout"))
            .stderr(File::create(&err_path).expect("ctr stderr"));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.ctr.display()));
        let deadline = Instant::now() + CTR_TIMEOUT;
        let (status, timed_out) = loop {
            if let Some(status) = child.try_wait().expect("wait for ctr") {
                break (status, false);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break (child.wait().expect("wait for ctr"), true);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stderr = std::fs::read(&err_path).unwrap_or_default();
        if timed_out {
            stderr.extend_from_slice(
                format!(
                    "\ntestkit: ctr {args:?} killed after {} s\n",
                    CTR_TIMEOUT.as_secs()
                )
                .as_bytes(),
            );
        }
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr,
        }
    }

    /// `ctr image pull [--plain-http] REF`: a pull through containerd's
    /// transfer service (fetched by the daemon, verified by the verifier
    /// plugin, unpacked with the [`SNAPSHOTTER`]). A refusal fails it with
    /// `ctr: image verifier bindir blocked pull of …` on stderr.
    pub fn pull(&self, reference: &str, plain_http: bool) -> Output {
        let mut args = vec!["image", "pull", "--snapshotter", SNAPSHOTTER];
        if plain_http {
            args.push("--plain-http");
        }
        args.push(reference);
        self.ctr(&args)
    }

    /// The names of the images in the test namespace (`ctr image ls -q`).
    pub fn images(&self) -> Vec<String> {
        let out = self.ctr(&["image", "ls", "-q"]);
        assert!(
            out.status.success(),
            "ctr image ls: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let Some(dir) = self.dir.take() else { return };
        let left = unmount_under(dir.path());
        if !left.is_empty() {
            // Removing the tree would reach through what is still mounted.
            let kept = dir.keep();
            eprintln!(
                "testkit: containerd left mounts that would not unmount ({left:?}); keeping {}",
                kept.display()
            );
        }
    }
}

/// The config: everything under `dir`, only what a pull needs.
fn config(dir: &Path, opts: &Options) -> String {
    let bin_dir = opts
        .verifier_dir
        .clone()
        .unwrap_or_else(|| dir.join("no-verifiers"));
    // The per-verifier timeout as containerd's duration syntax.
    let timeout = format!("{}ms", opts.per_verifier_timeout.as_millis().max(1));
    let q = |p: &Path| toml_string(&p.display().to_string());
    format!(
        r#"# Written by testkit::containerd for one test.
version = 3
root = {root}
state = {state}
temp = {temp}
imports = []
# CRI (not built in), NRI (its socket is under /var/run) and the /opt plugin
# (creates /opt/containerd) are not needed for pulls and touch the host.
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.opt",
]
# Start fails, rather than serving without them, when these do not load.
required_plugins = [
  "io.containerd.transfer.v1.local",
  "{VERIFIER_PLUGIN}",
  "io.containerd.snapshotter.v1.{SNAPSHOTTER}",
]

[grpc]
  address = {grpc}

[ttrpc]
  address = {ttrpc}

[debug]
  level = "debug"

[plugins]
  [plugins."{VERIFIER_PLUGIN}"]
    bin_dir = {bin_dir}
    max_verifiers = {MAX_VERIFIERS}
    per_verifier_timeout = "{timeout}"

  [plugins."io.containerd.transfer.v1.local"]
    config_path = ""
    [[plugins."io.containerd.transfer.v1.local".unpack_config]]
      platform = "linux/{arch}"
      snapshotter = "{SNAPSHOTTER}"
      differ = "walking"
"#,
        root = q(&dir.join("root")),
        state = q(&dir.join("state")),
        temp = q(&dir.join("tmp")),
        grpc = q(&dir.join("containerd.sock")),
        ttrpc = q(&dir.join("containerd.sock.ttrpc")),
        bin_dir = q(&bin_dir),
        arch = crate::registry::oci_arch(),
    )
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Environment that would point containerd or ctr elsewhere.
fn scrub_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("CONTAINERD_") || k == "NOTIFY_SOCKET" {
            cmd.env_remove(k);
        }
    }
}

/// Unmounts (lazily, deepest first) every mount point at or under `dir`;
/// returns those still mounted afterwards.
fn unmount_under(dir: &Path) -> Vec<PathBuf> {
    let mut points = mounts_under(dir);
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for p in &points {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(p)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    mounts_under(dir)
}

fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

/// Runs the bindir verifier `binary` exactly as containerd's plugin does:
/// `-name NAME -digest DIGEST -stdin-media-type` [`DESCRIPTOR_MEDIA_TYPE`],
/// with `descriptor` (the image's OCI descriptor) as one JSON line on stdin
/// and `SIGNET_CONTAINERD_VERIFIER_CONFIG=config` added to its environment
/// (where a wrapper in `bin_dir` would put it). Returns what it printed and
/// its exit status (0 allows the pull).
pub fn invoke_verifier(
    binary: &Path,
    config: &Path,
    name: &str,
    digest: &str,
    descriptor: &serde_json::Value,
) -> Output {
    use std::io::Write;
    let mut child = Command::new(binary)
        .args([
            "-name",
            name,
            "-digest",
            digest,
            "-stdin-media-type",
            DESCRIPTOR_MEDIA_TYPE,
        ])
        .env("SIGNET_CONTAINERD_VERIFIER_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the verifier");
    let mut line = descriptor.to_string();
    line.push('\n');
    // A verifier may exit without reading stdin; a broken pipe is its business.
    let _ = child.stdin.take().expect("stdin").write_all(line.as_bytes());
    child.wait_with_output().expect("the verifier's exit status")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_are_an_error_naming_the_install_step() {
        let err = Containerd::start_in(Path::new("/nonexistent"), Options::default())
            .err()
            .expect("no containerd there");
        assert!(
            err.contains("/nonexistent/containerd not found: run ./scripts/install-peers"),
            "{err}"
        );
    }

    #[test]
    fn a_daemon_that_exits_at_start_is_an_error_with_its_log() {
        let bin = tempfile::tempdir().unwrap();
        for name in ["containerd", "ctr"] {
            let path = bin.path().join(name);
            std::fs::write(&path, "#!/bin/sh\necho 'boom: no way' >&2\nexit 2\n").unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }
        let err = Containerd::start_in(bin.path(), Options::default())
            .err()
            .expect("the fake daemon exits");
        assert!(
            err.contains("must run as root")
                || (err.contains("containerd exited with exit status: 2") && err.contains("boom: no way")),
            "{err}"
        );
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b\134c"), r"/tmp/a b\c");
        assert_eq!(unescape_mountinfo(r"/x\04"), r"/x\04");
    }

    #[test]
    fn toml_strings_are_quoted() {
        assert_eq!(toml_string(r#"/a "b"\c"#), r#""/a \"b\"\\c""#);
    }

    #[test]
    fn config_keeps_everything_in_its_dir() {
        let opts = Options {
            verifier_dir: None,
            per_verifier_timeout: Duration::from_millis(1500),
        };
        let c = config(Path::new("/d"), &opts);
        assert!(c.contains("bin_dir = \"/d/no-verifiers\""), "{c}");
        assert!(c.contains("per_verifier_timeout = \"1500ms\""), "{c}");
        assert!(c.contains("max_verifiers = 10"), "{c}");
        assert!(c.contains("address = \"/d/containerd.sock\""), "{c}");
        assert!(c.contains("imports = []"), "{c}");
    }
}
