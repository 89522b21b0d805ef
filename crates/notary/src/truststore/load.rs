//! Loading the trust stores a trust-policy statement names.

use super::{TrustStore, TrustStoreError, TrustStoreType};
use crate::x509::Certificate;

/// The certificates of every store of type `ty` among a policy statement's
/// `trustStores` entries (`"<type>:<name>"`), in entry order. Entries of other
/// types are skipped, repeated entries are loaded once, and an entry without
/// the `:` separator is an error naming `policy_name`.
///
/// Pick `ty` with [`TrustStoreType::for_signing_scheme`] for the signature and
/// [`TrustStoreType::tsa_for_signing_scheme`] for its timestamp.
pub fn load_trust_stores(
    store: &dyn TrustStore,
    ty: TrustStoreType,
    policy_name: &str,
    entries: &[String],
) -> Result<Vec<Certificate>, TrustStoreError> {
    let mut loaded: Vec<&str> = Vec::new();
    let mut certificates = Vec::new();
    for entry in entries {
        if loaded.contains(&entry.as_str()) {
            continue;
        }
        let Some((entry_type, name)) = entry.split_once(':') else {
            return Err(TrustStoreError::MissingSeparator {
                policy: policy_name.to_string(),
                entry: entry.clone(),
            });
        };
        if entry_type != ty.as_str() {
            continue;
        }
        certificates.extend(store.certificates(ty, name)?);
        loaded.push(entry);
    }
    Ok(certificates)
}
