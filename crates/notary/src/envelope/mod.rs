//! Signature envelopes: the JWS and COSE containers a Notary Project
//! signature travels in, read and written exactly as the specs describe them.
//!
//! This module owns the bytes of an envelope: [`Envelope::parse`] decodes one
//! (JWS flattened JSON, [`jws`], or tagged COSE_Sign1, [`cose`]), applies the
//! format rules of the signature specification (which headers are required,
//! what `crit` must list, which times a signing scheme needs) and keeps the
//! exact signing input; [`Envelope::verify_signature`] checks the signature
//! with the key of the first certificate; [`sign`] produces an envelope.
//!
//! What it does not do: it does not decide whether the certificate chain is
//! acceptable or trusted (that is [`crate::x509`] and the verifier), does not
//! check the expiry against a clock, and does not interpret the timestamp
//! countersignature. The payload is kept as opaque signed bytes; only
//! [`Envelope::target_artifact`] reads it as a Notary Project payload.

mod attributes;
pub mod cose;
mod error;
mod json;

pub use json::to_go_json;
pub mod jws;

use der::{Decode, Encode, Tagged};
use time::OffsetDateTime;
use x509_cert::Certificate;

pub use attributes::{ExtendedAttribute, SignedAttributes, SigningScheme, UnsignedAttributes};
pub use error::EnvelopeError;

use crate::{
    algorithm::{KeySpec, SignatureAlgorithm},
    crypto::{self, CryptoError, Signer},
    descriptor::Descriptor,
};

/// Media type of a JWS envelope (flattened JSON serialisation).
pub const MEDIA_TYPE_JWS: &str = "application/jose+json";
/// Media type of a COSE_Sign1 envelope.
pub const MEDIA_TYPE_COSE: &str = "application/cose";
/// Content type of the Notary Project payload, the only one envelopes may carry.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";

/// The two envelope formats the Notary Project defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvelopeFormat {
    /// JWS JSON, flattened serialisation.
    Jws,
    /// COSE_Sign1, CBOR tag 18.
    Cose,
}

impl EnvelopeFormat {
    /// The envelope's media type (the signature layer's `mediaType`).
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jws => MEDIA_TYPE_JWS,
            Self::Cose => MEDIA_TYPE_COSE,
        }
    }

    /// The format with this media type, if any.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            MEDIA_TYPE_JWS => Some(Self::Jws),
            MEDIA_TYPE_COSE => Some(Self::Cose),
            _ => None,
        }
    }

    /// The format with this short name (`jws`, `cose`).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Jws, Self::Cose].into_iter().find(|f| f.name() == name)
    }

    /// The short name notation uses (`jws`, `cose`), e.g. in `blob.jws.sig`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jws => "jws",
            Self::Cose => "cose",
        }
    }
}

/// A parsed envelope: its content, its attributes and what was signed.
///
/// Parsing checks the format rules only; the signature is checked by
/// [`Envelope::verify_signature`], and nothing here may be trusted before that.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Which format the envelope was read from.
    pub format: EnvelopeFormat,
    /// The payload content type (always [`PAYLOAD_CONTENT_TYPE`] once parsed).
    pub payload_content_type: String,
    /// The payload bytes, exactly as signed.
    pub payload: Vec<u8>,
    /// Attributes covered by the signature.
    pub signed: SignedAttributes,
    /// Attributes outside the signature.
    pub unsigned: UnsignedAttributes,
    /// The declared signature algorithm.
    pub algorithm: SignatureAlgorithm,
    /// The raw signature (ECDSA as `r || s`).
    pub signature: Vec<u8>,
    /// The certificate chain, DER, leaf first, as the envelope orders it.
    pub certificate_chain: Vec<Vec<u8>>,
    signing_input: Vec<u8>,
}

impl Envelope {
    /// Parses an envelope of `media_type`, checking the format rules.
    pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        match EnvelopeFormat::from_media_type(media_type) {
            Some(EnvelopeFormat::Jws) => jws::parse(bytes),
            Some(EnvelopeFormat::Cose) => cose::parse(bytes),
            None => Err(EnvelopeError::UnsupportedMediaType(media_type.to_owned())),
        }
    }

    /// Checks the signature over the signing input with the key of the first
    /// certificate, after checking that the declared algorithm is the one the
    /// key requires.
    pub fn verify_signature(&self) -> Result<(), EnvelopeError> {
        let spki = leaf_spki_der(&self.certificate_chain)?;
        self.verify_signature_with_spki(&spki)
    }

    /// Like [`verify_signature`](Self::verify_signature), with the leaf's
    /// public key (DER `SubjectPublicKeyInfo`) already extracted by a caller
    /// that decoded the chain anyway.
    pub fn verify_signature_with_spki(&self, spki: &[u8]) -> Result<(), EnvelopeError> {
        let key = KeySpec::from_spki_der(spki).map_err(EnvelopeError::UnsupportedKey)?;
        if !self.algorithm.matches_key(key) {
            return Err(EnvelopeError::AlgorithmMismatch {
                declared: self.algorithm,
                key,
                expected: key.signature_algorithm().ok(),
            });
        }
        crypto::verify(self.algorithm, spki, &self.signing_input, &self.signature).map_err(|e| match e {
            CryptoError::BadSignature => EnvelopeError::InvalidSignature {
                algorithm: self.algorithm,
            },
            other => EnvelopeError::UnsupportedKey(other),
        })
    }

    /// Reads the payload as a Notary Project payload and returns its
    /// `targetArtifact` descriptor.
    pub fn target_artifact(&self) -> Result<Descriptor, EnvelopeError> {
        let bad = |m: String| EnvelopeError::InvalidPayload(m);
        let value = json::parse_strict(&self.payload).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let serde_json::Value::Object(mut map) = value else {
            return Err(bad("the payload must be a JSON object".into()));
        };
        let target = map
            .remove("targetArtifact")
            .ok_or_else(|| bad("\"targetArtifact\" is missing".into()))?;
        serde_json::from_value(target)
            .map_err(|e| bad(format!("\"targetArtifact\" is not a descriptor: {e}")))
    }

    /// The exact bytes the signature covers (JWS: `protected.payload`;
    /// COSE: the `Sig_structure`).
    pub fn signing_input(&self) -> &[u8] {
        &self.signing_input
    }
}

