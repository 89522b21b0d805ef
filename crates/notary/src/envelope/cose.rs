//! The COSE envelope (`application/cose`): a tagged COSE_Sign1 (RFC 9052) as
//! `signature-envelope-cose.md` and notation-core-go write it.
//!
//! Reading works on `ciborium::Value`, which keeps map entries as a list, so
//! duplicate keys are visible and rejected (COSE libraries, coset included,
//! do not check). The protected header is kept as the exact bstr contents and
//! the signing input is built from those bytes, never from a re-encoding.
//! Like notation-core-go: tag 18 is required, `x5chain` (33) must be an array
//! of bstr, times are tag 1 with integer seconds, and the payload is attached.
//! Signet additionally rejects integer protected labels other than `alg`,
//! `crit` and `content type`, and integer labels in `crit`: Notary Project
//! extended attributes are named by text.
//!
//! Writing sorts both header maps in length-first canonical order, which
//! reproduces notation's bytes (conformance vector K02).

use std::collections::HashSet;

use ciborium::Value as Cbor;
use serde_json::Value as Json;
use time::OffsetDateTime;

use super::{
    Envelope, EnvelopeError, EnvelopeFormat, PAYLOAD_CONTENT_TYPE, Prepared, SignRequest,
    attributes::{
        KEY_AUTHENTIC_SIGNING_TIME, KEY_EXPIRY, KEY_SIGNING_AGENT, KEY_SIGNING_SCHEME, KEY_SIGNING_TIME,
        KEY_TIMESTAMP_SIGNATURE, ProtectedFields, UnsignedAttributes,
    },
    check_chain,
};
use crate::algorithm::SignatureAlgorithm;

/// CBOR tag of COSE_Sign1.
const TAG_SIGN1: u64 = 18;
/// CBOR tag of an epoch-based date/time.
const TAG_EPOCH: u64 = 1;
const LABEL_ALG: i64 = 1;
const LABEL_CRIT: i64 = 2;
const LABEL_CONTENT_TYPE: i64 = 3;
const LABEL_X5CHAIN: i64 = 33;

fn malformed(reason: impl Into<String>) -> EnvelopeError {
    EnvelopeError::cose(reason)
}

/// Decodes exactly one CBOR item from `bytes`; trailing bytes are an error.
fn decode_one(bytes: &[u8], what: &str) -> Result<Cbor, EnvelopeError> {
    let mut rest = bytes;
    let value: Cbor =
        ciborium::from_reader(&mut rest).map_err(|e| malformed(format!("{what} is not valid CBOR: {e}")))?;
    if !rest.is_empty() {
        return Err(malformed(format!(
            "{} trailing bytes after the {what}",
            rest.len()
        )));
    }
    reject_duplicate_keys(&value, what)?;
    Ok(value)
}

/// Rejects a map, at any depth, that holds the same key twice.
fn reject_duplicate_keys(value: &Cbor, what: &str) -> Result<(), EnvelopeError> {
    match value {
        Cbor::Map(entries) => {
            let mut seen = HashSet::new();
            for (k, v) in entries {
                let mut key = Vec::new();
                ciborium::into_writer(k, &mut key).map_err(|e| malformed(format!("{what}: {e}")))?;
                if !seen.insert(key) {
                    return Err(malformed(format!(
                        "duplicate key {} in a map in the {what}",
                        show(k)
                    )));
                }
                reject_duplicate_keys(v, what)?;
            }
            Ok(())
        }
        Cbor::Array(items) => items.iter().try_for_each(|v| reject_duplicate_keys(v, what)),
        Cbor::Tag(_, inner) => reject_duplicate_keys(inner, what),
        _ => Ok(()),
    }
}

/// A short human form of a map key for messages.
fn show(k: &Cbor) -> String {
    match k {
        Cbor::Integer(i) => i128::from(*i).to_string(),
        Cbor::Text(t) => format!("{t:?}"),
        other => format!("{other:?}"),
    }
}

