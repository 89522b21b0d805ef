//! File keys in process; PKCS#11 keys against SoftHSM2 in a child process
//! (see [`softhsm_suite`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use notary::algorithm::KeySpec;
use notary::crypto::{PrivateKey, Signer, verify};

use super::*;

fn pem_of(spec: KeySpec) -> String {
    PrivateKey::generate(spec).unwrap().to_pkcs8_pem().unwrap()
}

fn spki_of(pem: &str) -> Vec<u8> {
    PrivateKey::from_pem(pem.as_bytes())
        .unwrap()
        .public_key_spki_der()
        .unwrap()
}

fn assert_signs(key: &OpenedKey, spec: KeySpec) {
    assert_eq!(key.signer.key_spec(), spec);
    let alg = spec.signature_algorithm().unwrap();
    for msg in [&b"hello"[..], b"", &[7u8; 10_000]] {
        let sig = key.signer.sign(msg).unwrap();
        verify(alg, &key.public_key_spki, msg, &sig).unwrap_or_else(|e| panic!("{spec}: {e}"));
    }
    let sig = key.signer.sign(b"hello").unwrap();
    assert!(verify(alg, &key.public_key_spki, b"hellp", &sig).is_err());
}

fn err_text(r: Result<OpenedKey, KeyError>) -> String {
    match r {
        Ok(k) => panic!("expected an error, got {k:?}"),
        Err(e) => {
            println!("error: {e}");
            e.to_string()
        }
    }
}

// ------------------------------------------------------------------ file keys

#[test]
fn file_keys_sign_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    for spec in [KeySpec::Ec(256), KeySpec::Ec(384), KeySpec::Rsa(3072)] {
        let pem = pem_of(spec);
        let path = dir.path().join(format!("{}.pem", spec.cli_name()));
        std::fs::write(&path, &pem).unwrap();
        let key = open(&KeyConfig::File { path }).unwrap();
        assert_eq!(key.public_key_spki, spki_of(&pem));
        assert_signs(&key, spec);
    }
}

#[test]
fn file_key_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let e = err_text(open(&KeyConfig::File {
        path: missing.clone(),
    }));
    assert!(
        e.contains("cannot read key file") && e.contains(&missing.display().to_string()),
        "{e}"
    );

    let bad = dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let e = err_text(open(&KeyConfig::File { path: bad.clone() }));
    assert!(
        e.contains("does not hold a usable private key") && e.contains("bad.pem"),
        "{e}"
    );

    std::fs::write(&bad, "not PEM at all").unwrap();
    let e = err_text(open(&KeyConfig::File { path: bad }));
    assert!(e.contains("does not hold a usable private key"), "{e}");
}

