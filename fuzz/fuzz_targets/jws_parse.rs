//! Fuzzes the JWS envelope parser: any bytes, parsed as `application/jose+json`;
//! whatever parses is also signature-checked and read as a payload. Nothing
//! may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notary::envelope::{Envelope, MEDIA_TYPE_JWS};

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::parse(MEDIA_TYPE_JWS, data) {
        let _ = env.verify_signature();
        let _ = env.target_artifact();
        let _ = env.signing_input();
    }
});
