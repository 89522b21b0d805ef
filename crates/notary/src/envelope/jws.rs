//! The JWS envelope (`application/jose+json`): JWS JSON flattened
//! serialisation, as `signature-envelope-jws.md` and notation-core-go write it.
//!
//! Reading follows notation-core-go where the spec is silent: unknown
//! top-level and unprotected members are ignored, and top-level and
//! unprotected member names match case-insensitively (Go's `encoding/json`
//! does, and notation-go's test envelopes spell `io.cncf.notary.SigningAgent`).
//! Signet is stricter in three places: duplicate JSON keys anywhere are errors,
//! base64 must be canonical (no `=` in base64url, no stray trailing bits), and
//! protected-header names match exactly, since they are what was signed.
//!
//! Writing reproduces notation byte for byte: protected header keys sorted,
//! no whitespace, Go's HTML escaping, `crit` ordered signing scheme, extended
//! critical keys, authentic signing time, expiry.

use std::collections::BTreeMap;

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::{Map, Value};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{
    Envelope, EnvelopeError, EnvelopeFormat, PAYLOAD_CONTENT_TYPE, Prepared, SignRequest,
    attributes::{
        KEY_AUTHENTIC_SIGNING_TIME, KEY_EXPIRY, KEY_SIGNING_AGENT, KEY_SIGNING_SCHEME, KEY_SIGNING_TIME,
        KEY_TIMESTAMP_SIGNATURE, ProtectedFields, UnsignedAttributes,
    },
    check_chain, json,
};
use crate::algorithm::SignatureAlgorithm;

fn malformed(reason: impl Into<String>) -> EnvelopeError {
    EnvelopeError::jws(reason)
}

/// Parses a JWS envelope and checks the format rules.
pub(crate) fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let doc = json::parse_strict(bytes).map_err(|e| malformed(format!("not valid JSON: {e}")))?;
    let Value::Object(top) = doc else {
        return Err(malformed("the envelope must be a JSON object"));
    };
    if member(&top, "signatures", "envelope")?.is_some() {
        return Err(malformed(
            "the general JWS JSON serialisation (\"signatures\") is not supported, only the flattened one",
        ));
    }
    let protected_b64 = required_str(&top, "protected")?;
    let payload_b64 = required_str(&top, "payload")?;
    let signature_b64 = required_str(&top, "signature")?;

    let protected_raw = decode_url(protected_b64, "protected")?;
    let payload = decode_url(payload_b64, "payload")?;
    let signature = decode_url(signature_b64, "signature")?;
    if payload.is_empty() {
        return Err(malformed("\"payload\" is empty"));
    }
    if signature.is_empty() {
        return Err(malformed("\"signature\" is empty"));
    }
    // notation-core-go decodes the payload as JWT claims, so it must be a JSON object.
    match json::parse_strict(&payload) {
        Ok(Value::Object(_)) => {}
        Ok(_) => return Err(malformed("\"payload\" must be a JSON object")),
        Err(e) => return Err(malformed(format!("\"payload\" is not valid JSON: {e}"))),
    }

    let (alg, fields) = parse_protected(&protected_raw)?;
    let (payload_content_type, signed) = fields.into_signed()?;

    let empty = Map::new();
    let header = match member(&top, "header", "envelope")? {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(h)) => h,
        Some(_) => return Err(malformed("\"header\" must be a JSON object")),
    };
    let certificate_chain = parse_x5c(member(header, "x5c", "header")?)?;
    check_chain(&certificate_chain)?;
    let unsigned = parse_unsigned(header)?;

    let mut signing_input = Vec::with_capacity(protected_b64.len() + 1 + payload_b64.len());
    signing_input.extend_from_slice(protected_b64.as_bytes());
    signing_input.push(b'.');
    signing_input.extend_from_slice(payload_b64.as_bytes());

    Ok(Envelope {
        format: EnvelopeFormat::Jws,
        payload_content_type,
        payload,
        signed,
        unsigned,
        algorithm: alg,
        signature,
        certificate_chain,
        signing_input,
    })
}

