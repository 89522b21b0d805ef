//! What the CLI integration tests share: a throwaway config directory laid
//! out as the upstream e2e suite lays it out, copies of the vector layouts,
//! and a runner for the `signet` binary that echoes what it printed.
#![allow(clippy::unwrap_used, dead_code)]

use std::{
    cell::RefCell,
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

pub struct Env {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub config: PathBuf,
    /// Extra environment for every `signet` and `notation` run (see [`Env::set_var`]).
    vars: RefCell<Vec<(String, String)>>,
}

impl Env {
    pub fn new() -> Self {
        Self::with_config("config")
    }

    /// Like [`Env::new`], but the config directory is `<root>/xdg/notation`:
    /// where `notation` looks with `XDG_CONFIG_HOME=<root>/xdg`, so both tools
    /// share keys, trust store and trust policy (see [`Env::notation`]).
    pub fn shared_with_notation() -> Self {
        Self::with_config("xdg/notation")
    }

    /// A temp dir with the config directory at `<root>/<rel>`.
    fn with_config(rel: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let config = root.join(rel);
        fs::create_dir_all(&config).unwrap();
        Self {
            _tmp: tmp,
            root,
            config,
            vars: RefCell::new(Vec::new()),
        }
    }

    /// Runs the reference CLI `notation ARGS` (see `testkit::notation`) in the
    /// temp dir, in UTC, with `XDG_CONFIG_HOME` set to the parent of the config
    /// directory (so use [`Env::shared_with_notation`]) and OCI-layout support
    /// (`NOTATION_EXPERIMENTAL=1`) on; echoes what it printed.
    pub fn notation(&self, args: &[&str]) -> Output {
        assert_eq!(
            self.config.file_name().and_then(|n| n.to_str()),
            Some("notation"),
            "notation reads $XDG_CONFIG_HOME/notation: make the Env with Env::shared_with_notation"
        );
        let out = Command::new(testkit::notation::binary())
            .args(args)
            .current_dir(&self.root)
            .env("XDG_CONFIG_HOME", self.config.parent().unwrap())
            .env("HOME", &self.root)
            .env("NOTATION_EXPERIMENTAL", "1")
            .env("TZ", "UTC")
            .env("DOCKER_CONFIG", self.root.join("docker"))
            .envs(self.vars.borrow().iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        eprintln!(
            "$ notation {}\n--- stdout\n{}--- stderr\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Sets `key=value` in the environment of every later `signet` and
    /// `notation` run (replacing an earlier value).
    pub fn set_var(&self, key: &str, value: &str) {
        let mut vars = self.vars.borrow_mut();
        vars.retain(|(k, _)| k != key);
        vars.push((key.to_owned(), value.to_owned()));
    }

    /// Removes `key` set by [`Env::set_var`].
    pub fn unset_var(&self, key: &str) {
        self.vars.borrow_mut().retain(|(k, _)| k != key);
    }

    /// Writes a `trustpolicy.json` for every scope, strict, trusting `stores`
    /// and any identity.
    pub fn trust_all(&self, stores: &[&str]) {
        let policy = serde_json::json!({
            "version": "1.0",
            "trustPolicies": [{
                "name": "all",
                "registryScopes": ["*"],
                "signatureVerification": { "level": "strict" },
                "trustStores": stores,
                "trustedIdentities": ["*"],
            }],
        });
        fs::write(self.config.join("trustpolicy.json"), policy.to_string()).unwrap();
    }

    /// Installs `e2e/config/trustpolicies/<file>` as the trust policy.
    pub fn policy(&self, file: &str) -> &Self {
        fs::copy(
            testkit::vector(&format!("e2e/config/trustpolicies/{file}")),
            self.config.join("trustpolicy.json"),
        )
        .unwrap();
        self
    }

    /// Puts `e2e/config/localkeys/<cert>` files into trust store `ca:<store>`.
    pub fn trust(&self, store: &str, certs: &[&str]) -> &Self {
        let dir = self.config.join("truststore/x509/ca").join(store);
        fs::create_dir_all(&dir).unwrap();
        for c in certs {
            fs::copy(testkit::vector(&format!("e2e/config/localkeys/{c}")), dir.join(c)).unwrap();
        }
        self
    }

    /// Copies layout `e2e/oci_layout/<name>` into the temp dir as `as_name`.
    pub fn layout(&self, name: &str, as_name: &str) -> PathBuf {
        let dst = self.root.join(as_name);
        copy_dir(&testkit::vector(&format!("e2e/oci_layout/{name}")), &dst);
        dst
    }

    /// Copies `e2e/signatures/<name>` into the temp dir as `as_name`.
    pub fn signature(&self, name: &str, as_name: &str) -> PathBuf {
        let dst = self.root.join(as_name);
        fs::copy(testkit::vector(&format!("e2e/signatures/{name}")), &dst).unwrap();
        dst
    }

    /// Registers notation's e2e key and certificate as the default key `e2e`.
    pub fn e2e_key(&self) -> &Self {
        let key = testkit::vector("e2e/config/localkeys/e2e.key");
        let crt = testkit::vector("e2e/config/localkeys/e2e.crt");
        let out = self.signet(&[
            "key",
            "add",
            "e2e",
            "--key",
            key.to_str().unwrap(),
            "--cert",
            crt.to_str().unwrap(),
            "--default",
        ]);
        expect(&out, true, &[]);
        self
    }

    /// Runs `signet --config-dir <config> ARGS` in the temp dir, in UTC.
    pub fn signet(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_signet"))
            .arg("--config-dir")
            .arg(&self.config)
            .args(args)
            .current_dir(&self.root)
            .env("TZ", "UTC")
            .env("DOCKER_CONFIG", self.root.join("docker"))
            .env_remove("SIGNET_USERNAME")
            .env_remove("SIGNET_PASSWORD")
            .envs(self.vars.borrow().iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        eprintln!(
            "$ signet {}\n--- stdout\n{}--- stderr\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `signet verify --oci-layout <layout>:v1 --scope <scope>`.
    pub fn verify(&self, layout: &Path, scope: &str) -> Output {
        let r = format!("{}:v1", layout.display());
        self.signet(&["verify", "--oci-layout", &r, "--scope", scope])
    }
}

pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            fs::copy(e.path(), to).unwrap();
        }
    }
}

/// Everything the command printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts the exit status and that each of `words` was printed.
#[track_caller]
pub fn expect(o: &Output, ok: bool, words: &[&str]) {
    let all = text(o);
    assert_eq!(
        o.status.success(),
        ok,
        "exit status: expected success={ok}\n{all}"
    );
    for w in words {
        assert!(all.contains(w), "output lacks {w:?}:\n{all}");
    }
}
