//! Fuzzes trust policy parsing: arbitrary bytes as an OCI (and a blob) trust
//! policy document; when one parses, scope lookup and identity matching run on
//! it. None of it may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notary::policy::{BlobTrustPolicyDocument, TrustPolicyDocument, subject_matches};

const SUBJECT: &str = "CN=SomeCN,OU=SomeOU,O=SomeOrg,L=Seattle,ST=WA,C=US";

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = TrustPolicyDocument::from_json(data) {
        let _ = doc.validate();
        let _ = doc.to_json_pretty();
        for repository in ["localhost:5000/test-repo", "local/e2e", "*", ""] {
            if let Ok(statement) = doc.statement_for(repository) {
                let _ = subject_matches(&statement.trusted_identities, SUBJECT);
                // The input's own text as a certificate subject exercises the DN parser.
                let _ = subject_matches(&statement.trusted_identities, &String::from_utf8_lossy(data));
            }
        }
        let _ = doc.statement_for_artifact(
            "localhost:5000/test-repo@sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9",
        );
    }
    if let Ok(doc) = BlobTrustPolicyDocument::from_json(data) {
        let _ = doc.global_statement();
        let _ = doc.to_json_pretty();
    }
});
