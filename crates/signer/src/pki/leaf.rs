//! Certificates: per-job code-signing leaves, the development root CA, TSA
//! certificates.
//!
//! A leaf meets the Notary Project certificate requirements: X.509 v3,
//! keyUsage digitalSignature (critical), extendedKeyUsage codeSigning,
//! basicConstraints CA:false (critical), subject and authority key
//! identifiers, and the CRL distribution point and OCSP URL of the service
//! when given. The TBSCertificate is written directly as DER; the issuer's
//! name, key identifier and algorithm come precomputed from [`Issuer`].

use const_oid::ObjectIdentifier;
use notary::crypto::Signer;
use time::{Duration, OffsetDateTime};

use super::{Issuer, PkiError, asn1, oids, sha1, signature_algorithm, spki_key_bits, x509_signature};

/// What a per-job leaf certificate says.
#[derive(Debug, Clone)]
pub struct LeafRequest<'a> {
    /// Serial number, big-endian, positive, at most 20 octets (16 random
    /// bytes with the top bit cleared, say). Leading zero bytes are dropped.
    pub serial: &'a [u8],
    /// Subject, `CN=build,O=Example,ST=WA,C=US`: comma-separated, encoded in
    /// display order written (RFC 4514; see [`parse_subject`]).
    pub subject: &'a str,
    /// The job key's DER SubjectPublicKeyInfo.
    pub public_key_spki: &'a [u8],
    /// Start of validity (whole seconds are kept).
    pub not_before: OffsetDateTime,
    /// End of validity (whole seconds are kept).
    pub not_after: OffsetDateTime,
    /// CRL distribution point URI.
    pub crl_url: Option<&'a str>,
    /// OCSP responder URI (Authority Information Access).
    pub ocsp_url: Option<&'a str>,
}

/// Issues a code-signing leaf certificate for `req`, signed by `issuer`; DER.
pub fn issue_leaf(issuer: &Issuer, req: &LeafRequest) -> Result<Vec<u8>, PkiError> {
    let serial = check_serial(req.serial)?;
    check_validity(req.not_before, req.not_after)?;
    let key_bits = check_spki(req.public_key_spki)?;
    let subject = parse_subject(req.subject)?;

    let mut exts: Vec<Vec<u8>> = Vec::with_capacity(7);
    exts.push(extension(&oids::KEY_USAGE, true, &asn1::named_bits(&[0])));
    exts.push(extension(&oids::BASIC_CONSTRAINTS, true, &asn1::seq(&[])));
    exts.push(extension(
        &oids::EXT_KEY_USAGE,
        false,
        &asn1::seq(&[&asn1::oid(&oids::KP_CODE_SIGNING)]),
    ));
    exts.push(extension(
        &oids::SUBJECT_KEY_ID,
        false,
        &asn1::octets(&sha1(key_bits)),
    ));
    exts.push(authority_key_id(issuer.key_id()));
    if let Some(url) = req.crl_url {
        exts.push(crl_distribution_point(url)?);
    }
    if let Some(url) = req.ocsp_url {
        exts.push(ocsp_access(url)?);
    }
    let tbs = tbs_certificate(
        &serial,
        &issuer.cached.signature_alg,
        issuer.name_der(),
        req.not_before,
        req.not_after,
        &subject,
        req.public_key_spki,
        &exts,
    );
    issuer.sign_structure(&tbs)
}

/// A self-signed root CA certificate for `signer`'s key (whose DER SPKI is
/// `public_key_spki`): keyUsage keyCertSign+cRLSign (critical),
/// basicConstraints CA:true (critical), subject key identifier; valid from
/// five minutes ago for `validity`, with a random serial. For the
/// development default ("a generated test CA") and tests.
pub fn generate_ca(
    subject: &str,
    signer: &dyn Signer,
    public_key_spki: &[u8],
    validity: Duration,
) -> Result<Vec<u8>, PkiError> {
    let key_bits = check_spki(public_key_spki)?;
    let name = parse_subject(subject)?;
    let (alg_der, _, alg) = signature_algorithm(signer.key_spec())?;
    let (not_before, not_after) = validity_from_now(validity)?;
    let serial = random_serial()?;
    let ski = sha1(key_bits);
    let exts = [
        extension(&oids::KEY_USAGE, true, &asn1::named_bits(&[5, 6])),
        extension(&oids::BASIC_CONSTRAINTS, true, &asn1::seq(&[&asn1::TRUE])),
        extension(&oids::SUBJECT_KEY_ID, false, &asn1::octets(&ski)),
        authority_key_id(&ski),
    ];
    let tbs = tbs_certificate(
        &serial,
        &alg_der,
        &name,
        not_before,
        not_after,
        &name,
        public_key_spki,
        &exts,
    );
    let jose = signer.sign(&tbs).map_err(|e| PkiError::Signing(e.to_string()))?;
    let sig = x509_signature(alg, jose)?;
    let cert = asn1::seq(&[&tbs, &alg_der, &asn1::bits(&sig)]);
    // Self-check: the key really is the signer's.
    notary::x509::Certificate::from_der(cert.clone())
        .and_then(|c| c.verify_signature_with(&c))
        .map_err(|e| PkiError::Issuer(format!("generated CA does not verify with its own key: {e}")))?;
    Ok(cert)
}

