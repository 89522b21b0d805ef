//! Fuzzes OCSP response parsing and verification: arbitrary bytes as the
//! answer about the e2e OCSP fixture's leaf. None of it may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notary::{revocation::ocsp, x509::read_certificates};

const CHAIN: &[u8] =
    include_bytes!("../../../shared/vectors/notation/e2e/config/ocsp/certchain_with_ocsp.pem");

fuzz_target!(|data: &[u8]| {
    if let Ok(chain) = read_certificates(CHAIN) {
        let _ = ocsp::check_response(data, &chain[0], &chain[1], chain[0].not_before());
    }
});
