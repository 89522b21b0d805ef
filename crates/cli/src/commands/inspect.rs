//! `signet inspect`: every signature of an artifact, decoded, as notation's
//! `inspect` prints it (a tree, or JSON).
//!
//! The signature rendering here is shared with `signet blob inspect`.

use std::{collections::BTreeMap, process::ExitCode};

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use notary::{Descriptor, envelope::Envelope, timestamp::SignedToken, x509::Certificate};
use oci::{manifest::ARTIFACT_TYPE_NOTARY_SIGNATURE, signature};

use crate::target::{ArtifactArgs, Resolved};
use serde_json::{Map, Value, json};
use time::{OffsetDateTime, UtcOffset};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    pub artifact: ArtifactArgs,
    /// Maximum number of signatures to examine.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_signatures: usize,
    /// Output format: `tree` (the default; `text` is accepted as an alias) or `json`.
    #[arg(short, long, default_value = "tree", value_parser = parse_format, value_name = "tree|json")]
    pub output: InspectFormat,
}

/// `--output` of the inspect commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectFormat {
    /// notation's tree.
    Tree,
    /// One JSON document.
    Json,
}

/// `tree`, `text` (an alias of tree) or `json`.
pub fn parse_format(s: &str) -> Result<InspectFormat, String> {
    match s {
        "tree" | "text" => Ok(InspectFormat::Tree),
        "json" => Ok(InspectFormat::Json),
        _ => Err(format!(
            "unrecognized output format {s:?}: use \"tree\" or \"json\""
        )),
    }
}

pub fn run(config: &crate::config::ConfigDir, args: Args) -> Result<ExitCode> {
    if args.max_signatures == 0 {
        bail!("max-signatures value 0 must be a positive number");
    }
    let Resolved { store, target, shown } = args.artifact.open_resolved(config)?;
    let store = store.as_ref();
    let mut signatures = signature::list_signatures(store, &target)?;
    if signatures.len() > args.max_signatures {
        eprintln!(
            "Warning: exceeded configured limit of max signatures {} to examine",
            args.max_signatures
        );
        signatures.truncate(args.max_signatures);
    }

    let mut skipped = false;
    let mut tree_nodes = Vec::new();
    let mut json_sigs = Vec::new();
    for sig in &signatures {
        let digest = sig.manifest.digest.as_str();
        let bytes = match signature::fetch_envelope(store, sig) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("Warning: unable to fetch signature {digest} due to error: {e}");
                skipped = true;
                continue;
            }
        };
        let media_type = sig.envelope.media_type.as_str();
        let rendered = Envelope::parse(media_type, &bytes)
            .map_err(anyhow::Error::from)
            .and_then(|env| SignatureView::new(media_type, &env));
        let view = match rendered {
            Ok(v) => v,
            Err(e) => {
                eprintln!("Warning: Skipping signature {digest} because of error: {e:#}");
                skipped = true;
                continue;
            }
        };
        match args.output {
            InspectFormat::Tree => tree_nodes.push(view.tree(digest)),
            InspectFormat::Json => json_sigs.push(view.json(Some(digest))),
        }
    }

    match args.output {
        InspectFormat::Tree if tree_nodes.is_empty() => {
            println!("{shown} has no associated signature");
        }
        InspectFormat::Tree => {
            let mut out = String::from("Inspecting all signatures for signed artifact\n");
            let mut root = Node::new(shown);
            root.add(ARTIFACT_TYPE_NOTARY_SIGNATURE);
            root.render(&mut out);
            let last = tree_nodes.len() - 1;
            for (i, node) in tree_nodes.iter().enumerate() {
                let (marker, next) = if i == last {
                    (ITEM_LAST, SUB_LAST)
                } else {
                    (ITEM, SUB)
                };
                node.render_at(&mut out, SUB_LAST, marker, &format!("{SUB_LAST}{next}"));
            }
            print!("{out}");
        }
        InspectFormat::Json => {
            let mut doc = Map::new();
            doc.insert("mediaType".into(), target.media_type.clone().into());
            doc.insert("signatures".into(), Value::Array(json_sigs));
            print_go_json(&Value::Object(doc));
        }
    }
    if skipped {
        bail!("at least one signature was skipped and not displayed");
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// The tree (notation's internal/display/metadata/tree).

const ITEM: &str = "├── ";
const ITEM_LAST: &str = "└── ";
const SUB: &str = "│   ";
const SUB_LAST: &str = "    ";

/// A tree node: a line of text and its children.
#[derive(Debug, Clone)]
pub struct Node {
    value: String,
    children: Vec<Node>,
}

impl Node {
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            children: Vec::new(),
        }
    }

    /// Adds a child and returns it.
    pub fn add(&mut self, value: impl Into<String>) -> &mut Node {
        self.children.push(Node::new(value));
        let last = self.children.len() - 1;
        &mut self.children[last]
    }

    /// Adds a `key: value` child and returns it.
    pub fn add_pair(&mut self, key: &str, value: &str) -> &mut Node {
        self.add(format!("{key}: {value}"))
    }

    /// Renders the node as a root.
    pub fn render(&self, out: &mut String) {
        self.render_at(out, "", "", "");
    }

    fn render_at(&self, out: &mut String, prefix: &str, marker: &str, next_prefix: &str) {
        out.push_str(prefix);
        out.push_str(marker);
        out.push_str(&self.value);
        out.push('\n');
        let last = self.children.len().saturating_sub(1);
        for (i, child) in self.children.iter().enumerate() {
            let (item, sub) = if i == last {
                (ITEM_LAST, SUB_LAST)
            } else {
                (ITEM, SUB)
            };
            child.render_at(out, next_prefix, item, &format!("{next_prefix}{sub}"));
        }
    }
}