/// A TSA certificate issued by `issuer`: extendedKeyUsage timeStamping only
/// (critical), keyUsage digitalSignature (critical), basicConstraints CA:false,
/// key identifiers; valid from five minutes ago for `validity`.
pub fn generate_tsa_certificate(
    issuer: &Issuer,
    subject: &str,
    public_key_spki: &[u8],
    serial: &[u8],
    validity: Duration,
) -> Result<Vec<u8>, PkiError> {
    let serial = check_serial(serial)?;
    let key_bits = check_spki(public_key_spki)?;
    let name = parse_subject(subject)?;
    let (not_before, not_after) = validity_from_now(validity)?;
    let exts = [
        extension(&oids::KEY_USAGE, true, &asn1::named_bits(&[0])),
        extension(&oids::BASIC_CONSTRAINTS, true, &asn1::seq(&[])),
        extension(
            &oids::EXT_KEY_USAGE,
            true,
            &asn1::seq(&[&asn1::oid(&oids::KP_TIME_STAMPING)]),
        ),
        extension(&oids::SUBJECT_KEY_ID, false, &asn1::octets(&sha1(key_bits))),
        authority_key_id(issuer.key_id()),
    ];
    let tbs = tbs_certificate(
        &serial,
        &issuer.cached.signature_alg,
        issuer.name_der(),
        not_before,
        not_after,
        &name,
        public_key_spki,
        &exts,
    );
    issuer.sign_structure(&tbs)
}

#[allow(clippy::too_many_arguments)]
fn tbs_certificate(
    serial: &[u8],
    signature_alg: &[u8],
    issuer: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    subject: &[u8],
    spki: &[u8],
    extensions: &[Vec<u8>],
) -> Vec<u8> {
    const VERSION_3: [u8; 5] = [0xa0, 3, asn1::INTEGER, 1, 2];
    let validity = asn1::seq(&[&asn1::x509_time(not_before), &asn1::x509_time(not_after)]);
    let ext_refs: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
    let exts = asn1::tlv(asn1::ctx(3), &asn1::seq(&ext_refs));
    asn1::seq(&[
        &VERSION_3,
        &asn1::uint(serial),
        signature_alg,
        issuer,
        &validity,
        subject,
        spki,
        &exts,
    ])
}

/// `Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }`.
pub(crate) fn extension(id: &ObjectIdentifier, critical: bool, value: &[u8]) -> Vec<u8> {
    let crit: &[u8] = if critical { &asn1::TRUE } else { &[] };
    asn1::seq(&[&asn1::oid(id), crit, &asn1::octets(value)])
}

/// AuthorityKeyIdentifier with keyIdentifier only.
pub(crate) fn authority_key_id(key_id: &[u8]) -> Vec<u8> {
    let value = asn1::seq(&[&asn1::tlv(asn1::ctx_prim(0), key_id)]);
    extension(&oids::AUTHORITY_KEY_ID, false, &value)
}

fn check_uri(url: &str, what: &str) -> Result<(), PkiError> {
    let ok = !url.is_empty()
        && url.is_ascii()
        && !url.chars().any(|c| c.is_ascii_control() || c == ' ')
        && url.contains(':');
    if ok {
        Ok(())
    } else {
        Err(PkiError::Invalid(format!(
            "{what} {url:?} is not an absolute ASCII URI"
        )))
    }
}

fn crl_distribution_point(url: &str) -> Result<Vec<u8>, PkiError> {
    check_uri(url, "CRL distribution point")?;
    let uri = asn1::tlv(asn1::ctx_prim(6), url.as_bytes());
    let full_name = asn1::tlv(asn1::ctx(0), &uri);
    let dp_name = asn1::tlv(asn1::ctx(0), &full_name);
    let value = asn1::seq(&[&asn1::seq(&[&dp_name])]);
    Ok(extension(&oids::CRL_DP, false, &value))
}

