//! A throwaway SoftHSM2 installation: a config file and a token directory in
//! a temporary directory, tokens initialised and keys imported with
//! `softhsm2-util` (Debian package `softhsm2`).
//!
//! SoftHSM reads its configuration from the environment variable
//! `SOFTHSM2_CONF` once, when a process first calls `C_Initialize`; the
//! variable is process-wide. Processes a test starts get it with
//! `Command::env("SOFTHSM2_CONF", hsm.conf_path())`. In-process use needs the
//! variable set before the first `C_Initialize`, which a test cannot do safely
//! (`std::env::set_var` is `unsafe` in edition 2024 and the workspace forbids
//! unsafe code), so [`SoftHsm::run_tests_in_child`] re-runs selected tests of
//! the current test binary in a child process that has it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The SO PIN of every token made here.
pub const SO_PIN: &str = "so-pin-0000";

/// Where Debian and its multiarch variants put the SoftHSM2 PKCS#11 module.
const MODULE_PATHS: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/softhsm/libsofthsm2.so",
    "/usr/lib/softhsm2/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// A SoftHSM2 configuration with its own token directory.
#[derive(Debug)]
pub struct SoftHsm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    token_label: String,
    pin: String,
}

impl SoftHsm {
    /// The SoftHSM2 PKCS#11 module, if installed.
    pub fn module() -> Option<PathBuf> {
        MODULE_PATHS.iter().map(PathBuf::from).find(|p| p.is_file())
    }

    /// The module, or a loud panic naming the Debian package.
    pub fn require_module() -> PathBuf {
        Self::module().unwrap_or_else(|| {
            panic!(
                "SoftHSM2 PKCS#11 module not found (tried {MODULE_PATHS:?}) — install the Debian package softhsm2 \
                 (scripts/test does)"
            )
        })
    }

    /// A fresh configuration and token directory with one token, `token_label`,
    /// whose user PIN is `pin`.
    pub fn start(token_label: &str, pin: &str) -> SoftHsm {
        Self::require_module();
        let dir = tempfile::tempdir().expect("tempdir for SoftHSM");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("SoftHSM token directory");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                tokens.display()
            ),
        )
        .expect("write softhsm2.conf");
        let hsm = SoftHsm {
            dir,
            conf,
            token_label: token_label.to_string(),
            pin: pin.to_string(),
        };
        hsm.add_token(token_label, pin);
        hsm
    }

    /// Initialises one more token (in the first free slot).
    pub fn add_token(&self, token_label: &str, pin: &str) {
        self.util(&[
            "--init-token",
            "--free",
            "--label",
            token_label,
            "--so-pin",
            SO_PIN,
            "--pin",
            pin,
        ]);
    }

    /// The `SOFTHSM2_CONF` value for processes that should see these tokens.
    pub fn conf_path(&self) -> &Path {
        &self.conf
    }

    /// The temporary directory holding the configuration and tokens.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The first token's label.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// The first token's user PIN.
    pub fn pin(&self) -> &str {
        &self.pin
    }

    /// Imports a PKCS#8 PEM private key into the first token as a private
    /// key object and a public key object, both labelled `key_label`.
    pub fn import_key(&self, key_label: &str, pkcs8_pem: &str) {
        self.import_key_into(&self.token_label, &self.pin, key_label, pkcs8_pem);
    }

    /// Imports a PKCS#8 PEM private key into token `token_label` (see [`SoftHsm::import_key`]).
    ///
    /// softhsm2-util 2.6 creates the public key object too (unless told
    /// `--no-public-key`); the service reads the public key from it, and its
    /// tests check it is there.
    pub fn import_key_into(&self, token_label: &str, pin: &str, key_label: &str, pkcs8_pem: &str) {
        let file = self
            .dir
            .path()
            .join(format!("import-{}.pem", hex::encode(key_label)));
        std::fs::write(&file, pkcs8_pem).expect("write key to import");
        // A distinct CKA_ID per label: the label's bytes, truncated.
        let id = hex::encode(&key_label.as_bytes()[..key_label.len().min(16)]);
        let id = if id.is_empty() { "01".to_string() } else { id };
        let path = file.to_str().expect("utf-8 temp path");
        self.util(&[
            "--import",
            path,
            "--token",
            token_label,
            "--label",
            key_label,
            "--id",
            &id,
            "--pin",
            pin,
        ]);
        let _ = std::fs::remove_file(&file);
    }

    /// Runs `softhsm2-util` with this configuration; panics with its output on failure.
    fn util(&self, args: &[&str]) {
        let out = Command::new("softhsm2-util")
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run softhsm2-util ({e}) — install the Debian package softhsm2 (scripts/test does)"
                )
            });
        // Never print the PINs: show the action only.
        assert!(
            out.status.success(),
            "softhsm2-util {} failed ({}):\n{}{}",
            args.first().copied().unwrap_or(""),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the test named exactly `filter` of the current test binary again
    /// in a child process with `SOFTHSM2_CONF` set to this configuration (and
    /// `env` added), prints its output, and panics if it failed. The test
    /// tells the two runs apart by `env`; the child's checks share one
    /// process and so one `C_Initialize` of the module.
    pub fn run_tests_in_child(&self, filter: &str, env: &[(&str, &OsStr)]) {
        let exe = std::env::current_exe().expect("current test binary");
        let mut cmd = Command::new(exe);
        cmd.args([filter, "--exact", "--nocapture", "--color", "never"])
            .env("SOFTHSM2_CONF", &self.conf);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run the test binary in a child process");
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!(
            "--- child tests ({filter}) ---\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "child tests {filter:?} failed: {}",
            out.status
        );
        assert!(
            !stdout.contains("running 0 tests"),
            "no test matched {filter:?} in the child process"
        );
    }
}