/// The DER `SubjectPublicKeyInfo` of the first certificate in `chain`.
fn leaf_spki_der(chain: &[Vec<u8>]) -> Result<Vec<u8>, EnvelopeError> {
    let leaf = chain.first().ok_or(EnvelopeError::MissingCertificateChain)?;
    let cert = Certificate::from_der(leaf).map_err(|e| EnvelopeError::MalformedCertificate {
        index: 0,
        reason: e.to_string(),
    })?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| EnvelopeError::MalformedCertificate {
            index: 0,
            reason: e.to_string(),
        })
}

/// Checks that the chain is present and every entry is one DER SEQUENCE.
///
/// Only the framing is checked here: decoding each certificate in full is
/// the verifier's job (`x509::decode_code_signing_chain`, which remembers
/// chains it has seen), so parsing an envelope does not pay for it twice.
fn check_chain(chain: &[Vec<u8>]) -> Result<(), EnvelopeError> {
    if chain.is_empty() {
        return Err(EnvelopeError::MissingCertificateChain);
    }
    for (index, der) in chain.iter().enumerate() {
        let framed = der::asn1::AnyRef::from_der(der)
            .map_err(|e| e.to_string())
            .and_then(|any| {
                if any.tag() == der::Tag::Sequence {
                    Ok(())
                } else {
                    Err(format!("expected a DER SEQUENCE, found {}", any.tag()))
                }
            });
        framed.map_err(|reason| EnvelopeError::MalformedCertificate { index, reason })?;
    }
    Ok(())
}

/// What to sign and with which key; [`sign`] turns it into envelope bytes.
pub struct SignRequest<'a> {
    /// The envelope format to produce.
    pub format: EnvelopeFormat,
    /// The payload, usually [`payload_for`] the target descriptor.
    pub payload: Vec<u8>,
    /// The signing time (truncated to whole seconds; its offset is kept in JWS).
    pub signing_time: OffsetDateTime,
    /// The optional expiry (truncated to whole seconds).
    pub expiry: Option<OffsetDateTime>,
    /// The signing scheme.
    pub signing_scheme: SigningScheme,
    /// Extra signed attributes, in order; critical ones go into `crit`.
    pub extended: Vec<ExtendedAttribute>,
    /// `io.cncf.notary.signingAgent`, e.g. `signet/0.1.0`.
    pub signing_agent: Option<String>,
    /// The certificate chain, DER, leaf first.
    pub certificate_chain: Vec<Vec<u8>>,
    /// The key that signs.
    pub signer: &'a dyn Signer,
    /// Obtains an RFC 3161 timestamp over the signature bytes, written into
    /// the unsigned header as `io.cncf.notary.timestampSignature`; `None` for
    /// no timestamp.
    pub timestamper: Option<&'a dyn Timestamper>,
}

/// Obtains an RFC 3161 timestamp token over a signature, at signing time.
///
/// [`sign`] calls it once, after the signature is made and before the
/// unsigned header is written; the token's message imprint must be over the
/// raw signature bytes (JWS: the decoded `signature`; COSE: the signature bstr).
pub trait Timestamper {
    /// The DER `TimeStampToken` over `signature`, or why none was obtained.
    fn timestamp(&self, signature: &[u8]) -> Result<Vec<u8>, String>;

    /// Whether the token is built in this process, for exactly the bytes
    /// given, by code whose output is tested against this crate's parser —
    /// a signing service's built-in TSA. [`sign`] then does not parse the
    /// token again. Default `false`: a token that came over the network is
    /// always checked to parse and to timestamp these bytes.
    fn built_in(&self) -> bool {
        false
    }
}

impl<F: Fn(&[u8]) -> Result<Vec<u8>, String>> Timestamper for F {
    fn timestamp(&self, signature: &[u8]) -> Result<Vec<u8>, String> {
        self(signature)
    }
}

