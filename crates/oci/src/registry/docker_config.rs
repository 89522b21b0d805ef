//! Credentials from docker's `config.json`, shared with `docker login`,
//! `notation login` and `oras login`.
//!
//! Three places can hold a registry's credential, tried in docker's order:
//!
//! * `credHelpers` — `{"<host>": "<name>"}`: that host's credential is kept by
//!   the program `docker-credential-<name>`;
//! * `credsStore` — `"<name>"`: the helper for every other host;
//! * `auths` — `{"<host>": {"auth": base64("user:password")}}` or
//!   `{"identitytoken": "…"}` (a refresh token), in the file itself.
//!
//! The helper protocol: `docker-credential-<name> get` reads the server on
//! stdin and prints `{"ServerURL","Username","Secret"}` (a `Username` of
//! `<token>` means the secret is an identity token); `store` reads that JSON
//! on stdin; `erase` reads the server. Docker Hub is filed under
//! `https://index.docker.io/v1/`, everything else under `host[:port]`.
//!
//! The file is read when a credential is asked for (a missing file means no
//! credentials, not an error), at most 1 MiB of it; it is written atomically
//! with mode 0600, keeping every key this code does not know.

use std::{
    fs::{self, File},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicU64, Ordering},
};

use base64::Engine;
use serde_json::{Map, Value, json};

use super::{
    auth::{Credential, CredentialStore},
    reference::DOCKER_HUB,
};
use crate::Error;

/// The largest `config.json` read.
const MAX_CONFIG_SIZE: u64 = 1024 * 1024;
/// The largest answer read from a credential helper.
const MAX_HELPER_OUTPUT: u64 = 64 * 1024;
/// How long a credential helper may take (a keychain may ask the user to
/// unlock it); past it the helper is killed and the lookup fails.
const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// The key docker files Docker Hub credentials under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// The user name helpers use to mark an identity token.
const TOKEN_USERNAME: &str = "<token>";

