//! Fuzzes the COSE envelope parser: any bytes, parsed as `application/cose`;
//! whatever parses is also signature-checked and read as a payload. Nothing
//! may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notary::envelope::{Envelope, MEDIA_TYPE_COSE};

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::parse(MEDIA_TYPE_COSE, data) {
        let _ = env.verify_signature();
        let _ = env.target_artifact();
        let _ = env.signing_input();
    }
});