/// Looks a member up the way Go does (ASCII case-insensitively); two
/// spellings of one name are ambiguous and rejected.
fn member<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    within: &str,
) -> Result<Option<&'a Value>, EnvelopeError> {
    let mut found = obj.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
    let first = found.next();
    if found.next().is_some() {
        return Err(malformed(format!(
            "member {name:?} appears more than once in the {within} (names match case-insensitively)"
        )));
    }
    Ok(first.map(|(_, v)| v))
}

fn required_str<'a>(top: &'a Map<String, Value>, name: &str) -> Result<&'a str, EnvelopeError> {
    match member(top, name, "envelope")? {
        Some(Value::String(s)) => Ok(s),
        None => Err(malformed(format!("\"{name}\" is missing"))),
        Some(_) => Err(malformed(format!("\"{name}\" must be a string"))),
    }
}

fn decode_url(s: &str, what: &str) -> Result<Vec<u8>, EnvelopeError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| malformed(format!("\"{what}\" is not base64url without padding: {e}")))
}

fn decode_std(s: &str, what: &str) -> Result<Vec<u8>, EnvelopeError> {
    STANDARD
        .decode(s)
        .map_err(|e| EnvelopeError::InvalidUnprotectedHeader(format!("{what} is not padded base64: {e}")))
}

fn parse_protected(raw: &[u8]) -> Result<(SignatureAlgorithm, ProtectedFields), EnvelopeError> {
    let bad = |m: String| EnvelopeError::InvalidProtectedHeader(m);
    let value = json::parse_strict(raw).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(bad("the protected header must be a JSON object".into()));
    };
    let text = |k: &str, v: Value| match v {
        Value::String(s) => Ok(s),
        _ => Err(bad(format!("{k:?} must be a string"))),
    };
    let time = |k: &str, v: Value| {
        let s = text(k, v)?;
        OffsetDateTime::parse(&s, &Rfc3339)
            .map_err(|e| bad(format!("{k:?} is not an RFC 3339 time ({s:?}): {e}")))
    };
    let mut alg = None;
    let mut fields = ProtectedFields::default();
    for (key, value) in map {
        match key.as_str() {
            "alg" => {
                let name = text("alg", value)?;
                alg = Some(
                    SignatureAlgorithm::from_jws_name(&name)
                        .ok_or_else(|| EnvelopeError::UnsupportedAlgorithm(format!("{name:?}")))?,
                );
            }
            "cty" => fields.cty = Some(text("cty", value)?),
            "crit" => {
                let Value::Array(items) = value else {
                    return Err(bad("\"crit\" must be an array of strings".into()));
                };
                let names = items
                    .into_iter()
                    .map(|v| text("crit", v))
                    .collect::<Result<Vec<_>, _>>()?;
                fields.crit = Some(names);
            }
            KEY_SIGNING_SCHEME => fields.signing_scheme = Some(text(KEY_SIGNING_SCHEME, value)?),
            KEY_SIGNING_TIME => fields.signing_time = Some(time(KEY_SIGNING_TIME, value)?),
            KEY_AUTHENTIC_SIGNING_TIME => {
                fields.authentic_signing_time = Some(time(KEY_AUTHENTIC_SIGNING_TIME, value)?)
            }
            KEY_EXPIRY => fields.expiry = Some(time(KEY_EXPIRY, value)?),
            _ => fields.extended.push((key, value)),
        }
    }
    let alg = alg.ok_or_else(|| bad("\"alg\" is missing".into()))?;
    Ok((alg, fields))
}

fn parse_x5c(x5c: Option<&Value>) -> Result<Vec<Vec<u8>>, EnvelopeError> {
    let items = match x5c {
        None | Some(Value::Null) => return Err(EnvelopeError::MissingCertificateChain),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(EnvelopeError::InvalidUnprotectedHeader(
                "\"x5c\" must be an array of base64 strings".into(),
            ));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => decode_std(s, &format!("x5c[{i}]")),
            _ => Err(EnvelopeError::InvalidUnprotectedHeader(format!(
                "x5c[{i}] must be a string"
            ))),
        })
        .collect()
}