fn int(v: &Cbor) -> Option<i128> {
    match v {
        Cbor::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

/// A label or value that is an integer small enough for an `i64`.
fn small_int(v: &Cbor) -> Option<i64> {
    int(v).and_then(|i| i64::try_from(i).ok())
}

/// Parses a COSE envelope and checks the format rules.
pub(crate) fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let Cbor::Tag(tag, inner) = decode_one(bytes, "envelope")? else {
        return Err(malformed("not a COSE_Sign1: the envelope must be CBOR tag 18"));
    };
    if tag != TAG_SIGN1 {
        return Err(malformed(format!(
            "not a COSE_Sign1: CBOR tag {tag}, expected 18"
        )));
    }
    let Cbor::Array(items) = *inner else {
        return Err(malformed("COSE_Sign1 must be an array"));
    };
    let [protected, unprotected, payload, signature]: [Cbor; 4] = items
        .try_into()
        .map_err(|v: Vec<Cbor>| malformed(format!("COSE_Sign1 must have 4 elements, found {}", v.len())))?;
    let Cbor::Bytes(protected_raw) = protected else {
        return Err(malformed("the protected header must be a byte string"));
    };
    let Cbor::Map(unprotected) = unprotected else {
        return Err(malformed("the unprotected header must be a map"));
    };
    let payload = match payload {
        Cbor::Bytes(p) if p.is_empty() => return Err(malformed("the payload is empty")),
        Cbor::Bytes(p) => p,
        Cbor::Null => return Err(malformed("detached payloads are not supported")),
        _ => return Err(malformed("the payload must be a byte string")),
    };
    let signature = match signature {
        Cbor::Bytes(s) if s.is_empty() => return Err(malformed("the signature is empty")),
        Cbor::Bytes(s) => s,
        _ => return Err(malformed("the signature must be a byte string")),
    };

    let protected_map = if protected_raw.is_empty() {
        Vec::new()
    } else {
        match decode_one(&protected_raw, "protected header")? {
            Cbor::Map(m) => m,
            _ => return Err(malformed("the protected header must encode a map")),
        }
    };
    let (algorithm, fields) = parse_protected(&protected_map)?;
    let (payload_content_type, signed) = fields.into_signed()?;
    let (certificate_chain, unsigned) = parse_unprotected(&unprotected, &protected_map)?;
    check_chain(&certificate_chain)?;
    let signing_input = sig_structure(&protected_raw, &payload)?;

    Ok(Envelope {
        format: EnvelopeFormat::Cose,
        payload_content_type,
        payload,
        signed,
        unsigned,
        algorithm,
        signature,
        certificate_chain,
        signing_input,
    })
}

fn parse_protected(map: &[(Cbor, Cbor)]) -> Result<(SignatureAlgorithm, ProtectedFields), EnvelopeError> {
    let bad = |m: String| EnvelopeError::InvalidProtectedHeader(m);
    let text = |k: &str, v: &Cbor| match v {
        Cbor::Text(s) => Ok(s.clone()),
        _ => Err(bad(format!("{k} must be a text string"))),
    };
    let time = |k: &str, v: &Cbor| match v {
        Cbor::Tag(TAG_EPOCH, inner) => int(inner)
            .and_then(|s| i64::try_from(s).ok())
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .ok_or_else(|| {
                bad(format!(
                    "{k:?} must be a tag-1 time with integer seconds in range"
                ))
            }),
        _ => Err(bad(format!("{k:?} must be a CBOR tag 1 (epoch) date/time"))),
    };
    let mut alg = None;
    let mut fields = ProtectedFields::default();
    for (key, value) in map {
        match key {
            Cbor::Integer(_) => match small_int(key).unwrap_or(i64::MIN) {
                LABEL_ALG => {
                    let id = int(value).ok_or_else(|| bad("alg (1) must be an integer".into()))?;
                    alg = Some(
                        small_int(value)
                            .and_then(SignatureAlgorithm::from_cose_id)
                            .ok_or_else(|| EnvelopeError::UnsupportedAlgorithm(format!("COSE {id}")))?,
                    );
                }
                LABEL_CRIT => {
                    let Cbor::Array(items) = value else {
                        return Err(bad("crit (2) must be an array".into()));
                    };
                    let names = items
                        .iter()
                        .map(|v| match v {
                            Cbor::Text(s) => Ok(s.clone()),
                            other => Err(bad(format!(
                                "crit (2) lists {}: only text labels are supported",
                                show(other)
                            ))),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    fields.crit = Some(names);
                }
                LABEL_CONTENT_TYPE => fields.cty = Some(text("content type (3)", value)?),
                _ => return Err(bad(format!("unsupported protected header label {}", show(key)))),
            },
            Cbor::Text(k) => match k.as_str() {
                KEY_SIGNING_SCHEME => fields.signing_scheme = Some(text(KEY_SIGNING_SCHEME, value)?),
                KEY_SIGNING_TIME => fields.signing_time = Some(time(k, value)?),
                KEY_AUTHENTIC_SIGNING_TIME => fields.authentic_signing_time = Some(time(k, value)?),
                KEY_EXPIRY => fields.expiry = Some(time(k, value)?),
                _ => fields.extended.push((k.clone(), to_json(value, k)?)),
            },
            other => return Err(bad(format!("unsupported protected header label {}", show(other)))),
        }
    }
    let alg = alg.ok_or_else(|| bad("alg (1) is missing".into()))?;
    Ok((alg, fields))
}

/// Converts an extended attribute value to JSON, the type [`super::ExtendedAttribute`] holds.
fn to_json(v: &Cbor, key: &str) -> Result<Json, EnvelopeError> {
    let unsupported = || {
        EnvelopeError::InvalidProtectedHeader(format!(
            "extended attribute {key:?} has a value with no JSON equivalent (byte string, tag or non-finite float)"
        ))
    };
    Ok(match v {
        Cbor::Null => Json::Null,
        Cbor::Bool(b) => Json::Bool(*b),
        Cbor::Text(s) => Json::String(s.clone()),
        Cbor::Integer(i) => {
            let i = i128::from(*i);
            if let Ok(n) = i64::try_from(i) {
                n.into()
            } else {
                u64::try_from(i).map_err(|_| unsupported())?.into()
            }
        }
        Cbor::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .ok_or_else(unsupported)?,
        Cbor::Array(items) => Json::Array(items.iter().map(|i| to_json(i, key)).collect::<Result<_, _>>()?),
        Cbor::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| match k {
                    Cbor::Text(k) => Ok((k.clone(), to_json(v, key)?)),
                    _ => Err(unsupported()),
                })
                .collect::<Result<_, _>>()?,
        ),
        Cbor::Bytes(_) | Cbor::Tag(..) => return Err(unsupported()),
        _ => return Err(unsupported()),
    })
}

/// Converts a JSON extended attribute value to CBOR for writing.
fn to_cbor(v: &Json) -> Cbor {
    match v {
        Json::Null => Cbor::Null,
        Json::Bool(b) => Cbor::Bool(*b),
        Json::String(s) => Cbor::Text(s.clone()),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Cbor::Integer(i.into()),
            (None, Some(u)) => Cbor::Integer(u.into()),
            _ => Cbor::Float(n.as_f64().unwrap_or_default()),
        },
        Json::Array(items) => Cbor::Array(items.iter().map(to_cbor).collect()),
        Json::Object(m) => Cbor::Map(
            m.iter()
                .map(|(k, v)| (Cbor::Text(k.clone()), to_cbor(v)))
                .collect(),
        ),
    }
}

