//! CMS SignedData (RFC 5652) as RFC 3161 uses it: parsing, and verifying one
//! signer — its certificate chain, its signature over the signed attributes,
//! and the content-type, message-digest and signing-time attributes.
//!
//! This follows tspclient-go's `internal/cms`. Only what a timestamp token
//! needs is supported: signers identified by issuer and serial number, X.509
//! certificates, SHA-256/384/512 digests. Error texts are Go's, prefixed with
//! `cms verification failure` where Go's `VerificationError` would be.

use aws_lc_rs::digest;
use const_oid::ObjectIdentifier;
use der::Decode;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;

use super::{
    TimestampError,
    asn1::{self, Reader, Tlv},
    path,
};
use crate::x509::{
    Certificate,
    signature::{self, Hash, SignatureAlgorithm},
};

/// Bounds on what a token may carry, far above anything a TSA sends.
const MAX_TOKEN_SIZE: usize = 4 << 20;
const MAX_CERTIFICATES: usize = 64;
const MAX_SIGNERS: usize = 16;
const MAX_ATTRIBUTES: usize = 64;

pub(crate) const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
pub(crate) const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
pub(crate) const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub(crate) const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub(crate) const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// The hash function for a digest-algorithm OID (SHA-256/384/512 only).
pub(crate) fn hash_for(oid: &ObjectIdentifier) -> Option<&'static digest::Algorithm> {
    match *oid {
        o if o == SHA256 => Some(&digest::SHA256),
        o if o == SHA384 => Some(&digest::SHA384),
        o if o == SHA512 => Some(&digest::SHA512),
        _ => None,
    }
}

/// A parsed SignedData.
#[derive(Debug, Clone)]
pub(crate) struct SignedData {
    /// The encapsulated content (eContent), empty when absent.
    pub(crate) content: Vec<u8>,
    /// The encapsulated content type.
    pub(crate) content_type: ObjectIdentifier,
    /// The certificates field, in order.
    pub(crate) certificates: Vec<Certificate>,
    /// The signers.
    pub(crate) signer_infos: Vec<SignerInfo>,
}

/// One SignerInfo.
#[derive(Debug, Clone)]
pub(crate) struct SignerInfo {
    pub(crate) version: i64,
    /// The signer's issuer Name, full DER.
    pub(crate) issuer: Vec<u8>,
    /// The signer's serial number, INTEGER content octets.
    pub(crate) serial: Vec<u8>,
    pub(crate) digest_algorithm: ObjectIdentifier,
    /// The content of the `[0]` signed attributes, when present.
    pub(crate) signed_attrs: Option<Vec<u8>>,
    pub(crate) attributes: Vec<Attribute>,
    pub(crate) signature_algorithm: AlgorithmIdentifierOwned,
    pub(crate) signature: Vec<u8>,
}

/// One signed attribute: its type and the content of its `SET OF` values.
#[derive(Debug, Clone)]
pub(crate) struct Attribute {
    pub(crate) oid: ObjectIdentifier,
    pub(crate) values: Vec<u8>,
}

impl SignerInfo {
    /// The first value of the attribute `oid`; Go's `Attributes.Get`.
    pub(crate) fn attribute(&self, oid: ObjectIdentifier) -> Result<Tlv<'_>, String> {
        let attr = self
            .attributes
            .iter()
            .find(|a| a.oid == oid)
            .ok_or("attribute not found")?;
        Reader::new(&attr.values).any()
    }
}

fn syntax(msg: &str, e: impl std::fmt::Display) -> TimestampError {
    TimestampError::Syntax(format!("{msg}: {e}"))
}

impl SignedData {
    /// Parses a BER or DER ContentInfo holding a SignedData.
    pub(crate) fn parse(ber: &[u8]) -> Result<Self, TimestampError> {
        if ber.len() > MAX_TOKEN_SIZE {
            return Err(TimestampError::Syntax(format!(
                "invalid signed data: larger than {MAX_TOKEN_SIZE} bytes"
            )));
        }
        let der = asn1::ber_to_der(ber)
            .map_err(|e| syntax("invalid signed data: failed to convert from BER to DER", e))?;
        let (content_type, content) = content_info(&der)
            .map_err(|e| syntax("invalid content info: failed to unmarshal DER to ContentInfo", e))?;
        if content_type != SIGNED_DATA {
            return Err(TimestampError::NotSignedData);
        }
        let raw = signed_data(content.full).map_err(|e| syntax("invalid signed data", e))?;
        if raw.version != 3 {
            return Err(TimestampError::Syntax(format!(
                "unsupported signed data version: got {}, want 3",
                raw.version
            )));
        }
        let mut certificates = Vec::new();
        if let Some(certs) = raw.certificates {
            let mut r = Reader::new(certs);
            while !r.is_empty() {
                if certificates.len() >= MAX_CERTIFICATES {
                    return Err(TimestampError::Syntax("too many certificates".into()));
                }
                let cert = r
                    .any()
                    .and_then(|tlv| Certificate::from_der(tlv.full.to_vec()).map_err(|e| e.to_string()))
                    .map_err(|e| {
                        syntax(
                            "failed to parse X.509 certificates from signed data. Only X.509 certificates are supported",
                            e,
                        )
                    })?;
                certificates.push(cert);
            }
        }
        Ok(Self {
            content: raw.content,
            content_type: raw.content_type,
            certificates,
            signer_infos: raw.signer_infos,
        })
    }