#[test]
fn config_deserializes() {
    let c: KeyConfig = serde_json::from_str(r#"{"type":"file","path":"/k.pem"}"#).unwrap();
    assert_eq!(
        c,
        KeyConfig::File {
            path: "/k.pem".into()
        }
    );
    let c: KeyConfig = serde_json::from_str(
        r#"{"type":"pkcs11","module":"/m.so","tokenLabel":"t","keyLabel":"k","pinEnv":"PIN","sessions":2}"#,
    )
    .unwrap();
    assert_eq!(
        c,
        KeyConfig::Pkcs11 {
            module: "/m.so".into(),
            token_label: "t".into(),
            key_label: "k".into(),
            pin_file: None,
            pin_env: Some("PIN".into()),
            sessions: Some(2),
        }
    );
    assert!(serde_json::from_str::<KeyConfig>(r#"{"type":"file","path":"/k","pin":"x"}"#).is_err());
    assert!(serde_json::from_str::<KeyConfig>(r#"{"type":"cloud","path":"/k"}"#).is_err());
}

fn pkcs11_config(token: &str, key: &str, pin_file: Option<PathBuf>, pin_env: Option<&str>) -> KeyConfig {
    KeyConfig::Pkcs11 {
        module: testkit::softhsm::SoftHsm::module().unwrap_or_else(|| "/nonexistent/libsofthsm2.so".into()),
        token_label: token.into(),
        key_label: key.into(),
        pin_file,
        pin_env: pin_env.map(str::to_string),
        sessions: None,
    }
}

#[test]
fn pin_sources_are_checked_before_the_module_is_touched() {
    let e = err_text(open(&pkcs11_config("t", "k", None, None)));
    assert!(
        e.contains("PIN for PKCS#11 token \"t\" missing") && e.contains("pinFile or pinEnv"),
        "{e}"
    );
    let e = err_text(open(&pkcs11_config(
        "t",
        "k",
        None,
        Some("SIGNET_TEST_NO_SUCH_PIN_VAR"),
    )));
    assert!(e.contains("SIGNET_TEST_NO_SUCH_PIN_VAR is not set"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("pin");
    std::fs::write(&empty, "\n").unwrap();
    let e = err_text(open(&pkcs11_config("t", "k", Some(empty.clone()), None)));
    assert!(e.contains("is empty"), "{e}");
    let e = err_text(open(&pkcs11_config("t", "k", Some(empty), Some("X"))));
    assert!(e.contains("not both"), "{e}");
}

// -------------------------------------------------------------- PKCS#11 keys

/// Token with the P-256, P-384 and RSA-3072 keys; PIN passed as `PIN_ENV`.
const TOKEN: &str = "signet-keys";
const PIN_ENV: &str = "SIGNET_TEST_SOFTHSM_PIN";
/// A second token, used only by the wrong-PIN test: PKCS#11 login state is
/// per token and process, so a token another test logged in to would accept
/// any PIN.
const LOCKED_TOKEN: &str = "signet-pin-test";
const LOCKED_PIN: &str = "246810";
/// A third token with one key, opened alongside the first (two tokens, one module).
const OTHER_TOKEN: &str = "signet-other";
const OTHER_PIN: &str = "13579";
/// The directory with the fixture's PEM keys and PIN file.
const FIXTURE_ENV: &str = "SIGNET_TEST_SOFTHSM_FIXTURE";
const KEYS: [(&str, KeySpec); 3] = [
    ("p256", KeySpec::Ec(256)),
    ("p384", KeySpec::Ec(384)),
    ("rsa3072", KeySpec::Rsa(3072)),
];

/// Builds one SoftHSM (three tokens, four keys) and runs the tests in
/// `keys::tests::softhsm` against it in a child process: SoftHSM reads
/// `SOFTHSM2_CONF` at `C_Initialize`, once per process, and setting an
/// environment variable in-process is `unsafe` (forbidden here).
#[test]
fn softhsm_suite() {
    if std::env::var_os(FIXTURE_ENV).is_some() {
        // The child process: SOFTHSM2_CONF is set, run every check here.
        softhsm::run_all();
        return;
    }
    let pin = "987654";
    let hsm = testkit::softhsm::SoftHsm::start(TOKEN, pin);
    let fixture = tempfile::tempdir().unwrap();
    for (label, spec) in KEYS {
        let pem = pem_of(spec);
        hsm.import_key(label, &pem);
        std::fs::write(fixture.path().join(format!("{label}.pem")), pem).unwrap();
    }
    hsm.add_token(LOCKED_TOKEN, LOCKED_PIN);
    hsm.import_key_into(LOCKED_TOKEN, LOCKED_PIN, "p256", &pem_of(KeySpec::Ec(256)));
    hsm.add_token(OTHER_TOKEN, OTHER_PIN);
    let other = pem_of(KeySpec::Ec(256));
    hsm.import_key_into(OTHER_TOKEN, OTHER_PIN, "other", &other);
    std::fs::write(fixture.path().join("other.pem"), other).unwrap();
    std::fs::write(fixture.path().join("other.pin"), format!("{OTHER_PIN}\n")).unwrap();
    hsm.run_tests_in_child(
        "keys::tests::softhsm_suite",
        &[(PIN_ENV, pin.as_ref()), (FIXTURE_ENV, fixture.path().as_os_str())],
    );
}

mod softhsm {
    use std::sync::OnceLock;

    use notary::envelope::{Envelope, EnvelopeFormat, SignRequest, SigningScheme, payload_for, sign};

    use super::*;

    struct Fixture {
        dir: PathBuf,
    }

    fn fixture() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            let dir = std::env::var_os(FIXTURE_ENV).unwrap_or_else(|| {
                panic!("{FIXTURE_ENV} not set: these tests run in a child process started by keys::tests::softhsm_suite")
            });
            assert!(std::env::var_os("SOFTHSM2_CONF").is_some(), "SOFTHSM2_CONF not set");
            Fixture { dir: dir.into() }
        })
    }

    impl Fixture {
        fn pem(&self, label: &str) -> String {
            std::fs::read_to_string(self.dir.join(format!("{label}.pem"))).unwrap()
        }
        fn path(&self, name: &str) -> PathBuf {
            self.dir.join(name)
        }
    }

    fn config(token: &str, key: &str) -> KeyConfig {
        pkcs11_config(token, key, None, Some(PIN_ENV))
    }

    fn open_key(label: &str) -> OpenedKey {
        let _ = fixture();
        open(&config(TOKEN, label)).unwrap_or_else(|e| panic!("open {label}: {e}"))
    }

    fn keys_open_with_their_spec_and_public_key() {
        let f = fixture();
        for (label, spec) in KEYS {
            let key = open_key(label);
            assert_eq!(
                key.public_key_spki,
                spki_of(&f.pem(label)),
                "{label}: SPKI differs"
            );
            assert_signs(&key, spec);
        }
    }

    fn two_tokens_and_two_opens_of_one_key_share_the_module() {
        let f = fixture();
        let a = open_key("p256");
        let b = open_key("p256");
        let other = open(&pkcs11_config(
            OTHER_TOKEN,
            "other",
            Some(f.path("other.pin")),
            None,
        ))
        .unwrap();
        assert_eq!(other.public_key_spki, spki_of(&f.pem("other")));
        assert_signs(&a, KeySpec::Ec(256));
        assert_signs(&b, KeySpec::Ec(256));
        assert_signs(&other, KeySpec::Ec(256));
    }

    fn hammer(name: &str, signer: Arc<dyn Signer>, spki: &[u8], threads: usize, per_thread: usize) {
        let alg = signer.key_spec().signature_algorithm().unwrap();
        let start = Instant::now();
        let sigs: Vec<(Vec<u8>, Vec<u8>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let signer = signer.clone();
                    s.spawn(move || {
                        (0..per_thread)
                            .map(|i| {
                                let msg = format!("thread {t} message {i}").into_bytes();
                                let sig = signer.sign(&msg).unwrap();
                                (msg, sig)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let elapsed = start.elapsed();
        assert_eq!(sigs.len(), threads * per_thread);
        for (msg, sig) in &sigs {
            verify(alg, spki, msg, sig).unwrap();
        }
        println!(
            "sign rate {name}: {} signatures from {threads} threads in {:.2?} = {:.0} signs/s",
            sigs.len(),
            elapsed,
            sigs.len() as f64 / elapsed.as_secs_f64()
        );
    }

    fn concurrent_signing_from_many_threads() {
        let f = fixture();
        for (label, spec) in [("p256", KeySpec::Ec(256)), ("rsa3072", KeySpec::Rsa(3072))] {
            let key = open_key(label);
            hammer(
                &format!("SoftHSM {spec}"),
                key.signer.clone(),
                &key.public_key_spki,
                8,
                200,
            );
            let local = PrivateKey::from_pem(f.pem(label).as_bytes()).unwrap();
            let spki = local.public_key_spki_der().unwrap();
            hammer(
                &format!("local PrivateKey {spec}"),
                Arc::new(local),
                &spki,
                8,
                200,
            );
        }
        // One session for eight threads: they queue for it.
        let mut c = config(TOKEN, "p384");
        if let KeyConfig::Pkcs11 { sessions, .. } = &mut c {
            *sessions = Some(1);
        }
        let key = open(&c).unwrap();
        hammer(
            "SoftHSM EC-384, one session",
            key.signer.clone(),
            &key.public_key_spki,
            8,
            25,
        );
    }

    fn notary_envelopes_signed_on_the_token_verify() {
        let f = fixture();
        for (label, _) in KEYS {
            let key = open_key(label);
            let cert = testkit::pki::self_signed_leaf("signet hsm test", &f.pem(label));
            for format in [EnvelopeFormat::Jws, EnvelopeFormat::Cose] {
                let target =
                    notary::Descriptor::of("application/vnd.oci.image.manifest.v1+json", b"hsm artifact");
                let req = SignRequest {
                    format,
                    payload: payload_for(&target),
                    signing_time: time::OffsetDateTime::now_utc(),
                    expiry: None,
                    signing_scheme: SigningScheme::X509,
                    extended: vec![],
                    signing_agent: Some("signet/test".into()),
                    certificate_chain: vec![cert.der.clone()],
                    signer: key.signer.as_ref(),
                    timestamper: None,
                };
                let bytes = sign(&req).unwrap_or_else(|e| panic!("{label} {format:?}: {e}"));
                let env = Envelope::parse(format.media_type(), &bytes).unwrap();
                env.verify_signature()
                    .unwrap_or_else(|e| panic!("{label} {format:?}: {e}"));
            }
        }
    }

    fn wrong_token_label_lists_the_tokens_present() {
        let e = err_text(open(&config("no-such-token", "p256")));
        assert!(e.contains("PKCS#11 token \"no-such-token\" not found"), "{e}");
        assert!(
            e.contains(&format!("\"{TOKEN}\"")) && e.contains(&format!("\"{LOCKED_TOKEN}\"")),
            "{e}"
        );
    }

    fn wrong_key_label_lists_the_keys_present() {
        let e = err_text(open(&config(TOKEN, "no-such-key")));
        assert!(
            e.contains("private key \"no-such-key\" not found on PKCS#11 token \"signet-keys\""),
            "{e}"
        );
        assert!(e.contains("\"p256\"") && e.contains("\"rsa3072\""), "{e}");
    }

    fn wrong_pin_is_refused() {
        let _ = fixture();
        let dir = tempfile::tempdir().unwrap();
        let pin = dir.path().join("pin");
        std::fs::write(&pin, "000000\n").unwrap();
        let e = err_text(open(&pkcs11_config(
            LOCKED_TOKEN,
            "p256",
            Some(pin.clone()),
            None,
        )));
        assert!(
            e.contains(&format!(
                "token \"{LOCKED_TOKEN}\" refused the user PIN: wrong PIN"
            )),
            "{e}"
        );
        assert!(!e.contains("000000"), "the PIN must not appear in errors: {e}");
        // The right PIN still works afterwards.
        std::fs::write(&pin, format!("{LOCKED_PIN}\n")).unwrap();
        let key = open(&pkcs11_config(LOCKED_TOKEN, "p256", Some(pin), None)).unwrap();
        assert_signs(&key, KeySpec::Ec(256));
    }

    fn missing_module_is_reported() {
        let _ = fixture();
        let mut c = config(TOKEN, "p256");
        if let KeyConfig::Pkcs11 { module, .. } = &mut c {
            *module = "/nonexistent/libpkcs11.so".into();
        }
        let e = err_text(open(&c));
        assert!(
            e.contains("cannot load PKCS#11 module /nonexistent/libpkcs11.so"),
            "{e}"
        );
    }

    /// Every SoftHSM check, in this process (the child of `softhsm_suite`).
    pub(super) fn run_all() {
        eprintln!("softhsm: keys_open_with_their_spec_and_public_key");
        keys_open_with_their_spec_and_public_key();
        eprintln!("softhsm: two_tokens_and_two_opens_of_one_key_share_the_module");
        two_tokens_and_two_opens_of_one_key_share_the_module();
        eprintln!("softhsm: concurrent_signing_from_many_threads");
        concurrent_signing_from_many_threads();
        eprintln!("softhsm: notary_envelopes_signed_on_the_token_verify");
        notary_envelopes_signed_on_the_token_verify();
        eprintln!("softhsm: wrong_token_label_lists_the_tokens_present");
        wrong_token_label_lists_the_tokens_present();
        eprintln!("softhsm: wrong_key_label_lists_the_keys_present");
        wrong_key_label_lists_the_keys_present();
        eprintln!("softhsm: wrong_pin_is_refused");
        wrong_pin_is_refused();
        eprintln!("softhsm: missing_module_is_reported");
        missing_module_is_reported();
    }
}
