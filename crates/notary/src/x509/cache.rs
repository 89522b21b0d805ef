//! Decoded, rule-checked signing chains, remembered.
//!
//! A verifier sees the same few signing chains over and over: every image a
//! pipeline signs carries its chain. Decoding the certificates and checking
//! the code-signing rules (which needs no clock: `signing_time` is `None`)
//! gives the same answer for the same bytes every time, so the answer is
//! kept, keyed by a SHA-256 over the exact DER of every certificate.
//!
//! Only chains that passed are kept, so an entry can never let a bad chain
//! through, and failures are recomputed and reported in full each time. The
//! set is bounded; when full it is cleared, since a verifier's working set is
//! small and a clear only costs one recomputation per chain.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use super::{Certificate, CertificateError, validate_code_signing_chain};

const CAPACITY: usize = 1024;

type Chains = HashMap<[u8; 32], Arc<[Certificate]>>;

fn chains() -> &'static Mutex<Chains> {
    static CHAINS: OnceLock<Mutex<Chains>> = OnceLock::new();
    CHAINS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn key(ders: &[Vec<u8>]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for der in ders {
        ctx.update(&(der.len() as u64).to_be_bytes());
        ctx.update(der);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Decodes a signing chain (DER, leaf first) and checks it against the
/// code-signing rules ([`validate_code_signing_chain`] with no signing time).
pub fn decode_code_signing_chain(ders: &[Vec<u8>]) -> Result<Arc<[Certificate]>, CertificateError> {
    let key = key(ders);
    if let Some(hit) = chains().lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(hit);
    }
    let chain = ders
        .iter()
        .map(|der| Certificate::from_der(der.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    validate_code_signing_chain(&chain, None)?;
    let chain: Arc<[Certificate]> = chain.into();
    if let Ok(mut c) = chains().lock() {
        if c.len() >= CAPACITY {
            c.clear();
        }
        c.insert(key, chain.clone());
    }
    Ok(chain)
}
