//! X.509 v2 certificate revocation lists (RFC 5280 §5), signed by the CA.
//!
//! The CRL carries the CRL number and the CA's authority key identifier;
//! each entry carries its reason code when one is known. `nextUpdate` is
//! always present (notation refuses CRLs without one).

use time::OffsetDateTime;

use super::{Issuer, PkiError, Reason, asn1, leaf, oids};

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedCert {
    /// Its serial number, big-endian magnitude (leading zero bytes are ignored).
    pub serial: Vec<u8>,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Why, when known (written as the entry's reasonCode extension).
    pub reason: Option<Reason>,
}

/// A DER X.509 v2 CRL from `issuer` listing `revoked`, numbered `number`.
pub fn crl(
    issuer: &Issuer,
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    revoked: &[RevokedCert],
) -> Result<Vec<u8>, PkiError> {
    if next_update <= this_update {
        return Err(PkiError::Invalid(format!(
            "CRL: nextUpdate {next_update} is not after thisUpdate {this_update}"
        )));
    }
    const VERSION_2: [u8; 3] = [asn1::INTEGER, 1, 1];
    let mut entries = Vec::with_capacity(revoked.len() * 48 + 8);
    for r in revoked {
        let serial =
            leaf::check_serial(&r.serial).map_err(|e| PkiError::Invalid(format!("CRL entry: {e}")))?;
        let ext = r.reason.map(|reason| {
            let value = asn1::tlv(asn1::ENUMERATED, &[reason.code()]);
            asn1::seq(&[&leaf::extension(&oids::CRL_REASON, false, &value)])
        });
        entries.extend(asn1::seq(&[
            &asn1::uint(&serial),
            &asn1::x509_time(r.revoked_at),
            ext.as_deref().unwrap_or_default(),
        ]));
    }
    let entries = if revoked.is_empty() {
        Vec::new()
    } else {
        asn1::tlv(asn1::SEQUENCE, &entries)
    };
    let exts = asn1::seq(&[
        &leaf::authority_key_id(issuer.key_id()),
        &leaf::extension(&oids::CRL_NUMBER, false, &asn1::small_uint(number)),
    ]);
    let tbs = asn1::seq(&[
        &VERSION_2,
        &issuer.cached.signature_alg,
        issuer.name_der(),
        &asn1::x509_time(this_update),
        &asn1::x509_time(next_update),
        &entries,
        &asn1::tlv(asn1::ctx(0), &exts),
    ]);
    issuer.sign_structure(&tbs)
}