/// Docker's `config.json` as a [`CredentialStore`], and the place `login`
/// writes to. See the module documentation.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
    helper_dir: Option<PathBuf>,
    helper_timeout: std::time::Duration,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; `None`
    /// when neither variable tells where home is.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"))?;
        Some(PathBuf::from(home).join(".docker").join("config.json"))
    }

    /// The config file at `path`; nothing is read until a credential is needed.
    pub fn open(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            helper_dir: None,
            helper_timeout: HELPER_TIMEOUT,
        }
    }

    /// Looks for `docker-credential-<name>` helpers in `dir` instead of `PATH`.
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.helper_dir = Some(dir.into());
        self
    }

    /// How long a credential helper may run (default 60 s) before it is killed.
    pub fn with_helper_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.helper_timeout = timeout;
        self
    }

    /// The config file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves `credential` for `registry`: through the credential helper when
    /// one is configured for it, else base64-encoded in `auths`.
    pub fn store(&self, registry: &str, credential: &Credential) -> Result<(), Error> {
        let mut config = self.read(registry)?;
        if let Some(helper) = helper_for(&config, registry) {
            let (username, secret) = match credential {
                Credential::Basic { username, password } => (username.as_str(), password.as_str()),
                Credential::IdentityToken(t) => (TOKEN_USERNAME, t.as_str()),
            };
            let input = json!({"ServerURL": server_key(registry), "Username": username, "Secret": secret});
            return match self.run_helper(&helper, "store", registry, input.to_string().as_bytes()) {
                Ok(_) => Ok(()),
                Err(HelperError::Failed(e)) => Err(e),
                Err(HelperError::NotFound) => Err(Error::Credentials {
                    registry: registry.to_owned(),
                    reason: format!(
                        "credential helper docker-credential-{helper} refused to store the credential"
                    ),
                }),
            };
        }
        let auths = config.entry("auths").or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let Some(auths) = auths.as_object_mut() else {
            return Err(self.bad(registry, "`auths` is not an object"));
        };
        let key = auths
            .keys()
            .find(|k| normalize_key(k) == registry)
            .cloned()
            .unwrap_or_else(|| server_key(registry));
        let entry = match credential {
            Credential::Basic { username, password } => json!({
                "auth": base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            }),
            Credential::IdentityToken(t) => json!({"auth": "", "identitytoken": t}),
        };
        auths.insert(key, entry);
        self.write(registry, &config)
    }

    /// Forgets the credential of `registry` (in its helper and in `auths`).
    /// Returns whether there was one.
    pub fn erase(&self, registry: &str) -> Result<bool, Error> {
        let mut config = self.read(registry)?;
        let mut removed = false;
        if let Some(helper) = helper_for(&config, registry) {
            match self.run_helper(&helper, "erase", registry, server_key(registry).as_bytes()) {
                Ok(_) => removed = true,
                Err(HelperError::NotFound) => {}
                Err(HelperError::Failed(e)) => return Err(e),
            }
        }
        if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
            let before = auths.len();
            auths.retain(|k, _| normalize_key(k) != registry);
            if auths.len() != before {
                removed = true;
                self.write(registry, &config)?;
            }
        }
        Ok(removed)
    }

    fn bad(&self, registry: &str, what: &str) -> Error {
        Error::Credentials {
            registry: registry.to_owned(),
            reason: format!("{}: {what}", self.path.display()),
        }
    }

    /// The file's top-level object; an empty one when the file is missing.
    fn read(&self, registry: &str) -> Result<Map<String, Value>, Error> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => return Err(Error::io("read", &self.path, e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", &self.path, e))?;
        if bytes.len() as u64 > MAX_CONFIG_SIZE {
            return Err(self.bad(registry, "larger than 1 MiB; refusing to read it"));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(self.bad(registry, "not a JSON object")),
            Err(e) => Err(Error::json(self.path.display().to_string(), e)),
        }
    }

    /// Writes `config` atomically with mode 0600.
    fn write(&self, registry: &str, config: &Map<String, Value>) -> Result<(), Error> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        let mut bytes = serde_json::to_vec_pretty(config).map_err(|e| self.bad(registry, &e.to_string()))?;
        bytes.push(b'\n');
        let tmp = dir.join(format!(
            ".config.json.{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
            f.write_all(&bytes).map_err(|e| Error::io("write", &tmp, e))?;
            f.sync_all().map_err(|e| Error::io("write", &tmp, e))?;
            fs::rename(&tmp, &self.path).map_err(|e| Error::io("rename into place", &self.path, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Runs `docker-credential-<helper> <action>` with `input` on stdin.
    fn run_helper(
        &self,
        helper: &str,
        action: &str,
        registry: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, HelperError> {
        let program = format!("docker-credential-{helper}");
        let path = match &self.helper_dir {
            Some(dir) => dir.join(&program),
            None => PathBuf::from(&program),
        };
        let fail = |reason: String| {
            HelperError::Failed(Error::Credentials {
                registry: registry.to_owned(),
                reason,
            })
        };
        let spawn = || {
            Command::new(&path)
                .arg(action)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
        };
        // ETXTBSY: a helper written moments ago can still be open for
        // writing in a child another thread just forked (until that child
        // execs); it clears within milliseconds.
        let mut spawned = spawn();
        for _ in 0..20 {
            match &spawned {
                Err(e) if e.raw_os_error() == Some(26) => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    spawned = spawn();
                }
                _ => break,
            }
        }
        let mut child = spawned.map_err(|e| {
            fail(format!(
                "cannot run credential helper {program} (configured in {}): {e}",
                self.path.display()
            ))
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is judged by its exit status.
            let _ = stdin.write_all(input);
        }
        // Read its answer on another thread, so that a helper that never
        // answers is killed after the timeout instead of hanging signet.
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let _ = stdout.take(MAX_HELPER_OUTPUT).read_to_end(&mut out);
                let _ = tx.send(out);
            });
        }
        let out = match rx.recv_timeout(self.helper_timeout) {
            Ok(out) => out,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Vec::new(),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "credential helper {program} {action} did not answer within {} s; it was stopped",
                    self.helper_timeout.as_secs_f32()
                )));
            }
        };
        let status = child
            .wait()
            .map_err(|e| fail(format!("credential helper {program} {action}: {e}")))?;
        if status.success() {
            return Ok(out);
        }
        let text = String::from_utf8_lossy(&out).trim().to_owned();
        if text.to_ascii_lowercase().contains("credentials not found") {
            return Err(HelperError::NotFound);
        }
        Err(fail(format!(
            "credential helper {program} {action} failed ({status}): {}",
            text.chars().take(512).collect::<String>()
        )))
    }
}

