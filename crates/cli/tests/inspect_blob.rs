#![allow(clippy::unwrap_used)]
//! `signet inspect` and `signet blob …` against the notation e2e vectors
//! (INDEX.md §1.2 E01, E02, E46–E49; §1.5 B01–B10; §1.3 P20, P23), plus a
//! runtime blob sign/verify round trip.

use std::{fs, path::PathBuf, process::Output};

mod common;

use common::{Env, expect};

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn expected(rel: &str) -> String {
    fs::read_to_string(testkit::vector(&format!("e2e/expected/{rel}"))).unwrap()
}

/// The expected tree with its registry reference (line 2) replaced by ours.
fn with_reference(expected: &str, reference: &str) -> String {
    let mut lines: Vec<&str> = expected.split('\n').collect();
    assert!(lines[1].starts_with("localhost:5000/"), "{}", lines[1]);
    lines[1] = reference;
    lines.join("\n")
}

#[track_caller]
fn assert_same(actual: &str, expected: &str) {
    if actual != expected {
        panic!("output differs\n--- actual\n{actual}--- expected\n{expected}");
    }
}

// ---------------------------------------------------------------------------
// signet inspect (§1.2)

/// E01, E02: an unsigned artifact.
#[test]
fn inspect_no_signature() {
    let env = Env::new();
    let layout = env.layout("e2e", "e2e");
    let r = format!("{}:v1", layout.display());
    let digest = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";

    // E01: the expected file names a registry reference; ours is DIR@digest.
    let out = env.signet(&["inspect", "--oci-layout", &r]);
    expect(&out, true, &[]);
    let want = expected("inspect/e2e.no-signature.txt").replace(
        "localhost:5000/e2e-inspect-no-signature",
        &layout.display().to_string(),
    );
    assert_same(&stdout(&out), &want);
    assert!(want.contains(&format!("{}@{digest}", layout.display())));

    // E02
    let out = env.signet(&["inspect", "--oci-layout", &r, "--output", "json"]);
    expect(&out, true, &[]);
    assert_same(&stdout(&out), &expected("inspect/e2e.no-signature.json"));
}

/// E46, E47: a JWS with an RFC 3161 timestamp and user metadata.
#[test]
fn inspect_timestamped_signature() {
    let env = Env::new();
    let layout = env.layout("e2e-with-timestamped-signature", "e2e-with-timestamped-signature");
    let digest = "sha256:53b0191218aed9a3c1f7c661736ac40cfc8eb928642348fd843ba3f0483c0c20";
    let r = format!("{}@{digest}", layout.display());

    // E46 (tree is the default; `--output tree` and `--output text` are the same).
    let want = with_reference(&expected("inspect/e2e-with-timestamped-signature.tree.txt"), &r);
    for extra in [&[][..], &["--output", "tree"][..], &["-o", "text"][..]] {
        let mut args = vec!["inspect", "--oci-layout", &r];
        args.extend_from_slice(extra);
        let out = env.signet(&args);
        expect(&out, true, &[]);
        assert_same(&stdout(&out), &want);
    }

    // E47
    let out = env.signet(&["inspect", "--oci-layout", &r, "-o", "json"]);
    expect(&out, true, &[]);
    assert_same(
        &stdout(&out),
        &expected("inspect/e2e-with-timestamped-signature.json"),
    );
}

/// E48, E49: a timestamp token that does not parse.
///
/// notation prints Go's CMS parser error there; signet prints its own parser's
/// error in the same position. Every other line must match byte for byte, and
/// the error line must carry notation's prefix.
#[test]
fn inspect_invalid_timestamp() {
    let env = Env::new();
    let layout = env.layout(
        "e2e-with-invalid-timestamped-signature",
        "e2e-with-invalid-timestamped-signature",
    );
    let r = format!("{}:v1", layout.display());
    let digest = "sha256:f1da8cd70d6d851fa2313c8d6618f79508cf1e86877edf1c0bfe49a1b0a6467a";
    const TREE_ERROR: &str = "        │       └── error: failed to parse timestamp countersignature: ";
    const JSON_ERROR: &str = "          \"error\": \"failed to parse timestamp countersignature: ";

    // E48
    let out = env.signet(&["inspect", "--oci-layout", &r]);
    expect(&out, true, &[]);
    let want = with_reference(
        &expected("inspect/e2e-with-invalid-timestamped-signature.tree.txt"),
        &format!("{}@{digest}", layout.display()),
    );
    assert_same_except(&stdout(&out), &want, TREE_ERROR);

    // E49
    let out = env.signet(&["inspect", "--oci-layout", &r, "--output", "json"]);
    expect(&out, true, &[]);
    let want = expected("inspect/e2e-with-invalid-timestamped-signature.json");
    assert_same_except(&stdout(&out), &want, JSON_ERROR);
}