fn ocsp_access(url: &str) -> Result<Vec<u8>, PkiError> {
    check_uri(url, "OCSP URL")?;
    let uri = asn1::tlv(asn1::ctx_prim(6), url.as_bytes());
    let value = asn1::seq(&[&asn1::seq(&[&asn1::oid(&oids::AD_OCSP), &uri])]);
    Ok(extension(&oids::AIA, false, &value))
}

/// Checks a serial: positive, non-zero, at most 20 octets. Returns the magnitude.
pub(crate) fn check_serial(serial: &[u8]) -> Result<Vec<u8>, PkiError> {
    let m = asn1::strip_zeros(serial);
    if m.is_empty() {
        return Err(PkiError::Invalid(
            "serial number must be positive (it is zero or empty)".into(),
        ));
    }
    // 20 octets of INTEGER content, sign byte included (RFC 5280 4.1.2.2).
    let content_len = m.len() + usize::from(m.first().is_some_and(|b| b & 0x80 != 0));
    if content_len > 20 {
        return Err(PkiError::Invalid(format!(
            "serial number is {content_len} octets; at most 20 are allowed"
        )));
    }
    Ok(m.to_vec())
}

fn check_validity(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<(), PkiError> {
    if not_after <= not_before {
        return Err(PkiError::Invalid(format!(
            "validity: notAfter {not_after} is not after notBefore {not_before}"
        )));
    }
    if not_before.year() < 1950 || not_after.year() > 9999 {
        return Err(PkiError::Invalid(
            "validity: dates must lie in years 1950–9999".into(),
        ));
    }
    Ok(())
}

/// Checks the SPKI is DER for a key the Notary Project allows; returns the key bits.
fn check_spki(spki: &[u8]) -> Result<&[u8], PkiError> {
    notary::algorithm::KeySpec::from_spki_der(spki)
        .map_err(|e| PkiError::Invalid(format!("public key: {e}")))?;
    spki_key_bits(spki).map_err(|e| PkiError::Invalid(format!("public key: {e}")))
}

fn validity_from_now(validity: Duration) -> Result<(OffsetDateTime, OffsetDateTime), PkiError> {
    if validity <= Duration::ZERO {
        return Err(PkiError::Invalid("validity must be positive".into()));
    }
    let now = OffsetDateTime::now_utc();
    let not_before = now - Duration::minutes(5);
    let not_after = now
        .checked_add(validity)
        .ok_or_else(|| PkiError::Invalid("validity is too long".into()))?;
    check_validity(not_before, not_after)?;
    Ok((not_before, not_after))
}

/// 16 random bytes, top bit clear, never zero.
pub fn random_serial() -> Result<Vec<u8>, PkiError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| PkiError::Signing("no randomness".into()))?;
    if let Some(b) = bytes.first_mut() {
        *b = (*b & 0x7f) | 0x01;
    }
    Ok(bytes.to_vec())
}