fn parse_unsigned(header: &Map<String, Value>) -> Result<UnsignedAttributes, EnvelopeError> {
    let signing_agent = match member(header, KEY_SIGNING_AGENT, "header")? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(EnvelopeError::InvalidUnprotectedHeader(format!(
                "{KEY_SIGNING_AGENT:?} must be a string"
            )));
        }
    };
    let timestamp_signature = match member(header, KEY_TIMESTAMP_SIGNATURE, "header")? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(decode_std(s, KEY_TIMESTAMP_SIGNATURE)?),
        Some(_) => {
            return Err(EnvelopeError::InvalidUnprotectedHeader(format!(
                "{KEY_TIMESTAMP_SIGNATURE:?} must be a base64 string"
            )));
        }
    };
    Ok(UnsignedAttributes {
        signing_agent,
        timestamp_signature,
    })
}

/// Produces the envelope bytes for a validated request.
pub(crate) fn produce(
    req: &SignRequest,
    prepared: &Prepared,
    alg: SignatureAlgorithm,
) -> Result<Vec<u8>, EnvelopeError> {
    let bad = |m: String| EnvelopeError::InvalidSignRequest(m);
    if !matches!(json::parse_strict(&req.payload), Ok(Value::Object(_))) {
        return Err(bad("a JWS payload must be a JSON object".into()));
    }
    let rfc3339 = |t: OffsetDateTime, what: &str| {
        t.format(&Rfc3339)
            .map(Value::String)
            .map_err(|e| bad(format!("{what} cannot be written as RFC 3339: {e}")))
    };

    let mut crit = vec![KEY_SIGNING_SCHEME.to_owned()];
    crit.extend(prepared.extended_critical.iter().cloned());
    let time_key = Prepared::time_key(req);
    if time_key == KEY_AUTHENTIC_SIGNING_TIME {
        crit.push(KEY_AUTHENTIC_SIGNING_TIME.to_owned());
    }
    // Sorted keys: notation's JWT library writes the header from a Go map.
    let mut header: BTreeMap<String, Value> = BTreeMap::new();
    header.insert("alg".into(), Value::String(alg.jws_name().into()));
    header.insert("cty".into(), Value::String(PAYLOAD_CONTENT_TYPE.into()));
    header.insert(
        KEY_SIGNING_SCHEME.into(),
        Value::String(req.signing_scheme.as_str().into()),
    );
    header.insert(
        time_key.into(),
        rfc3339(prepared.signing_time, "the signing time")?,
    );
    if let Some(expiry) = prepared.expiry {
        crit.push(KEY_EXPIRY.to_owned());
        header.insert(KEY_EXPIRY.into(), rfc3339(expiry, "the expiry")?);
    }
    for attr in &req.extended {
        header.insert(attr.key.clone(), attr.value.clone());
    }
    header.insert(
        "crit".into(),
        Value::Array(crit.into_iter().map(Value::String).collect()),
    );

    let header_json = json::to_go_json(&header).map_err(|e| bad(format!("protected header: {e}")))?;
    let protected = URL_SAFE_NO_PAD.encode(header_json);
    let payload = URL_SAFE_NO_PAD.encode(&req.payload);
    let signing_input = format!("{protected}.{payload}");
    let signature = req
        .signer
        .sign(signing_input.as_bytes())
        .map_err(|e| EnvelopeError::Signing(e.to_string()))?;

    let certificate_chain = Prepared::chain_after_signing(req)?;
    let timestamp = super::timestamp_for(req, &signature)?;
    // Member order as notation-core-go's structs declare them.
    let mut unprotected = Map::new();
    if let Some(token) = timestamp {
        unprotected.insert(
            KEY_TIMESTAMP_SIGNATURE.into(),
            Value::String(STANDARD.encode(token)),
        );
    }
    unprotected.insert(
        "x5c".into(),
        Value::Array(
            certificate_chain
                .iter()
                .map(|c| Value::String(STANDARD.encode(c)))
                .collect(),
        ),
    );
    if let Some(agent) = req.signing_agent.as_ref().filter(|a| !a.is_empty()) {
        unprotected.insert(KEY_SIGNING_AGENT.into(), Value::String(agent.clone()));
    }
    let mut env = Map::new();
    env.insert("payload".into(), Value::String(payload));
    env.insert("protected".into(), Value::String(protected));
    env.insert("header".into(), Value::Object(unprotected));
    env.insert(
        "signature".into(),
        Value::String(URL_SAFE_NO_PAD.encode(signature)),
    );
    json::to_go_json(&env).map_err(|e| EnvelopeError::Signing(format!("envelope JSON: {e}")))
}