/// Lines equal, except the one line starting with `prefix` in both, whose
/// remainder (the parser's own words) may differ.
#[track_caller]
fn assert_same_except(actual: &str, expected: &str, prefix: &str) {
    let a: Vec<&str> = actual.split('\n').collect();
    let e: Vec<&str> = expected.split('\n').collect();
    assert_eq!(a.len(), e.len(), "line count differs\n{actual}");
    let mut seen = false;
    for (x, y) in a.iter().zip(&e) {
        if y.starts_with(prefix) {
            assert!(x.starts_with(prefix), "{x:?} lacks {prefix:?}");
            seen = true;
        } else {
            assert_eq!(x, y, "\n--- actual\n{actual}");
        }
    }
    assert!(seen, "no error line");
}

// ---------------------------------------------------------------------------
// signet blob inspect (§1.5 B01–B06)

/// B01–B04: exact tree and JSON for the JWS and COSE blob signatures.
#[test]
fn blob_inspect_vectors() {
    let env = Env::new();
    for (name, tree_flags) in [
        ("blob.jws.sig", &["--output", "tree"][..]),
        ("blob.cose.sig", &[][..]),
    ] {
        let path = env.signature(name, name);
        let shown = path.display().to_string();

        let mut args = vec!["blob", "inspect"];
        args.extend_from_slice(tree_flags);
        args.push(&shown);
        let out = env.signet(&args);
        expect(&out, true, &[]);
        let want = expected(&format!("blob-inspect/{name}.tree.txt")).replace("{SIGNATURE_PATH}", &shown);
        assert_same(&stdout(&out), &want);

        // The path as given: relative works too.
        let out = env.signet(&["blob", "inspect", name]);
        let want = expected(&format!("blob-inspect/{name}.tree.txt")).replace("{SIGNATURE_PATH}", name);
        assert_same(&stdout(&out), &want);

        let out = env.signet(&["blob", "inspect", "--output", "json", &shown]);
        expect(&out, true, &[]);
        assert_same(&stdout(&out), &expected(&format!("blob-inspect/{name}.json")));
    }
}

/// B05, B06: malformed signature, unknown output format, bad file names.
#[test]
fn blob_inspect_failures() {
    let env = Env::new();
    let malformed = env.signature("malformed.jws.sig", "malformed.jws.sig");
    expect(
        &env.signet(&["blob", "inspect", malformed.to_str().unwrap()]),
        false,
        &["failed to parse signature"],
    );
    let good = env.signature("blob.jws.sig", "blob.jws.sig");
    expect(
        &env.signet(&["blob", "inspect", "--output", "unknown", good.to_str().unwrap()]),
        false,
        &["unrecognized output format"],
    );
    let unknown = env.signature("blob.jws.sig", "unknown.sig");
    expect(
        &env.signet(&["blob", "inspect", unknown.to_str().unwrap()]),
        false,
        &["invalid signature filename unknown.sig"],
    );
    let hello = env.signature("blob.jws.sig", "hello.unknown.sig");
    expect(
        &env.signet(&["blob", "inspect", hello.to_str().unwrap()]),
        false,
        &["signature format \"unknown\" not supported"],
    );
}

// ---------------------------------------------------------------------------
// signet blob policy (§1.3 P20, P23)