    /// The certificate with this issuer Name (DER) and serial (INTEGER content); Go's `GetCertificate`.
    pub(crate) fn certificate(&self, issuer: &[u8], serial: &[u8]) -> Option<&Certificate> {
        let serial = asn1::unsigned_magnitude(serial);
        self.certificates.iter().find(|c| {
            c.raw_issuer() == issuer
                && hex::decode(c.serial_hex()).is_ok_and(|s| asn1::unsigned_magnitude(&s) == serial)
        })
    }

    /// Verifies one signer with `cert` as its certificate, chaining through
    /// the token's certificates to `roots` at `at`; returns the chain, leaf first.
    pub(crate) fn verify_signer(
        &self,
        signer: &SignerInfo,
        cert: &Certificate,
        roots: &[Certificate],
        at: OffsetDateTime,
    ) -> Result<Vec<Certificate>, String> {
        let failure = |m: String| format!("cms verification failure: {m}");
        if signer.version != 1 {
            return Err(failure(format!(
                "invalid signer info version: only version 1 is supported; got {}",
                signer.version
            )));
        }
        let chains = path::verify(cert, &self.certificates, roots, at).map_err(failure)?;
        self.verify_signature(signer, cert).map_err(failure)?;
        self.verify_signed_attributes(signer, chains)
    }

    fn verify_signature(&self, signer: &SignerInfo, cert: &Certificate) -> Result<(), String> {
        let alg = signature_algorithm(&signer.digest_algorithm, &signer.signature_algorithm)
            .ok_or("unknown signature algorithm")?;
        let signed = match &signer.signed_attrs {
            Some(attrs) if !attrs.is_empty() => der_set(attrs)?,
            _ => self.content.clone(),
        };
        let spki = SubjectPublicKeyInfoOwned::from_der(&cert.spki_der()).map_err(|e| e.to_string())?;
        signature::verify(&alg, &spki, &signed, &signer.signature).map_err(|e| e.to_string())
    }

    fn verify_signed_attributes(
        &self,
        signer: &SignerInfo,
        chains: Vec<Vec<Certificate>>,
    ) -> Result<Vec<Certificate>, String> {
        let failure = |m: &str| format!("cms verification failure: {m}");
        if chains.is_empty() {
            return Err(failure(
                "Failed to verify signed attributes because the certificate chain is empty.",
            ));
        }
        if signer.attributes.is_empty() {
            return Err(failure("missing signed attributes"));
        }
        if self.content_type != TST_INFO {
            return Err(TimestampError::UnexpectedContentType(self.content_type.to_string()).to_string());
        }
        let content_type = signer
            .attribute(CONTENT_TYPE)
            .and_then(|tlv| Reader::new(tlv.full).oid("ObjectIdentifier"))
            .map_err(|e| failure(&format!("invalid content type: {e}")))?;
        if content_type != self.content_type {
            return Err(failure(&format!(
                "mismatch content type: found \"{content_type}\" in signer info, and \"{}\" in signed data",
                self.content_type
            )));
        }
        let expected = signer
            .attribute(MESSAGE_DIGEST)
            .and_then(|tlv| {
                Reader::new(tlv.full)
                    .expect(asn1::OCTET_STRING, "[]byte")
                    .map(|t| t.content)
            })
            .map_err(|e| failure(&format!("invalid message digest: {e}")))?;
        let hash =
            hash_for(&signer.digest_algorithm).ok_or_else(|| failure("unsupported digest algorithm"))?;
        if digest::digest(hash, &self.content).as_ref() != expected {
            return Err(failure("mismatch message digest"));
        }
        if !signer.attributes.iter().any(|a| a.oid == SIGNING_TIME) {
            return chains.into_iter().next().ok_or_else(|| failure("empty chain"));
        }
        let signing_time = match signer.attribute(SIGNING_TIME) {
            Err(e) => return Err(failure(&format!("invalid signing time: {e}"))),
            Ok(tlv) => match tlv.tag {
                asn1::UTC_TIME => asn1::utc_time(tlv.content),
                asn1::GENERALIZED_TIME => asn1::generalized_time(tlv.content),
                _ => Err("asn1: structure error: tags don't match time.Time".to_string()),
            }
            .map_err(|e| failure(&format!("invalid signing time: {e}")))?,
        };
        chains
            .into_iter()
            .find(|chain| chain.iter().all(|c| c.is_valid_at(signing_time)))
            .ok_or_else(|| {
                failure(&format!(
                    "signing time, {}, is outside certificate's validity period",
                    crate::x509::go_time(&signing_time)
                ))
            })
    }
}

