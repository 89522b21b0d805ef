//! Fuzzes CRL parsing: arbitrary bytes as a DER CertificateList; when one
//! parses, every accessor and the decision against the e2e CRL fixture's
//! leaf and intermediate run on it. None of it may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notary::{revocation::crl, x509::read_certificates};

const CHAIN: &[u8] = include_bytes!("../../../shared/vectors/notation/e2e/config/crl/certchain_with_crl.pem");

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = crl::Crl::from_der(data) {
        let _ = (
            list.this_update(),
            list.next_update(),
            list.is_delta(),
            list.revoked_count(),
        );
        let _ = (list.number(), list.base_number(), list.freshest_crl_urls());
        if let Ok(chain) = read_certificates(CHAIN) {
            // Any fixed time will do; the leaf's notBefore avoids a `time` dependency.
            let now = chain[0].not_before();
            let _ = crl::check(&chain[0], &chain[1], &list, None, now);
            let _ = crl::check(&chain[0], &chain[1], &list, Some(&list), now);
        }
    }
});