/// P23: `blob policy init` writes exactly what notation writes.
#[test]
fn blob_policy_init_and_show() {
    let env = Env::new();
    let out = env.signet(&[
        "blob",
        "policy",
        "init",
        "--name",
        "example-policy",
        "--global",
        "--trust-store",
        "ca:example-store",
        "--trust-store",
        "ca:example-store2",
        "--trusted-identity",
        "x509.subject: C=example,ST=example,O=example",
        "--trusted-identity",
        "x509.subject: C=example2,ST=example,O=example",
    ]);
    expect(
        &out,
        true,
        &["Successfully initialized blob trust policy file to"],
    );
    let out = env.signet(&["blob", "policy", "show"]);
    expect(&out, true, &[]);
    assert_same(&stdout(&out), &expected("blob-policy/init-example-policy.json"));

    // A second init without --force refuses; with --force it replaces.
    expect(
        &env.signet(&[
            "blob",
            "policy",
            "init",
            "--name",
            "p",
            "--trust-store",
            "ca:s",
            "--trusted-identity",
            "*",
        ]),
        false,
        &["already exists"],
    );
    expect(
        &env.signet(&[
            "blob",
            "policy",
            "init",
            "--name",
            "p",
            "--trust-store",
            "ca:s",
            "--trusted-identity",
            "*",
            "--force",
        ]),
        true,
        &[],
    );
}

/// P20: `blob policy import` then `show` prints the file unchanged.
#[test]
fn blob_policy_import_and_show() {
    let env = Env::new();
    let file = testkit::vector("e2e/config/trustpolicies/blob_trust_policy.json");
    let out = env.signet(&["blob", "policy", "import", file.to_str().unwrap()]);
    expect(
        &out,
        true,
        &["Successfully imported blob trust policy configuration to"],
    );
    let out = env.signet(&["blob", "policy", "show"]);
    expect(&out, true, &[]);
    assert_eq!(out.stdout, fs::read(&file).unwrap());

    // An OCI-only malformed policy is refused (P19).
    let bad = testkit::vector("e2e/config/trustpolicies/malformed_trust_store_trustpolicy.json");
    expect(
        &env.signet(&["blob", "policy", "import", "--force", bad.to_str().unwrap()]),
        false,
        &[],
    );
}

// ---------------------------------------------------------------------------
// signet blob sign / verify (§1.5 B07–B10)

const VERIFIED: &str = "Successfully verified signature for";
const MISMATCH: &str = "integrity check failed. signature does not match the given blob";

/// An env with a test key `e2e` (trusted as ca:e2e) and the e2e blob policy.
fn blob_env() -> (Env, PathBuf) {
    let env = Env::new();
    expect(
        &env.signet(&["cert", "generate-test", "e2e", "--default"]),
        true,
        &[],
    );
    let policy = testkit::vector("e2e/blob/trustpolicies/trustpolicy.blob.json");
    expect(
        &env.signet(&["blob", "policy", "import", policy.to_str().unwrap()]),
        true,
        &[],
    );
    let blob = env.root.join("blobFile.txt");
    fs::write(&blob, "test blob commands").unwrap();
    (env, blob)
}

