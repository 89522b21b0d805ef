//! [`SignedToken`]: an RFC 3161 TimeStampToken — a CMS SignedData whose
//! content is a TSTInfo — and its verification: the signing certificate named
//! by the ESSCertIDv2 attribute (RFC 5035), the CMS signature and attributes,
//! the chain to a trusted TSA root, and the timeStamping key usage.

use aws_lc_rs::digest;
use const_oid::ObjectIdentifier;
use time::OffsetDateTime;

use super::{
    TimestampError, TstInfo,
    asn1::{self, Reader},
    cms::{self, SignedData, SignerInfo, hash_for},
};
use crate::x509::Certificate;

const TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const SIGNING_CERTIFICATE_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// A parsed RFC 3161 TimeStampToken (CMS ContentInfo holding SignedData over a TSTInfo).
#[derive(Debug, Clone)]
pub struct SignedToken {
    signed: SignedData,
}

impl SignedToken {
    /// Parses a token from BER or DER; the encapsulated content must be a TSTInfo.
    pub fn parse(der_or_ber: &[u8]) -> Result<Self, TimestampError> {
        let signed = SignedData::parse(der_or_ber)?;
        if signed.content_type != cms::TST_INFO {
            return Err(TimestampError::UnexpectedContentType(
                signed.content_type.to_string(),
            ));
        }
        Ok(Self { signed })
    }

    /// The certificates the token carries, in token order.
    pub fn certificates(&self) -> &[Certificate] {
        &self.signed.certificates
    }

    /// Decodes the TSTInfo the token signs.
    pub fn info(&self) -> Result<TstInfo, TimestampError> {
        TstInfo::from_der(&self.signed.content).map_err(TimestampError::TstInfoSyntax)
    }

    /// Verifies the token at `at` (normally its genTime) against the trusted
    /// TSA `roots`; one good signer suffices. Returns the TSA chain, leaf first.
    pub fn verify(
        &self,
        roots: &[Certificate],
        at: OffsetDateTime,
    ) -> Result<Vec<Certificate>, TimestampError> {
        let failed = TimestampError::Verification;
        if self.signed.signer_infos.is_empty() {
            return Err(failed("signerInfo not found".into()));
        }
        if roots.is_empty() {
            return Err(failed("tsa root certificate pool cannot be nil".into()));
        }
        let mut last = String::from("signerInfo not found");
        for signer in &self.signed.signer_infos {
            let cert = match self.signing_certificate(signer) {
                Ok(c) => c,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let chain = match self.signed.verify_signer(signer, cert, roots, at) {
                Ok(chain) => chain,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            // RFC 3161 2.3: exactly one usage, timeStamping, in a critical extension.
            match cert.extended_key_usage() {
                Some(eku) if eku.usages.as_slice() == [TIME_STAMPING] => {
                    if eku.critical {
                        return Ok(chain);
                    }
                    last = "signing certificate extended key usage extension must be set as critical".into();
                }
                _ => {
                    last =
                        "signing certificate must have and only have ExtKeyUsageTimeStamping as extended key usage"
                            .into();
                }
            }
        }
        Err(failed(last))
    }

    /// Whether some signer's SigningCertificateV2 names a certificate the
    /// token carries (what a response to a `certReq` request must have).
    pub fn has_signing_certificate(&self) -> bool {
        self.signed
            .signer_infos
            .iter()
            .any(|s| self.signing_certificate(s).is_ok())
    }

    /// The certificate the signer's SigningCertificateV2 attribute names and
    /// whose hash it carries.
    fn signing_certificate(&self, signer: &SignerInfo) -> Result<&Certificate, String> {
        let id = signer
            .attribute(SIGNING_CERTIFICATE_V2)
            .and_then(|tlv| EssCertIdV2::first(tlv.full))
            .map_err(|e| format!("failed to get SigningCertificateV2 from signed attributes: {e}"))?
            .ok_or("signingCertificateV2 does not contain any certificate")?;
        let candidate = match &id.issuer_serial {
            Some((issuer, serial)) => {
                let issuer = issuer.as_ref().ok_or("issuer name is missing in IssuerSerial")?;
                self.signed.certificate(issuer, serial)
            }
            None => self.signed.certificate(&signer.issuer, &signer.serial),
        }
        .ok_or("signing certificate not found in the timestamp token")?;
        let hash = match &id.hash_algorithm {
            None => &digest::SHA256,
            Some(oid) => hash_for(oid)
                .ok_or("unsupported certificate hash algorithm in SigningCertificateV2 attribute")?,
        };
        if digest::digest(hash, candidate.der()).as_ref() != id.cert_hash.as_slice() {
            return Err("signing certificate hash does not match CertHash in signed attribute".into());
        }
        Ok(candidate)
    }
}

/// The first ESSCertIDv2 of a SigningCertificateV2 attribute value.
struct EssCertIdV2 {
    hash_algorithm: Option<ObjectIdentifier>,
    cert_hash: Vec<u8>,
    /// The directoryName issuer (full Name DER; `None` when the GeneralName is
    /// another choice) and the serial's INTEGER content.
    issuer_serial: Option<(Option<Vec<u8>>, Vec<u8>)>,
}

impl EssCertIdV2 {
    /// `SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies … OPTIONAL }`.
    fn first(der: &[u8]) -> Result<Option<Self>, String> {
        let outer = Reader::new(der).expect(asn1::SEQUENCE, "signingCertificateV2")?;
        let mut r = outer.reader();
        let certs = r.expect(asn1::SEQUENCE, "[]eSSCertIDv2")?;
        let mut certs = certs.reader();
        if certs.is_empty() {
            return Ok(None);
        }
        let id = certs.expect(asn1::SEQUENCE, "eSSCertIDv2")?;
        let mut f = id.reader();
        let hash_algorithm = match f.optional(asn1::SEQUENCE)? {
            Some(alg) => Some(alg.reader().oid("Algorithm")?),
            None => None,
        };
        let cert_hash = f.expect(asn1::OCTET_STRING, "CertHash")?.content.to_vec();
        let issuer_serial = match f.optional(asn1::SEQUENCE)? {
            None => None,
            Some(is) => {
                let mut i = is.reader();
                let names = i.expect(asn1::SEQUENCE, "generalNames")?;
                let issuer = match names.reader().optional(0xa4)? {
                    Some(dir) => Some(Reader::new(dir.content).any()?.full.to_vec()),
                    None => None,
                };
                let serial = i.integer_bytes("SerialNumber")?.to_vec();
                Some((issuer, serial))
            }
        };
        Ok(Some(Self {
            hash_algorithm,
            cert_hash,
            issuer_serial,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str) -> SignedToken {
        SignedToken::parse(&testkit::read_vector(&format!("tspclient-go/testdata/{name}"))).unwrap()
    }

    #[test]
    fn s10_issuer_serial_is_optional() {
        let t = token("TimeStampTokenWithoutSigningCertificateV2IssuerSerial.p7s");
        let cert = t.signing_certificate(&t.signed.signer_infos[0]).unwrap();
        assert_eq!(
            cert.sha256_thumbprint(),
            "13d6e9c420ff6d4e2754728c68e77882656467db9a190f816597f67fb6ccc6f9"
        );
    }

    #[test]
    fn s09_wrong_issuer_choice_tag() {
        let t = token("TimeStampTokenWithWrongSigningCertificateV2IssuerChoiceTag.p7s");
        let err = t.signing_certificate(&t.signed.signer_infos[0]).unwrap_err();
        assert_eq!(err, "issuer name is missing in IssuerSerial");
    }
}