type Unprotected = (Vec<Vec<u8>>, UnsignedAttributes);

fn parse_unprotected(map: &[(Cbor, Cbor)], protected: &[(Cbor, Cbor)]) -> Result<Unprotected, EnvelopeError> {
    let bad = |m: String| EnvelopeError::InvalidUnprotectedHeader(m);
    let mut chain = None;
    let mut unsigned = UnsignedAttributes::default();
    for (key, value) in map {
        if protected.iter().any(|(k, _)| k == key) {
            return Err(bad(format!(
                "label {} is in both the protected and the unprotected header",
                show(key)
            )));
        }
        match key {
            Cbor::Integer(_) if small_int(key) == Some(LABEL_X5CHAIN) => {
                let Cbor::Array(items) = value else {
                    return Err(bad(
                        "x5chain (33) must be an array of certificates (byte strings)".into(),
                    ));
                };
                let certs = items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| match c {
                        Cbor::Bytes(b) => Ok(b.clone()),
                        _ => Err(bad(format!("x5chain (33) entry {i} must be a byte string"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                chain = Some(certs);
            }
            Cbor::Text(k) if k == KEY_SIGNING_AGENT => match value {
                Cbor::Text(s) => unsigned.signing_agent = Some(s.clone()).filter(|s| !s.is_empty()),
                _ => return Err(bad(format!("{KEY_SIGNING_AGENT:?} must be a text string"))),
            },
            Cbor::Text(k) if k == KEY_TIMESTAMP_SIGNATURE => match value {
                Cbor::Bytes(b) => unsigned.timestamp_signature = Some(b.clone()).filter(|b| !b.is_empty()),
                _ => return Err(bad(format!("{KEY_TIMESTAMP_SIGNATURE:?} must be a byte string"))),
            },
            // Other unprotected headers are not signed and carry nothing Notary uses.
            _ => {}
        }
    }
    let chain = chain.ok_or(EnvelopeError::MissingCertificateChain)?;
    Ok((chain, unsigned))
}

/// `Sig_structure = ["Signature1", protected, external_aad = h'', payload]`.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    encode(&Cbor::Array(vec![
        Cbor::Text("Signature1".into()),
        Cbor::Bytes(protected.to_vec()),
        Cbor::Bytes(Vec::new()),
        Cbor::Bytes(payload.to_vec()),
    ]))
}