/// The signed attributes as the signature covers them (RFC 5652 5.4): a DER
/// `SET OF`, so re-tagged and with its elements sorted — Go's marshalling
/// sorts them too, which matters for tokens whose attributes are out of order.
fn der_set(attrs: &[u8]) -> Result<Vec<u8>, String> {
    let mut elements = Vec::new();
    let mut r = Reader::new(attrs);
    while !r.is_empty() {
        elements.push(r.any()?.full);
    }
    elements.sort();
    let mut set = vec![asn1::SET];
    set.extend(asn1::length_octets(attrs.len()));
    for e in elements {
        set.extend_from_slice(e);
    }
    Ok(set)
}

/// Go's `oid.ToSignatureAlgorithm`: the algorithm from the digest and signature OIDs.
fn signature_algorithm(
    digest_alg: &ObjectIdentifier,
    sig_alg: &AlgorithmIdentifierOwned,
) -> Option<SignatureAlgorithm> {
    let hash = match *digest_alg {
        o if o == SHA256 => Some(Hash::Sha256),
        o if o == SHA384 => Some(Hash::Sha384),
        o if o == SHA512 => Some(Hash::Sha512),
        _ => None,
    };
    match sig_alg.oid {
        o if o == RSA => hash.map(SignatureAlgorithm::RsaPkcs1),
        o if o == RSA_PSS => hash.map(SignatureAlgorithm::RsaPss),
        _ => match SignatureAlgorithm::from_algorithm_identifier(sig_alg) {
            alg @ (SignatureAlgorithm::RsaPkcs1(_) | SignatureAlgorithm::Ecdsa(_)) => Some(alg),
            _ => None,
        },
    }
}

fn content_info(der: &[u8]) -> Result<(ObjectIdentifier, Tlv<'_>), String> {
    let (outer, rest) = asn1::read_der(der)?;
    if outer.tag != asn1::SEQUENCE {
        return Err("asn1: structure error: tags don't match (16 vs {}) ContentInfo".into());
    }
    if !rest.is_empty() {
        return Err("asn1: syntax error: trailing data".into());
    }
    let mut r = outer.reader();
    let content_type = r.oid("ContentType")?;
    let explicit = r.expect(0xa0, "Content")?;
    let (content, _) = asn1::read_der(explicit.content)?;
    Ok((content_type, content))
}

struct RawSignedData<'a> {
    version: i64,
    content_type: ObjectIdentifier,
    content: Vec<u8>,
    certificates: Option<&'a [u8]>,
    signer_infos: Vec<SignerInfo>,
}

fn signed_data(der: &[u8]) -> Result<RawSignedData<'_>, String> {
    let mut r = Reader::new(der);
    let outer = r.expect(asn1::SEQUENCE, "SignedData")?;
    let mut r = outer.reader();
    let version = r.small_int("Version")?;
    r.expect(asn1::SET, "DigestAlgorithmIdentifiers")?;
    let encap = r.expect(asn1::SEQUENCE, "EncapsulatedContentInfo")?;
    let mut e = encap.reader();
    let content_type = e.oid("ContentType")?;
    let content = match e.optional(0xa0)? {
        Some(wrapper) => Reader::new(wrapper.content)
            .expect(asn1::OCTET_STRING, "Content")?
            .content
            .to_vec(),
        None => Vec::new(),
    };
    let certificates = r.optional(0xa0)?.map(|t| t.content);
    r.optional(0xa1)?;
    let infos = r.expect(asn1::SET, "SignerInfos")?;
    let mut signer_infos = Vec::new();
    let mut ir = infos.reader();
    while !ir.is_empty() {
        if signer_infos.len() >= MAX_SIGNERS {
            return Err("too many signer infos".into());
        }
        signer_infos.push(signer_info(ir.expect(asn1::SEQUENCE, "SignerInfo")?)?);
    }
    Ok(RawSignedData {
        version,
        content_type,
        content,
        certificates,
        signer_infos,
    })
}

fn algorithm_identifier(tlv: Tlv<'_>) -> Result<AlgorithmIdentifierOwned, String> {
    AlgorithmIdentifierOwned::from_der(tlv.full).map_err(|e| format!("asn1: syntax error: {e}"))
}

