//! `signet serve signer` started as a real process on a loopback port,
//! with an HTTPS client that can present API tokens, OIDC JWTs or a client
//! certificate; it can be killed with SIGKILL and started again on the same
//! port (certificates it issued name that port in their CRL and OCSP URLs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

use crate::tls::TlsFiles;

/// The running service; killed on drop (its log is printed if a test panicked).
pub struct SignerServer {
    binary: PathBuf,
    child: Option<Child>,
    env: Vec<(String, String)>,
    /// The port it listens on (kept across restarts).
    pub port: u16,
    /// The configuration file written.
    pub config_file: PathBuf,
    /// The serving CA, certificate and key.
    pub tls: TlsFiles,
    /// A client certificate issued by the `clientCAFile` the server trusts.
    pub client_cert: TlsFiles,
    /// The server's stderr (appended across restarts).
    pub log: PathBuf,
}

impl Drop for SignerServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- signer log\n{}",
                fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl SignerServer {
    /// Writes `config` (the service's configuration as JSON, without
    /// `listen`, `publicUrl` and `tls`, which this fills in) under `dir` and
    /// starts `binary serve signer` with `env` added to its environment.
    pub fn start(binary: &Path, dir: &Path, mut config: Value, env: &[(&str, &str)]) -> Self {
        fs::create_dir_all(dir).unwrap();
        let tls = crate::tls::server(dir, "signer-serving-");
        let client_cert = crate::tls::client(dir, "signer-client-", "builder-7");
        let port = crate::revocation::free_port();
        config["listen"] = json!(format!("127.0.0.1:{port}"));
        config["publicUrl"] = json!(format!("https://localhost:{port}"));
        // Per-job certificates' CRL and OCSP URLs need the plain-HTTP listener.
        if config.get("http").is_none() {
            config["http"] = json!({"listen": format!("127.0.0.1:{}", crate::revocation::free_port())});
        }
        config["tls"] = json!({
            "certFile": tls.cert_file,
            "keyFile": tls.key_file,
            "clientCAFile": client_cert.ca_file,
        });
        let config_file = dir.join("signer.yaml");
        fs::write(&config_file, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        let mut server = Self {
            binary: binary.to_owned(),
            child: None,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            port,
            config_file,
            tls,
            client_cert,
            log: dir.join("signer.log"),
        };
        server.restart();
        server
    }

    /// Starts the process (again) and waits until `/readyz` answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the signer is still running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(&self.binary);
        cmd.args(["serve", "signer", "--config"])
            .arg(&self.config_file)
            .env(
                "RUST_LOG",
                std::env::var("SIGNET_SIGNER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let (line, _) = crate::read_first_line(child.stdout.take().unwrap(), Duration::from_secs(60));
        if !line.starts_with("signet signer listening on https://") {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the signer did not start: {line:?}\n{}",
                fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.client(None).get(self.url("/readyz")).send()
                && r.status().is_success()
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the signer never became ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// CPU time (user + system) the running process has used so far, from
    /// `/proc/<pid>/stat` (Linux); 0 where that cannot be read.
    pub fn cpu_seconds(&self) -> f64 {
        let Some(child) = &self.child else { return 0.0 };
        let stat = fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        // Field 14 is index 11 here (the first two fields are gone); USER_HZ is 100 on Linux.
        (ticks(11) + ticks(12)) / 100.0
    }

    /// SIGKILL, no shutdown at all.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("not running");
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        c.wait().unwrap()
    }

    /// `https://localhost:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// An HTTPS client trusting the server's CA, optionally presenting a client certificate.
    pub fn client(&self, identity: Option<&TlsFiles>) -> reqwest::blocking::Client {
        let ca = reqwest::Certificate::from_pem(self.tls.ca_pem.as_bytes()).unwrap();
        let mut b = reqwest::blocking::Client::builder()
            .no_proxy()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(60));
        if let Some(id) = identity {
            b = b.identity(reqwest::Identity::from_pem(&id.identity_pem()).unwrap());
        }
        b.build().unwrap()
    }

    /// Sends `body` (JSON, or nothing) with `method` to `path` with the
    /// bearer credential; the status and the answer (JSON, or the text as a
    /// string).
    pub fn call(&self, method: &str, path: &str, bearer: Option<&str>, body: Option<&Value>) -> (u16, Value) {
        let client = self.client(None);
        let mut req = client.request(method.parse().unwrap(), self.url(path));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let r = req.send().unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// The sum of the samples of metric `name` at `/metrics`.
    pub fn metric(&self, name: &str) -> f64 {
        let text = self
            .client(None)
            .get(self.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        crate::metric_sum(&text, name)
    }
}
