//! Running plugins: the process side of the Notary Project plugin protocol.
//!
//! Plugins live where notation keeps them, `<config>/plugins/<name>/notation-<name>`.
//! [`PluginDir`] finds them; [`ProcessRunner`] runs `notation-<name> <command>`
//! with the JSON request on stdin, reads at most [`MAX_OUTPUT`] bytes of
//! stdout and stderr, and kills the plugin after [`TIMEOUT`]. A failing
//! plugin's stderr is read as the protocol's JSON error when it is one.

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use notary::plugin::{PluginError, PluginManager, PluginRunner, proto::ErrorResponse};

/// The most a plugin may write to stdout or stderr (notation's limit).
pub const MAX_OUTPUT: usize = 64 * 1024 * 1024;
/// How long one plugin command may run.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The executable name of plugin `name`: `notation-<name>`.
pub fn binary_name(name: &str) -> String {
    format!("notation-{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Runs one plugin executable.
#[derive(Debug, Clone)]
pub struct ProcessRunner {
    path: PathBuf,
    timeout: Duration,
    max_output: usize,
}

impl ProcessRunner {
    /// A runner for the executable at `path`, with the default limits.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            timeout: TIMEOUT,
            max_output: MAX_OUTPUT,
        }
    }

    /// Sets the time limit per command.
    #[allow(dead_code)]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

fn read_bounded(mut r: impl Read, max: usize) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let _ = (&mut r).take(limit).read_to_end(&mut buf);
    let over = buf.len() > max;
    buf.truncate(max);
    (buf, over)
}

impl PluginRunner for ProcessRunner {
    fn run(&self, command: &str, request_json: &[u8]) -> Result<Vec<u8>, PluginError> {
        let shown = format!("{} {command}", self.path.display());
        let mut child = Command::new(&self.path)
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| PluginError::Execution(format!("failed to run '{shown}': {e}")))?;
        let stdin = child.stdin.take();
        let request = request_json.to_vec();
        let writer = thread::spawn(move || {
            if let Some(mut stdin) = stdin {
                // A plugin that exits without reading its request is not an error here.
                let _ = stdin.write_all(&request);
            }
        });
        let max = self.max_output;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let out_reader = thread::spawn(move || stdout.map(|s| read_bounded(s, max)).unwrap_or_default());
        let err_reader = thread::spawn(move || stderr.map(|s| read_bounded(s, max)).unwrap_or_default());
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(PluginError::Execution(format!(
                        "'{shown}' command execution timeout after {:?}",
                        self.timeout
                    )));
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(e) => break Err(PluginError::Execution(format!("waiting for '{shown}': {e}"))),
            }
        };
        // On timeout the readers are left behind: a grandchild may still hold
        // the pipes open, and waiting for them would defeat the time limit.
        let status = status?;
        let _ = writer.join();
        let (out, out_over) = out_reader.join().unwrap_or_default();
        let (err, _) = err_reader.join().unwrap_or_default();
        if !status.success() {
            if err.is_empty() {
                return Err(PluginError::Execution(format!("'{shown}' failed: {status}")));
            }
            return match serde_json::from_slice::<ErrorResponse>(&err) {
                Ok(e) if !e.error_code.is_empty() || !e.error_message.is_empty() => {
                    Err(PluginError::Plugin(e))
                }
                _ => Err(PluginError::Malformed(format!(
                    "'{shown}' failed: {}",
                    String::from_utf8_lossy(&err).trim_end()
                ))),
            };
        }
        if out_over {
            return Err(PluginError::Malformed(format!(
                "'{shown}' wrote more than {max} bytes to stdout"
            )));
        }
        Ok(out)
    }
}

/// The plugin directory, `<config>/plugins`.
#[derive(Debug, Clone)]
pub struct PluginDir {
    root: PathBuf,
}

impl PluginDir {
    /// The plugin directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where plugin `name`'s executable is (or would be installed).
    pub fn executable(&self, name: &str) -> PathBuf {
        self.root.join(name).join(binary_name(name))
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Whether `name` can name a plugin directory (no separators, not `.`/`..`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

impl PluginManager for PluginDir {
    fn get(&self, name: &str) -> Result<Box<dyn PluginRunner + '_>, PluginError> {
        if !valid_name(name) {
            return Err(PluginError::NotFound);
        }
        let path = self.executable(name);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Box::new(ProcessRunner::new(path))),
            _ => Err(PluginError::NotFound),
        }
    }

    fn list(&self) -> Result<Vec<String>, PluginError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(PluginError::Execution(format!(
                    "reading {}: {e}",
                    self.root.display()
                )));
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| valid_name(n) && self.executable(n).is_file())
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("notation-t");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn echoes_stdout_and_reads_json_errors_and_times_out() {
        let tmp = tempfile::tempdir().unwrap();
        let ok = ProcessRunner::new(script(tmp.path(), "cat"));
        assert_eq!(ok.run("describe-key", b"{\"a\":1}").unwrap(), b"{\"a\":1}");

        let tmp2 = tempfile::tempdir().unwrap();
        let err = ProcessRunner::new(script(
            tmp2.path(),
            r#"echo '{"errorCode":"ACCESS_DENIED","errorMessage":"no"}' >&2; exit 1"#,
        ));
        match err.run("describe-key", b"{}") {
            Err(PluginError::Plugin(e)) => assert_eq!(
                (e.error_code.as_str(), e.error_message.as_str()),
                ("ACCESS_DENIED", "no")
            ),
            other => panic!("{other:?}"),
        }

        let tmp3 = tempfile::tempdir().unwrap();
        let slow =
            ProcessRunner::new(script(tmp3.path(), "exec sleep 5")).with_timeout(Duration::from_millis(200));
        let started = Instant::now();
        assert!(
            matches!(slow.run("describe-key", b"{}"), Err(PluginError::Execution(m)) if m.contains("timeout"))
        );
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}