/// Asks `req`'s timestamper, if any, for a token over `signature` and checks
/// that the token parses and timestamps exactly these bytes.
fn timestamp_for(req: &SignRequest, signature: &[u8]) -> Result<Option<Vec<u8>>, EnvelopeError> {
    let Some(tsa) = req.timestamper else {
        return Ok(None);
    };
    let token = tsa.timestamp(signature).map_err(EnvelopeError::Timestamping)?;
    if tsa.built_in() {
        return Ok(Some(token));
    }
    use crate::timestamp::TimestampVerifier as _;
    crate::timestamp::Rfc3161Verifier
        .timestamp(&token, signature)
        .map_err(|e| {
            EnvelopeError::Timestamping(format!("the timestamp token does not fit the signature: {e}"))
        })?;
    Ok(Some(token))
}

/// The Notary Project payload for `target`: `{"targetArtifact": …}`, compact,
/// with the descriptor's Go field order and only the fields notation keeps.
pub fn payload_for(target: &Descriptor) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Payload<'a> {
        #[serde(rename = "targetArtifact")]
        target_artifact: &'a Descriptor,
    }
    let sanitized = target.sanitized();
    // Serialising a Descriptor cannot fail: every field is a string, number or string map.
    json::to_go_json(&Payload {
        target_artifact: &sanitized,
    })
    .unwrap_or_default()
}

/// Produces an envelope for `req` and returns its bytes.
///
/// The algorithm follows from the signer's key spec. With a
/// [`SignRequest::timestamper`], the token it returns for the signature bytes
/// is checked to timestamp them and goes into the unsigned header. The result is parsed and
/// its signature verified before it is returned, so a faulty key, HSM or
/// plugin, or a certificate that does not hold the signer's key, is caught here.
pub fn sign(req: &SignRequest) -> Result<Vec<u8>, EnvelopeError> {
    let algorithm = req
        .signer
        .key_spec()
        .signature_algorithm()
        .map_err(|e| EnvelopeError::InvalidSignRequest(e.to_string()))?;
    let prepared = Prepared::new(req)?;
    let bytes = match req.format {
        EnvelopeFormat::Jws => jws::produce(req, &prepared, algorithm)?,
        EnvelopeFormat::Cose => cose::produce(req, &prepared, algorithm)?,
    };
    let env = Envelope::parse(req.format.media_type(), &bytes)
        .map_err(|e| EnvelopeError::Signing(format!("the produced envelope does not parse: {e}")))?;
    env.verify_signature()
        .map_err(|e| EnvelopeError::Signing(format!("the produced envelope does not verify: {e}")))?;
    Ok(bytes)
}

/// A sign request after validation: times truncated, `crit` decided.
pub(crate) struct Prepared {
    signing_time: OffsetDateTime,
    expiry: Option<OffsetDateTime>,
    /// Extended critical keys, in request order.
    extended_critical: Vec<String>,
}

impl Prepared {
    fn new(req: &SignRequest) -> Result<Self, EnvelopeError> {
        let bad = |m: String| EnvelopeError::InvalidSignRequest(m);
        if req.payload.is_empty() {
            return Err(bad("the payload is empty".into()));
        }
        if req.certificate_chain.is_empty() && !req.signer.supplies_certificate_chain() {
            return Err(bad("the certificate chain is empty".into()));
        }
        let signing_time = req
            .signing_time
            .replace_nanosecond(0)
            .map_err(|e| bad(format!("signing time: {e}")))?;
        let expiry = req
            .expiry
            .map(|e| e.replace_nanosecond(0))
            .transpose()
            .map_err(|e| bad(format!("expiry: {e}")))?;
        if let Some(expiry) = expiry
            && expiry <= signing_time
        {
            return Err(bad("expiry cannot be equal to or before the signing time".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for attr in &req.extended {
            if attributes::is_reserved_key(&attr.key) {
                return Err(bad(format!(
                    "extended attribute {:?} uses a name reserved by the specification",
                    attr.key
                )));
            }
            if !seen.insert(attr.key.as_str()) {
                return Err(bad(format!("extended attribute {:?} is given twice", attr.key)));
            }
        }
        Ok(Self {
            signing_time,
            expiry,
            extended_critical: req
                .extended
                .iter()
                .filter(|a| a.critical)
                .map(|a| a.key.clone())
                .collect(),
        })
    }

    /// The chain to write after signing: the signer's, if it supplied one,
    /// else the request's; never empty.
    fn chain_after_signing(req: &SignRequest) -> Result<Vec<Vec<u8>>, EnvelopeError> {
        let chain = req
            .signer
            .signed_certificate_chain()
            .unwrap_or_else(|| req.certificate_chain.clone());
        if chain.is_empty() {
            return Err(EnvelopeError::InvalidSignRequest(
                "the certificate chain is empty".into(),
            ));
        }
        Ok(chain)
    }

    /// The header name that carries the signing time under the request's scheme.
    fn time_key(req: &SignRequest) -> &'static str {
        match req.signing_scheme {
            SigningScheme::X509 => attributes::KEY_SIGNING_TIME,
            SigningScheme::X509SigningAuthority => attributes::KEY_AUTHENTIC_SIGNING_TIME,
        }
    }
}