fn encode(v: &Cbor) -> Result<Vec<u8>, EnvelopeError> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).map_err(|e| malformed(format!("CBOR encoding failed: {e}")))?;
    Ok(out)
}

/// Sorts map entries in length-first canonical order (RFC 7049 §3.9): by the
/// length of the encoded key, then by its bytes.
fn canonical_map(entries: Vec<(Cbor, Cbor)>) -> Result<Cbor, EnvelopeError> {
    let mut keyed = entries
        .into_iter()
        .map(|(k, v)| encode(&k).map(|enc| (enc, k, v)))
        .collect::<Result<Vec<_>, _>>()?;
    keyed.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
    Ok(Cbor::Map(keyed.into_iter().map(|(_, k, v)| (k, v)).collect()))
}

/// Produces the envelope bytes for a validated request.
pub(crate) fn produce(
    req: &SignRequest,
    prepared: &Prepared,
    alg: SignatureAlgorithm,
) -> Result<Vec<u8>, EnvelopeError> {
    let epoch = |t: OffsetDateTime| Cbor::Tag(TAG_EPOCH, Box::new(Cbor::Integer(t.unix_timestamp().into())));
    let time_key = Prepared::time_key(req);
    let mut crit = vec![KEY_SIGNING_SCHEME];
    if time_key == KEY_AUTHENTIC_SIGNING_TIME {
        crit.push(KEY_AUTHENTIC_SIGNING_TIME);
    }
    if prepared.expiry.is_some() {
        crit.push(KEY_EXPIRY);
    }
    crit.extend(prepared.extended_critical.iter().map(String::as_str));

    let mut protected = vec![
        (
            Cbor::Integer(LABEL_ALG.into()),
            Cbor::Integer(alg.cose_id().into()),
        ),
        (
            Cbor::Integer(LABEL_CRIT.into()),
            Cbor::Array(crit.into_iter().map(|c| Cbor::Text(c.into())).collect()),
        ),
        (
            Cbor::Integer(LABEL_CONTENT_TYPE.into()),
            Cbor::Text(PAYLOAD_CONTENT_TYPE.into()),
        ),
        (
            Cbor::Text(KEY_SIGNING_SCHEME.into()),
            Cbor::Text(req.signing_scheme.as_str().into()),
        ),
        (Cbor::Text(time_key.into()), epoch(prepared.signing_time)),
    ];
    if let Some(expiry) = prepared.expiry {
        protected.push((Cbor::Text(KEY_EXPIRY.into()), epoch(expiry)));
    }
    for attr in &req.extended {
        protected.push((Cbor::Text(attr.key.clone()), to_cbor(&attr.value)));
    }
    let protected_raw = encode(&canonical_map(protected)?)?;
    let signing_input = sig_structure(&protected_raw, &req.payload)?;
    let signature = req
        .signer
        .sign(&signing_input)
        .map_err(|e| EnvelopeError::Signing(e.to_string()))?;

    let certificate_chain = Prepared::chain_after_signing(req)?;
    let mut unprotected = vec![(
        Cbor::Integer(LABEL_X5CHAIN.into()),
        Cbor::Array(certificate_chain.iter().map(|c| Cbor::Bytes(c.clone())).collect()),
    )];
    if let Some(agent) = req.signing_agent.as_ref().filter(|a| !a.is_empty()) {
        unprotected.push((Cbor::Text(KEY_SIGNING_AGENT.into()), Cbor::Text(agent.clone())));
    }
    if let Some(token) = super::timestamp_for(req, &signature)? {
        unprotected.push((Cbor::Text(KEY_TIMESTAMP_SIGNATURE.into()), Cbor::Bytes(token)));
    }
    encode(&Cbor::Tag(
        TAG_SIGN1,
        Box::new(Cbor::Array(vec![
            Cbor::Bytes(protected_raw),
            canonical_map(unprotected)?,
            Cbor::Bytes(req.payload.clone()),
            Cbor::Bytes(signature),
        ])),
    ))
}