/// Parses `CN=build,O=Example,ST=WA,C=US` into a DER Name, one RDN per
/// attribute, RFC 4514 style: the string's order is kept as the name's
/// display order (Go, OpenSSL and notation print it back as written), so
/// the DER RDNSequence holds the attributes in reverse (`C` first here). Keys (any case): C, ST, L, O, OU, CN,
/// STREET, POSTALCODE, SERIALNUMBER, DC. `\` escapes the next character
/// (`\,` for a comma in a value); spaces around keys and values are dropped.
pub fn parse_subject(subject: &str) -> Result<Vec<u8>, PkiError> {
    let err = |reason: String| PkiError::Subject {
        subject: subject.to_owned(),
        reason,
    };
    let mut parts: Vec<String> = vec![String::new()];
    let mut chars = subject.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().ok_or_else(|| err("trailing backslash".into()))?;
                // Keep escaped characters distinguishable from separators.
                if let Some(p) = parts.last_mut() {
                    p.push('\\');
                    p.push(next);
                }
            }
            ',' => parts.push(String::new()),
            c => {
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    if subject.trim().is_empty() {
        return Err(err("empty subject".into()));
    }
    let mut rdns = Vec::with_capacity(parts.len());
    for part in &parts {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| err(format!("{:?} is not KEY=value", part.trim())))?;
        let key = key.trim();
        let value = unescape(value.trim());
        if value.is_empty() {
            return Err(err(format!("empty value for {key}")));
        }
        let (arc, tag) = match key.to_ascii_uppercase().as_str() {
            "C" => {
                if value.len() != 2 || !value.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Err(err(format!("country {value:?} is not a two-letter code")));
                }
                ("2.5.4.6", asn1::PRINTABLE_STRING)
            }
            "CN" => ("2.5.4.3", asn1::UTF8_STRING),
            "L" => ("2.5.4.7", asn1::UTF8_STRING),
            "ST" | "S" => ("2.5.4.8", asn1::UTF8_STRING),
            "STREET" => ("2.5.4.9", asn1::UTF8_STRING),
            "O" => ("2.5.4.10", asn1::UTF8_STRING),
            "OU" => ("2.5.4.11", asn1::UTF8_STRING),
            "POSTALCODE" => ("2.5.4.17", asn1::UTF8_STRING),
            "SERIALNUMBER" => {
                if !value.chars().all(is_printable) {
                    return Err(err(format!("serialNumber {value:?} is not a PrintableString")));
                }
                ("2.5.4.5", asn1::PRINTABLE_STRING)
            }
            "DC" => {
                if !value.is_ascii() {
                    return Err(err(format!("DC {value:?} is not ASCII")));
                }
                ("0.9.2342.19200300.100.1.25", asn1::IA5_STRING)
            }
            other => return Err(err(format!("unsupported attribute {other:?}"))),
        };
        if value.len() > 256 {
            return Err(err(format!("value of {key} is longer than 256 bytes")));
        }
        let oid = ObjectIdentifier::new(arc).map_err(|e| err(e.to_string()))?;
        let atv = asn1::seq(&[&asn1::oid(&oid), &asn1::tlv(tag, value.as_bytes())]);
        rdns.push(asn1::tlv(asn1::SET, &atv));
    }
    // RFC 4514 writes the last RDN first: encode in reverse, so the name
    // prints (openssl, Go, notation) exactly as written.
    let refs: Vec<&[u8]> = rdns.iter().rev().map(Vec::as_slice).collect();
    Ok(asn1::seq(&refs))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_printable(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

/// Serial (INTEGER content), issuer Name DER, subject key identifier.
pub(crate) type CertParts = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// A certificate's serial (INTEGER content), issuer Name DER and subject key identifier, if any.
pub(crate) fn cert_parts(cert: &[u8]) -> Result<CertParts, PkiError> {
    let bad = |e: String| PkiError::Certificate(e);
    let outer = asn1::single(cert, asn1::SEQUENCE, "Certificate").map_err(bad)?;
    let tbs = outer
        .reader()
        .expect(asn1::SEQUENCE, "TBSCertificate")
        .map_err(bad)?;
    let mut r = tbs.reader();
    r.optional(asn1::ctx(0)).map_err(bad)?;
    let serial = r.integer("serialNumber").map_err(bad)?.to_vec();
    r.expect(asn1::SEQUENCE, "signature").map_err(bad)?;
    let issuer = r.expect(asn1::SEQUENCE, "issuer").map_err(bad)?.full.to_vec();
    for what in ["validity", "subject", "subjectPublicKeyInfo"] {
        r.expect(asn1::SEQUENCE, what).map_err(bad)?;
    }
    r.optional(asn1::ctx_prim(1)).map_err(bad)?;
    r.optional(asn1::ctx_prim(2)).map_err(bad)?;
    let Some(exts) = r.optional(asn1::ctx(3)).map_err(bad)? else {
        return Ok((serial, issuer, None));
    };
    let list = asn1::single(exts.content, asn1::SEQUENCE, "extensions").map_err(bad)?;
    let mut r = list.reader();
    while !r.is_empty() {
        let ext = r.expect(asn1::SEQUENCE, "extension").map_err(bad)?;
        let mut e = ext.reader();
        let id = e.oid("extnID").map_err(bad)?;
        e.optional(asn1::BOOLEAN).map_err(bad)?;
        let value = e.expect(asn1::OCTET_STRING, "extnValue").map_err(bad)?;
        if id == oids::SUBJECT_KEY_ID {
            let ski = asn1::single(value.content, asn1::OCTET_STRING, "subjectKeyIdentifier").map_err(bad)?;
            return Ok((serial, issuer, Some(ski.content.to_vec())));
        }
    }
    Ok((serial, issuer, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        let der = parse_subject("CN=build,O=Example\\, Inc.,ST=WA,C=US").unwrap();
        use der::Decode;
        let parsed = x509_cert::name::Name::from_der(&der).unwrap();
        assert_eq!(parsed.to_string(), "CN=build,O=Example\\, Inc.,ST=WA,C=US");
        for bad in ["", "CN", "XX=1", "C=USA", "CN=", "CN=a,,O=b", "CN=a\\"] {
            assert!(parse_subject(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serials() {
        assert!(check_serial(&[0, 0]).is_err());
        assert_eq!(check_serial(&[0, 1]).unwrap(), [1]);
        assert!(check_serial(&[0x7f; 20]).is_ok());
        assert!(check_serial(&[0x80; 20]).is_err());
        assert!(check_serial(&[1; 21]).is_err());
    }
}