/// A helper failure, or its "credentials not found in native keychain".
enum HelperError {
    NotFound,
    Failed(Error),
}

impl CredentialStore for DockerConfig {
    fn get(&self, registry: &str) -> Result<Option<Credential>, Error> {
        let config = self.read(registry)?;
        if let Some(helper) = helper_for(&config, registry) {
            match self.run_helper(&helper, "get", registry, server_key(registry).as_bytes()) {
                Ok(out) => {
                    let v: Value = serde_json::from_slice(&out).map_err(|e| Error::Credentials {
                        registry: registry.to_owned(),
                        reason: format!(
                            "credential helper docker-credential-{helper} printed invalid JSON: {e}"
                        ),
                    })?;
                    let username = v.get("Username").and_then(Value::as_str).unwrap_or_default();
                    let secret = v.get("Secret").and_then(Value::as_str).unwrap_or_default();
                    if username == TOKEN_USERNAME {
                        return Ok(Some(Credential::IdentityToken(secret.to_owned())));
                    }
                    if !username.is_empty() || !secret.is_empty() {
                        return Ok(Some(Credential::Basic {
                            username: username.to_owned(),
                            password: secret.to_owned(),
                        }));
                    }
                }
                Err(HelperError::NotFound) => {}
                Err(HelperError::Failed(e)) => return Err(e),
            }
        }
        let Some(auths) = config.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let Some(entry) = auths
            .iter()
            .find(|(k, _)| normalize_key(k) == registry)
            .and_then(|(_, v)| v.as_object())
        else {
            return Ok(None);
        };
        let field = |k: &str| entry.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        if let Some(token) = field("identitytoken") {
            return Ok(Some(Credential::IdentityToken(token.to_owned())));
        }
        if let Some(auth) = field("auth") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| self.bad(registry, "the `auth` entry is not base64 of user:password"))?;
            let (username, password) = decoded
                .split_once(':')
                .ok_or_else(|| self.bad(registry, "the `auth` entry is not base64 of user:password"))?;
            return Ok(Some(Credential::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            }));
        }
        match (field("username"), field("password")) {
            (Some(u), Some(p)) => Ok(Some(Credential::Basic {
                username: u.to_owned(),
                password: p.to_owned(),
            })),
            _ => Ok(None),
        }
    }
}