// ---------------------------------------------------------------------------
// One decoded signature.

/// What `inspect` shows of one envelope, decoded once for both output forms.
pub struct SignatureView {
    algorithm: &'static str,
    envelope_media_type: String,
    content_type: String,
    signing_scheme: &'static str,
    signing_time: Option<OffsetDateTime>,
    expiry: Option<OffsetDateTime>,
    extended: Vec<(String, String)>,
    user_metadata: Option<BTreeMap<String, String>>,
    signing_agent: Option<String>,
    timestamp: Option<TimestampView>,
    certificates: Vec<Certificate>,
    signed_artifact: Descriptor,
}

/// The decoded timestamp countersignature.
enum TimestampView {
    Decoded {
        lower: OffsetDateTime,
        upper: OffsetDateTime,
        certificates: Vec<Certificate>,
    },
    Error(String),
}

impl SignatureView {
    /// Decodes `env` (of `media_type`); fails where notation's inspect fails
    /// (an unreadable payload or certificate), which skips the signature.
    pub fn new(media_type: &str, env: &Envelope) -> Result<Self> {
        let mut signed_artifact = env
            .target_artifact()
            .context("cannot read the signed artifact from the payload")?;
        let user_metadata = signed_artifact.annotations.take().filter(|a| !a.is_empty());
        let certificates = env
            .certificate_chain
            .iter()
            .map(|der| Certificate::from_der(der.clone()))
            .collect::<Result<Vec<_>, _>>()
            .context("cannot read the certificate chain")?;
        let mut extended = Vec::new();
        if let Some(p) = &env.signed.verification_plugin {
            extended.push(("io.cncf.notary.verificationPlugin".to_owned(), p.clone()));
        }
        if let Some(v) = &env.signed.verification_plugin_min_version {
            extended.push((
                "io.cncf.notary.verificationPluginMinVersion".to_owned(),
                v.clone(),
            ));
        }
        for a in &env.signed.extended {
            let v = match &a.value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            extended.push((a.key.clone(), v));
        }
        Ok(Self {
            algorithm: env.algorithm.spec_name(),
            envelope_media_type: media_type.to_owned(),
            content_type: env.payload_content_type.clone(),
            signing_scheme: env.signed.signing_scheme.as_str(),
            signing_time: env.signed.effective_signing_time(),
            expiry: env.signed.expiry,
            extended,
            user_metadata,
            signing_agent: env.unsigned.signing_agent.clone().filter(|a| !a.is_empty()),
            timestamp: env
                .unsigned
                .timestamp_signature
                .as_deref()
                .map(|token| decode_timestamp(token, &env.signature)),
            certificates,
            signed_artifact,
        })
    }

