//! The HTTPS client of the signing service, shared by `signet sign
//! --remote`, `signet signer profile` and the `notation-signet` plugin.

use std::{path::Path, time::Duration};

use anyhow::{Context, Result, bail};

/// The environment variable holding the API token or OIDC JWT.
pub const TOKEN_ENV: &str = "SIGNET_SIGNER_TOKEN";

/// A client for the service: base URL, credential, TLS roots.
pub struct Client {
    base: String,
    credential: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// `base` is the service URL; the credential comes from `token_file`,
    /// else `$SIGNET_SIGNER_TOKEN`; `ca_file` adds TLS roots.
    pub fn new(base: &str, token_file: Option<&Path>, ca_file: Option<&Path>) -> Result<Self> {
        if !(base.starts_with("https://")
            || base.starts_with("http://127.0.0.1")
            || base.starts_with("http://localhost"))
        {
            bail!("signing service {base:?}: it is reached over https:// (http:// only on localhost)");
        }
        let credential = match token_file {
            Some(f) => std::fs::read_to_string(f)
                .with_context(|| format!("reading the token file {}", f.display()))?
                .trim()
                .to_owned(),
            None => std::env::var(TOKEN_ENV)
                .map(|t| t.trim().to_owned())
                .map_err(|_| {
                    anyhow::anyhow!(
                        "no credential: set ${TOKEN_ENV} to an API token or OIDC JWT, or give a token file"
                    )
                })?,
        };
        if credential.is_empty() {
            bail!("the credential (API token or OIDC JWT) is empty");
        }
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = ca_file {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{}: not PEM certificates", ca.display()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            credential,
            http: builder.build().context("building the HTTPS client")?,
        })
    }

    /// POSTs `body` to `path` and returns the JSON answer, or the service's
    /// error message.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value> {
        self.call(reqwest::Method::POST, path, Some(body))
    }

    /// Sends `body` (if any) to `path` with `method` and returns the JSON
    /// answer, or the service's error message.
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.credential);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .with_context(|| format!("cannot reach the signing service at {url}"))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            bail!("the signing service refused ({status}): {message}");
        }
        serde_json::from_str(&text).with_context(|| format!("the answer from {url} is not JSON"))
    }
}

pub use signer::service::SignResponse;
