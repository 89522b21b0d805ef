//! Fuzzes what a registry or a user hands the registry client: image
//! references (also what admission will read from pod specs), the
//! `WWW-Authenticate` challenge of a 401, and manifests and indexes as served.
//! None of it may panic, and a reference that parses must print as a string
//! that parses back to the same reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci::{
    ImageIndex, ImageManifest,
    registry::{Reference, parse_challenge},
};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(reference) = Reference::parse(text) {
            let shown = reference.to_string();
            let again = Reference::parse(&shown)
                .unwrap_or_else(|e| panic!("{text:?} parsed, but its display {shown:?} does not: {e}"));
            assert_eq!(again, reference, "{text:?} -> {shown:?} is another reference");
            let _ = reference.repository_path();
            let _ = reference.target();
        }
        let _ = parse_challenge(text);
    }
    let _ = serde_json::from_slice::<ImageManifest>(data);
    let _ = serde_json::from_slice::<ImageIndex>(data);
});