    /// The tree under a node named `name` (a digest, or a signature path).
    pub fn tree(&self, name: &str) -> Node {
        let mut root = Node::new(name);
        root.add_pair("signature algorithm", self.algorithm);
        root.add_pair("signature envelope type", &self.envelope_media_type);

        let signed = root.add("signed attributes");
        signed.add_pair("content type", &self.content_type);
        signed.add_pair("signing scheme", self.signing_scheme);
        signed.add_pair("signing time", &ansic(self.signing_time));
        if let Some(expiry) = self.expiry {
            signed.add_pair("expiry", &ansic(Some(expiry)));
        }
        for (k, v) in &self.extended {
            signed.add_pair(k, v);
        }

        let user = root.add("user defined attributes");
        match &self.user_metadata {
            None => {
                user.add("(empty)");
            }
            Some(m) => {
                for (k, v) in m {
                    user.add_pair(k, v);
                }
            }
        }

        let unsigned = root.add("unsigned attributes");
        if let Some(agent) = &self.signing_agent {
            unsigned.add_pair("signing agent", agent);
        }
        if let Some(ts) = &self.timestamp {
            let node = unsigned.add("timestamp signature");
            match ts {
                TimestampView::Decoded {
                    lower,
                    upper,
                    certificates,
                } => {
                    node.add_pair(
                        "timestamp",
                        &format!("[{}, {}]", ansic(Some(*lower)), ansic(Some(*upper))),
                    );
                    add_certificates(node, certificates);
                }
                TimestampView::Error(e) => {
                    node.add_pair("error", e);
                }
            }
        }

        add_certificates(&mut root, &self.certificates);

        let artifact = root.add("signed artifact");
        artifact.add_pair("media type", &self.signed_artifact.media_type);
        artifact.add_pair("digest", self.signed_artifact.digest.as_str());
        artifact.add_pair("size", &self.signed_artifact.size.to_string());
        root
    }

    /// The JSON form; `digest` is the signature manifest's (absent for blobs).
    pub fn json(&self, digest: Option<&str>) -> Value {
        let mut sig = Map::new();
        if let Some(d) = digest.filter(|d| !d.is_empty()) {
            sig.insert("digest".into(), d.into());
        }
        sig.insert("signatureAlgorithm".into(), self.algorithm.into());
        sig.insert(
            "signatureEnvelopeType".into(),
            self.envelope_media_type.clone().into(),
        );

        // A Go map: keys sorted.
        let mut signed: BTreeMap<String, Value> = BTreeMap::new();
        signed.insert("contentType".into(), self.content_type.clone().into());
        signed.insert("signingScheme".into(), self.signing_scheme.into());
        signed.insert("signingTime".into(), rfc3339_nano(self.signing_time).into());
        if let Some(expiry) = self.expiry {
            signed.insert("expiry".into(), rfc3339_nano(Some(expiry)).into());
        }
        for (k, v) in &self.extended {
            signed.insert(k.clone(), v.clone().into());
        }
        sig.insert(
            "signedAttributes".into(),
            Value::Object(signed.into_iter().collect()),
        );

        sig.insert(
            "userDefinedAttributes".into(),
            match &self.user_metadata {
                Some(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect()),
                None => Value::Null,
            },
        );

        let mut unsigned = Map::new();
        if let Some(agent) = &self.signing_agent {
            unsigned.insert("signingAgent".into(), agent.clone().into());
        }
        if let Some(ts) = &self.timestamp {
            let v = match ts {
                TimestampView::Decoded {
                    lower,
                    upper,
                    certificates,
                } => {
                    let mut m = Map::new();
                    m.insert(
                        "timestamp".into(),
                        format!("[{}, {}]", rfc3339_nano(Some(*lower)), rfc3339_nano(Some(*upper))).into(),
                    );
                    if !certificates.is_empty() {
                        m.insert("certificates".into(), certificates_json(certificates));
                    }
                    Value::Object(m)
                }
                TimestampView::Error(e) => json!({ "error": e }),
            };
            unsigned.insert("timestampSignature".into(), v);
        }
        sig.insert("unsignedAttributes".into(), Value::Object(unsigned));
        sig.insert("certificates".into(), certificates_json(&self.certificates));

        let artifact = serde_json::to_value(&self.signed_artifact).unwrap_or(Value::Null);
        sig.insert("signedArtifact".into(), artifact);
        Value::Object(sig)
    }
}