/// The helper configured for `registry`: its `credHelpers` entry, else `credsStore`.
fn helper_for(config: &Map<String, Value>, registry: &str) -> Option<String> {
    let specific = config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|m| m.iter().find(|(k, _)| normalize_key(k) == registry))
        .and_then(|(_, v)| v.as_str());
    specific
        .or_else(|| config.get("credsStore").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The key a registry is filed under (and the server a helper is asked about).
fn server_key(registry: &str) -> String {
    if registry == DOCKER_HUB {
        DOCKER_HUB_KEY.to_owned()
    } else {
        registry.to_owned()
    }
}

/// The registry host an `auths`/`credHelpers` key means: without scheme and
/// path, with Docker Hub's aliases folded into `docker.io`.
fn normalize_key(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let k = k.split('/').next().unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB,
        k => k,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn basic(u: &str, p: &str) -> Credential {
        Credential::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn reads_auths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let cfg = DockerConfig::open(&path);
        assert_eq!(
            cfg.get("reg.example").unwrap(),
            None,
            "missing file is no credentials"
        );
        fs::write(
            &path,
            r#"{"auths":{
                "https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldDpjb2xvbg=="},
                "reg.example:5000":{"auth":"","identitytoken":"refresh-me"},
                "http://old.example/v2/":{"username":"o","password":"p"}
            },"psFormat":"x"}"#,
        )
        .unwrap();
        assert_eq!(cfg.get("docker.io").unwrap(), Some(basic("hub", "secret:colon")));
        assert_eq!(
            cfg.get("reg.example:5000").unwrap(),
            Some(Credential::IdentityToken("refresh-me".into()))
        );
        assert_eq!(cfg.get("old.example").unwrap(), Some(basic("o", "p")));
        assert_eq!(cfg.get("reg.example").unwrap(), None);
        fs::write(&path, r#"{"auths":{"x.example":{"auth":"!!"}}}"#).unwrap();
        assert!(matches!(cfg.get("x.example"), Err(Error::Credentials { .. })));
        fs::write(&path, vec![b' '; 2 * 1024 * 1024]).unwrap();
        assert!(cfg.get("x.example").is_err(), "oversized file refused");
    }

    #[test]
    fn store_and_erase_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.json");
        let cfg = DockerConfig::open(&path);
        cfg.store("reg.example", &basic("u", "p")).unwrap();
        fs::write(
            &path,
            fs::read_to_string(&path)
                .unwrap()
                .replacen('{', r#"{"currentContext":"keep-me","#, 1),
        )
        .unwrap();
        cfg.store("docker.io", &Credential::IdentityToken("tok".into()))
            .unwrap();
        cfg.store("reg.example", &basic("u2", "p2")).unwrap();
        assert_eq!(cfg.get("reg.example").unwrap(), Some(basic("u2", "p2")));
        assert_eq!(
            cfg.get("docker.io").unwrap(),
            Some(Credential::IdentityToken("tok".into()))
        );
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("keep-me") && text.contains(DOCKER_HUB_KEY),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(cfg.erase("reg.example").unwrap());
        assert!(!cfg.erase("reg.example").unwrap());
        assert_eq!(cfg.get("reg.example").unwrap(), None);
        assert!(fs::read_to_string(&path).unwrap().contains("keep-me"));
    }

    #[cfg(unix)]
    #[test]
    fn a_helper_that_hangs_is_stopped() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("docker-credential-stuck");
        fs::write(&p, "#!/bin/sh\nexec sleep 30\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, r#"{"credsStore":"stuck"}"#).unwrap();
        let cfg = DockerConfig::open(&path)
            .with_helper_dir(dir.path())
            .with_helper_timeout(std::time::Duration::from_millis(300));
        let started = std::time::Instant::now();
        let e = cfg.get("reg.example").unwrap_err();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(e.to_string().contains("did not answer"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn credential_helpers() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        // A helper that keeps one credential in a file, as a keychain would.
        let script = format!(
            r#"#!/bin/sh
store="{dir}/store-$(basename "$0")"
input=$(cat)
echo "$1 $input" >> "{log}"
case "$1" in
  get) if [ -f "$store" ]; then cat "$store"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) echo "$input" > "$store" ;;
  erase) if [ -f "$store" ]; then rm "$store"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
"#,
            dir = dir.path().display(),
            log = log.display()
        );
        for name in ["docker-credential-fake", "docker-credential-other"] {
            let p = dir.path().join(name);
            fs::write(&p, &script).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"credHelpers":{"reg.example":"fake"},"credsStore":"other"}"#,
        )
        .unwrap();
        let cfg = DockerConfig::open(&path).with_helper_dir(dir.path());
        assert_eq!(cfg.get("reg.example").unwrap(), None);
        cfg.store("reg.example", &basic("hu", "hp")).unwrap();
        assert_eq!(cfg.get("reg.example").unwrap(), Some(basic("hu", "hp")));
        // Everything else goes to credsStore, identity tokens as <token>.
        cfg.store("docker.io", &Credential::IdentityToken("rt".into()))
            .unwrap();
        assert_eq!(
            cfg.get("docker.io").unwrap(),
            Some(Credential::IdentityToken("rt".into()))
        );
        let logged = fs::read_to_string(&log).unwrap();
        assert!(logged.contains("get reg.example"), "{logged}");
        assert!(
            logged.contains(r#""ServerURL":"https://index.docker.io/v1/""#),
            "{logged}"
        );
        assert!(cfg.erase("reg.example").unwrap());
        assert!(!cfg.erase("reg.example").unwrap());
        assert_eq!(cfg.get("reg.example").unwrap(), None);
        assert!(
            !fs::read_to_string(&path).unwrap().contains("auths"),
            "helpers keep secrets out of the file"
        );
        // A missing helper is a clear error.
        fs::write(&path, r#"{"credsStore":"absent"}"#).unwrap();
        let e = cfg.get("reg.example").unwrap_err().to_string();
        assert!(e.contains("docker-credential-absent"), "{e}");
    }
}
