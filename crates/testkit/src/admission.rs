//! `signet serve admission` started as a real process on a free loopback
//! port, with its own serving CA and a Gatekeeper client certificate, and
//! an HTTPS client for it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

use crate::tls::TlsFiles;

/// The running server; killed on drop (its log is printed if a test panicked).
pub struct AdmissionServer {
    child: Child,
    port: u16,
    /// The serving CA, certificate and key.
    pub tls: TlsFiles,
    /// The client certificate Gatekeeper would present (its CA is the server's `clientCAFile`).
    pub gatekeeper: TlsFiles,
    /// The server's stderr.
    pub log: PathBuf,
}

impl Drop for AdmissionServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- server log\n{}",
                fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl AdmissionServer {
    /// Starts `binary serve admission` with `config` (the server's
    /// configuration as JSON, without `listen` and `tls`, which this fills
    /// in) from files written under `dir`.
    pub fn start(binary: &Path, dir: &Path, mut config: Value) -> Self {
        fs::create_dir_all(dir).unwrap();
        let tls = crate::tls::server(dir, "serving-");
        let gatekeeper = crate::tls::client(dir, "gatekeeper-", "gatekeeper-webhook");
        config["listen"] = json!("127.0.0.1:0");
        config["tls"] = json!({
            "certFile": tls.cert_file,
            "keyFile": tls.key_file,
            "clientCAFile": gatekeeper.ca_file,
        });
        // JSON is YAML: the server reads either.
        let config_file = dir.join("admission.yaml");
        fs::write(&config_file, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        let log = dir.join("server.log");
        let mut child = Command::new(binary)
            .args(["serve", "admission", "--config"])
            .arg(&config_file)
            .env(
                "RUST_LOG",
                std::env::var("SIGNET_ADMISSION_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(port) = line
            .trim()
            .strip_prefix("signet admission listening on https://")
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            panic!(
                "the server did not start: {line:?}\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Self {
            child,
            port,
            tls,
            gatekeeper,
            log,
        }
    }

    /// `https://localhost:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// An HTTPS client trusting the server's CA, optionally presenting
    /// `identity` — then, like Gatekeeper, over TLS 1.3 only.
    pub fn client(&self, identity: Option<&TlsFiles>) -> reqwest::blocking::Client {
        let ca = reqwest::Certificate::from_pem(self.tls.ca_pem.as_bytes()).unwrap();
        let mut b = reqwest::blocking::Client::builder()
            .no_proxy()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(20));
        if let Some(id) = identity {
            b = b
                .identity(reqwest::Identity::from_pem(&id.identity_pem()).unwrap())
                .min_tls_version(reqwest::tls::Version::TLS_1_3);
        }
        b.build().unwrap()
    }

    /// POSTs `body`; the status and the answer (JSON, or the text as a string).
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client(None)
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
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

/// An AdmissionReview v1 for a Pod in `namespace` running `images`, each
/// `(container list, image)`.
pub fn pod_review(namespace: &str, images: &[(&str, &str)]) -> Value {
    review(
        "Pod",
        "",
        namespace,
        json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p" }, "spec": pod_spec(images) }),
    )
}

/// A pod spec with `images`, each `(container list, image)`; containers are
/// named `<list>-<index>`.
pub fn pod_spec(images: &[(&str, &str)]) -> Value {
    let mut spec = serde_json::Map::new();
    for (list, image) in images {
        let entry = spec.entry(list.to_string()).or_insert(json!([]));
        if let Some(a) = entry.as_array_mut() {
            let n = a.len();
            a.push(json!({ "name": format!("{list}-{n}"), "image": image }));
        }
    }
    Value::Object(spec)
}

/// An AdmissionReview v1 (operation CREATE) for `object` of `kind` in `group`.
pub fn review(kind: &str, group: &str, namespace: &str, object: Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{kind}-{namespace}"),
            "kind": { "group": group, "version": "v1", "kind": kind },
            "resource": { "group": group, "version": "v1", "resource": format!("{}s", kind.to_lowercase()) },
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": { "username": "tester" },
            "object": object,
            "dryRun": false,
        }
    })
}