fn add_certificates(node: &mut Node, certs: &[Certificate]) {
    let list = node.add("certificates");
    for cert in certs {
        let c = list.add_pair("SHA256 fingerprint", &cert.sha256_thumbprint());
        c.add_pair("issued to", &cert.subject());
        c.add_pair("issued by", &cert.issuer());
        c.add_pair("expiry", &ansic(Some(cert.not_after())));
    }
}

/// A Go nil slice marshals as `null`.
fn certificates_json(certs: &[Certificate]) -> Value {
    if certs.is_empty() {
        return Value::Null;
    }
    certs
        .iter()
        .map(|cert| {
            json!({
                "SHA256Fingerprint": cert.sha256_thumbprint(),
                "issuedTo": cert.subject(),
                "issuedBy": cert.issuer(),
                "expiry": rfc3339_nano(Some(cert.not_after())),
            })
        })
        .collect()
}

/// Decodes an RFC 3161 token for display, as notation's inspect does: parse,
/// read the TSTInfo, check its message imprint against `signature`, then show
/// the range `genTime ± accuracy` and the token's certificates. Nothing here
/// says the token is trusted.
fn decode_timestamp(token: &[u8], signature: &[u8]) -> TimestampView {
    let decoded = SignedToken::parse(token).and_then(|t| {
        let ts = t.info()?.validate(signature)?;
        Ok((ts, t.certificates().to_vec()))
    });
    match decoded {
        Ok((ts, certificates)) => TimestampView::Decoded {
            lower: ts.time - ts.accuracy,
            upper: ts.time + ts.accuracy,
            certificates,
        },
        Err(e) => TimestampView::Error(format!("failed to parse timestamp countersignature: {e}")),
    }
}

// ---------------------------------------------------------------------------
// Go formatting.

/// Go's `time.ANSIC` (`Mon Jan _2 15:04:05 2006`), in the time's own offset,
/// as Go formats a time in the location it was parsed or created in.
/// `None` is Go's zero time.
pub fn ansic(t: Option<OffsetDateTime>) -> String {
    let Some(t) = t else {
        return "Mon Jan  1 00:00:00 0001".to_owned();
    };
    let weekday = t.weekday().to_string();
    let month = t.month().to_string();
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {:04}",
        &weekday[..3],
        &month[..3],
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

/// Go's `time.RFC3339Nano` (what `time.Time` marshals to in JSON): fractional
/// seconds without trailing zeros, `Z` for UTC. `None` is Go's zero time.
pub fn rfc3339_nano(t: Option<OffsetDateTime>) -> String {
    let Some(t) = t else {
        return "0001-01-01T00:00:00Z".to_owned();
    };
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let offset = t.offset();
    if offset == UtcOffset::UTC {
        s.push('Z');
    } else {
        let (h, m, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        s.push_str(&format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs()));
    }
    s
}

/// Prints `value` as Go's `json.Encoder` with a 2-space indent does: HTML
/// characters escaped, one trailing newline.
pub fn print_go_json(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    // These characters can only occur inside strings, where an escape is equivalent.
    let text = text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    println!("{text}");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn go_time_layouts() {
        assert_eq!(
            ansic(Some(datetime!(2025-01-07 08:42:43 UTC))),
            "Tue Jan  7 08:42:43 2025"
        );
        assert_eq!(
            ansic(Some(datetime!(2023-06-27 13:30:33 +08:00))),
            "Tue Jun 27 13:30:33 2023"
        );
        assert_eq!(
            rfc3339_nano(Some(datetime!(2025-01-07 08:42:43.582 UTC))),
            "2025-01-07T08:42:43.582Z"
        );
        assert_eq!(
            rfc3339_nano(Some(datetime!(2023-06-27 13:30:33 +08:00))),
            "2023-06-27T13:30:33+08:00"
        );
        assert_eq!(
            rfc3339_nano(Some(datetime!(2023-06-27 13:30:33 -03:30))),
            "2023-06-27T13:30:33-03:30"
        );
    }

    #[test]
    fn format_aliases() {
        assert_eq!(parse_format("text"), Ok(InspectFormat::Tree));
        assert_eq!(parse_format("json"), Ok(InspectFormat::Json));
        assert!(
            parse_format("yaml")
                .unwrap_err()
                .contains("unrecognized output format")
        );
    }
}