/// B07, B08 and tampering: runtime round trip in both envelope formats.
#[test]
fn blob_sign_verify_round_trip() {
    let (env, blob) = blob_env();
    let b = blob.to_str().unwrap();
    for format in ["jws", "cose"] {
        let out = env.signet(&["blob", "sign", "--signature-format", format, b]);
        let sig = env.root.join(format!("blobFile.txt.{format}.sig"));
        expect(&out, true, &["Successfully signed", "Signature file written to"]);
        assert!(sig.is_file());
        let s = sig.to_str().unwrap();

        // Signing again needs --force.
        expect(
            &env.signet(&["blob", "sign", "--signature-format", format, b]),
            false,
            &["already exists"],
        );

        // B07: the global statement, a named statement.
        expect(
            &env.signet(&["blob", "verify", "--signature", s, b]),
            true,
            &[VERIFIED],
        );
        expect(
            &env.signet(&[
                "blob",
                "verify",
                "--policy-name",
                "test-blob-statement",
                "-s",
                s,
                b,
            ]),
            true,
            &[VERIFIED],
        );
        expect(
            &env.signet(&["blob", "verify", "--policy-name", "nope", "-s", s, b]),
            false,
            &["no applicable blob trust policy with name \"nope\""],
        );
        let out = env.signet(&["blob", "verify", "-s", s, b, "--output", "json"]);
        expect(&out, true, &[]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["verified"], true);
        assert_eq!(v["trustPolicy"], "test-blob-global-statement");

        // B08: signed as application/octet-stream, verified as image/jpeg.
        expect(
            &env.signet(&["blob", "verify", "--media-type", "image/jpeg", "-s", s, b]),
            false,
            &[MISMATCH],
        );
        // The signed media type matches when given.
        expect(
            &env.signet(&[
                "blob",
                "verify",
                "--media-type",
                "application/octet-stream",
                "-s",
                s,
                b,
            ]),
            true,
            &[VERIFIED],
        );
    }

    // Media type and user metadata signed in and required back (B07).
    let dir = env.root.join("sigs");
    fs::create_dir_all(&dir).unwrap();
    let out = env.signet(&[
        "blob",
        "sign",
        "--media-type",
        "image/jpeg",
        "-m",
        "k1=v1",
        "--signature-directory",
        dir.to_str().unwrap(),
        b,
    ]);
    expect(&out, true, &[]);
    let sig = dir.join("blobFile.txt.jws.sig");
    let s = sig.to_str().unwrap();
    expect(
        &env.signet(&[
            "blob",
            "verify",
            "--media-type",
            "image/jpeg",
            "-m",
            "k1=v1",
            "-s",
            s,
            b,
        ]),
        true,
        &[VERIFIED],
    );
    expect(
        &env.signet(&["blob", "verify", "-m", "k1=v2", "-s", s, b]),
        false,
        &["signature verification failed"],
    );
    // blob inspect shows the metadata.
    let out = env.signet(&["blob", "inspect", s]);
    expect(&out, true, &["│   └── k1: v1\n", "├── media type: image/jpeg\n"]);

    // A tampered blob fails.
    fs::write(&blob, "test blob commands, changed").unwrap();
    let jws = env.root.join("blobFile.txt.jws.sig");
    expect(
        &env.signet(&["blob", "verify", "-s", jws.to_str().unwrap(), b]),
        false,
        &[MISMATCH],
    );
}

/// B09: no blob trust policy.
#[test]
fn blob_verify_without_policy() {
    let env = Env::new();
    let sig = env.signature("blob.jws.sig", "LICENSE.jws.sig");
    let blob = testkit::vector("LICENSE-notaryproject.txt");
    expect(
        &env.signet(&[
            "blob",
            "verify",
            "-s",
            sig.to_str().unwrap(),
            blob.to_str().unwrap(),
        ]),
        false,
        &[
            "trust policy is not present. To create a trust policy, see: https://notaryproject.dev/docs/quickstart/#create-a-trust-policy",
        ],
    );
}

/// B10: signature file name rules.
#[test]
fn blob_verify_signature_file_names() {
    let (env, blob) = blob_env();
    let b = blob.to_str().unwrap();
    expect(&env.signet(&["blob", "sign", b]), true, &[]);
    let sig = env.root.join("blobFile.txt.jws.sig");
    let cases = [
        (
            "blobFile.txt.jws.invalid",
            "invalid signature filename blobFile.txt.jws.invalid. The file extension must be .sig",
        ),
        (
            "blobFile.sig",
            "invalid signature filename blobFile.sig. A valid signature file name must contain signature format and .sig file extension",
        ),
        (
            "blobFile.txt.invalid.sig",
            "signature format \"invalid\" not supported",
        ),
    ];
    for (name, message) in cases {
        let renamed = env.root.join(name);
        fs::copy(&sig, &renamed).unwrap();
        expect(
            &env.signet(&["blob", "verify", "--signature", renamed.to_str().unwrap(), b]),
            false,
            &[message],
        );
    }
    expect(
        &env.signet(&[
            "blob",
            "verify",
            "-s",
            env.root.join("blobFile.txt.invalid.sig").to_str().unwrap(),
            b,
        ]),
        false,
        &["Supported signature envelope formats are \"jws\" and \"cose\""],
    );
}
