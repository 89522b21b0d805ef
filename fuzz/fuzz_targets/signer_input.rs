//! Fuzzes what reaches the signing service from the network and from an
//! audit export: OCSP requests, RFC 3161 timestamp queries, sign requests
//! (JSON), repository names, certificate subjects, rule globs and exported
//! audit lines. None of it may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = signer::pki::parse_ocsp_request(data);
    let _ = signer::pki::parse_timestamp_request(data);
    let _ = serde_json::from_slice::<signer::service::SignRequest>(data);
    let _ = signer::store::verify_export(data, &[]);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = signer::service::validate_repository(text);
    let _ = signer::pki::leaf::parse_subject(text);
    if let Some((pattern, value)) = text.split_once('\n') {
        let _ = signer::auth::rules::star_match(pattern, value);
    }
});