fn signer_info(tlv: Tlv<'_>) -> Result<SignerInfo, String> {
    let mut r = tlv.reader();
    let version = r.small_int("Version")?;
    let sid = r.expect(asn1::SEQUENCE, "IssuerAndSerialNumber")?;
    let mut s = sid.reader();
    let issuer = s.any()?.full.to_vec();
    let serial = s.integer_bytes("SerialNumber")?.to_vec();
    let digest_algorithm = algorithm_identifier(r.expect(asn1::SEQUENCE, "DigestAlgorithm")?)?.oid;
    let signed_attrs = r.optional(0xa0)?.map(|t| t.content.to_vec());
    let mut attributes = Vec::new();
    if let Some(attrs) = &signed_attrs {
        let mut ar = Reader::new(attrs);
        while !ar.is_empty() {
            if attributes.len() >= MAX_ATTRIBUTES {
                return Err("too many signed attributes".into());
            }
            let attr = ar.expect(asn1::SEQUENCE, "Attribute")?;
            let mut a = attr.reader();
            let oid = a.oid("Type")?;
            // Go reads the values as a raw element of any tag.
            let values = a.any()?.content.to_vec();
            attributes.push(Attribute { oid, values });
        }
    }
    let signature_algorithm = algorithm_identifier(r.expect(asn1::SEQUENCE, "SignatureAlgorithm")?)?;
    let signature = r.expect(asn1::OCTET_STRING, "Signature")?.content.to_vec();
    Ok(SignerInfo {
        version,
        issuer,
        serial,
        digest_algorithm,
        signed_attrs,
        attributes,
        signature_algorithm,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn cms(name: &str) -> Vec<u8> {
        testkit::read_vector(&format!("tspclient-go/internal-cms/{name}"))
    }

    /// tspclient-go's `ParsedSignedData.Verify`: signers found by their
    /// `sid`, at least one must verify.
    fn verify(signed: &SignedData, roots: &[Certificate], at: OffsetDateTime) -> Result<(), String> {
        let mut last = "signerInfo not found".to_string();
        for signer in &signed.signer_infos {
            match signed.certificate(&signer.issuer, &signer.serial) {
                None => last = "certificate not found".into(),
                Some(cert) => match signed.verify_signer(signer, cert, roots, at) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = e,
                },
            }
        }
        Err(last)
    }

    #[test]
    fn s35_unknown_signer_issuer_is_not_found_by_sid() {
        let good = SignedData::parse(&cms("TimeStampToken.p7s")).unwrap();
        let roots: Vec<_> = good.certificates.last().cloned().into_iter().collect();
        let at = datetime!(2024-01-09 00:00 UTC);
        verify(&good, &roots, at).unwrap();
        let bad = SignedData::parse(&cms("TimeStampTokenWithUnknownSignerIssuer.p7s")).unwrap();
        assert_eq!(verify(&bad, &roots, at).unwrap_err(), "certificate not found");
    }

    #[test]
    fn s36_verify_signer_with_the_wrong_certificate() {
        let signed = SignedData::parse(&cms("TimeStampToken.p7s")).unwrap();
        let roots: Vec<_> = signed.certificates.last().cloned().into_iter().collect();
        let at = datetime!(2024-01-09 00:00 UTC);
        let signer = &signed.signer_infos[0];
        signed
            .verify_signer(signer, &signed.certificates[0], &roots, at)
            .unwrap();
        assert!(
            signed
                .verify_signer(signer, &signed.certificates[1], &roots, at)
                .is_err()
        );
    }

    #[test]
    fn s37_signed_attribute_checks() {
        let check = |name: &str| {
            let signed = SignedData::parse(&cms(name)).unwrap();
            let chains = vec![signed.certificates.clone()];
            signed.verify_signed_attributes(&signed.signer_infos[0], chains)
        };
        for (bad, words) in [
            (
                "TimeStampTokenWithoutSignedAttributeContentType.p7s",
                "invalid content type: attribute not found",
            ),
            (
                "TimeStampTokenInvalidSignedAttributeContentType.p7s",
                "content type",
            ),
            (
                "TimeStampTokenWithoutSignedAttributeDigest.p7s",
                "invalid message digest: attribute not found",
            ),
            (
                "TimeStampTokenWithSignedAttributeSHA1.p7s",
                "unsupported digest algorithm",
            ),
            ("TimeStampTokenWithInvalidSigningTime.p7s", "invalid signing time"),
            (
                "TimeStampTokenWithSigningTimeBeforeExpected.p7s",
                "is outside certificate's validity period",
            ),
            (
                "TimeStampTokenWithoutSignedAttributes.p7s",
                "missing signed attributes",
            ),
        ] {
            let err = check(bad).expect_err(bad);
            assert!(err.contains(words), "{bad}: {err}");
        }
        check("TimeStampTokenWithSigningTime.p7s").unwrap();
    }
}
