//! The containerd testkit starts: a private daemon whose pulls (through the
//! transfer service) run the verifiers in the directory a test gives it,
//! exactly as containerd's `bindir` image-verifier plugin runs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use testkit::{
    containerd::{Containerd, DESCRIPTOR_MEDIA_TYPE, Options},
    registry::{Kind, OCI_MANIFEST, Options as RegistryOptions, Registry},
};

/// Starts containerd, or fails the test with the reason it cannot run here.
fn start(verifier_dir: Option<PathBuf>, per_verifier_timeout: Duration) -> Containerd {
    Containerd::start(Options {
        verifier_dir,
        per_verifier_timeout,
    })
    .unwrap_or_else(|e| panic!("\n\n*** containerd cannot run here ***\n{e}\n"))
}

fn registry() -> Registry {
    Registry::start(Kind::Referrers, RegistryOptions::default())
}

/// A verifier dir holding one executable `name` with this shell `body`.
fn verifier_dir(name: &str, body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn explain(ctd: &Containerd, out: &std::process::Output) -> String {
    format!(
        "ctr {}\n--- stdout\n{}\n--- stderr\n{}\n--- containerd log\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr),
        ctd.log()
    )
}

/// A verifier that records its argv (one per line) and stdin, and allows.
fn recording_verifier(record: &Path) -> tempfile::TempDir {
    let r = record.display();
    verifier_dir(
        "10-record",
        &format!(
            "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{r}.argv'\n\
             cat > '{r}.stdin'\n\
             echo 'recorded: allowed'\n\
             echo 'a line for the debug log' >&2\n\
             exit 0\n"
        ),
    )
}

#[test]
fn an_allowing_verifier_sees_the_documented_contract_and_the_pull_succeeds() {
    let reg = registry();
    let image = reg.seed_pullable_image("signet/app", "v1");
    let work = tempfile::tempdir().unwrap();
    let record = work.path().join("call");
    let verifiers = recording_verifier(&record);
    let ctd = start(Some(verifiers.path().to_path_buf()), Duration::from_secs(10));

    let reference = format!("{}/signet/app:v1", reg.host());
    let out = ctd.pull(&reference, true);
    assert!(out.status.success(), "pull failed: {}", explain(&ctd, &out));

    let argv = std::fs::read_to_string(record.with_extension("argv")).expect("the verifier ran");
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(
        argv,
        [
            "-name",
            reference.as_str(),
            "-digest",
            image.digest.as_str(),
            "-stdin-media-type",
            DESCRIPTOR_MEDIA_TYPE,
        ],
        "{}",
        explain(&ctd, &out)
    );
    let stdin = std::fs::read_to_string(record.with_extension("stdin")).unwrap();
    assert!(
        stdin.ends_with('\n') && stdin.lines().count() == 1,
        "one JSON line: {stdin:?}"
    );
    let desc: serde_json::Value = serde_json::from_str(&stdin).unwrap();
    assert_eq!(desc["mediaType"], OCI_MANIFEST, "{stdin}");
    assert_eq!(desc["digest"], image.digest.as_str(), "{stdin}");
    assert_eq!(desc["size"], image.size, "{stdin}");

    assert_eq!(ctd.images(), [reference.as_str()]);
    let log = ctd.log();
    assert!(
        log.contains("a line for the debug log") && log.contains("image_verifier=10-record"),
        "the verifier's stderr is in containerd's debug log:\n{log}"
    );
    assert!(log.contains("Image verifier allowed pull"), "{log}");
}

#[test]
fn a_refusing_verifier_blocks_the_pull_with_its_reason() {
    let reg = registry();
    let image = reg.seed_pullable_image("signet/app", "v1");
    let verifiers = verifier_dir(
        "20-refuse",
        "cat >/dev/null\necho 'signet: no trusted signature for this image'\nexit 3\n",
    );
    let ctd = start(Some(verifiers.path().to_path_buf()), Duration::from_secs(10));
    let before = reg.request_count();

    let out = ctd.pull(&image.reference, true);
    assert!(
        !out.status.success(),
        "the pull was allowed: {}",
        explain(&ctd, &out)
    );
    let stderr = text(&out.stderr);
    let expected = format!(
        "image verifier bindir blocked pull of {} with digest {} for reason: verifier 20-refuse \
         rejected image (exit code 3): signet: no trusted signature for this image",
        image.reference, image.digest
    );
    assert!(
        stderr.contains(&expected),
        "expected {expected:?} in: {}",
        explain(&ctd, &out)
    );
    assert!(ctd.images().is_empty(), "a refused image is not stored");
    // Judged after resolving (a HEAD of the manifest), before fetching
    // anything: not even the manifest's body was read.
    assert!(reg.request_count() > before, "the reference was resolved");
    let logs = reg.logs();
    assert!(logs.contains("HEAD /v2/signet/app/manifests/"), "{logs}");
    assert!(
        !logs.contains("GET /v2/signet/app/"),
        "nothing was fetched for a refused image:\n{logs}"
    );
}

#[test]
fn only_the_transfer_service_runs_verifiers_not_a_local_pull() {
    // `ctr image pull --local` fetches in the client and never reaches the
    // verifier plugin, which is why `Containerd::pull` does not use it.
    let reg = registry();
    let image = reg.seed_pullable_image("signet/app", "v1");
    let verifiers = verifier_dir("20-refuse", "cat >/dev/null\necho refused\nexit 1\n");
    let ctd = start(Some(verifiers.path().to_path_buf()), Duration::from_secs(10));
    let local = ctd.ctr(&["image", "pull", "--local", "--plain-http", &image.reference]);
    assert!(local.status.success(), "{}", explain(&ctd, &local));
    assert!(!ctd.log().contains("Verifying image pull"), "{}", ctd.log());
    let transfer = ctd.pull(&image.reference, true);
    assert!(!transfer.status.success(), "{}", explain(&ctd, &transfer));
    assert!(
        text(&transfer.stderr).contains("(exit code 1): refused"),
        "{}",
        explain(&ctd, &transfer)
    );
}

#[test]
fn a_verifier_past_its_timeout_is_killed_and_the_pull_fails() {
    let reg = registry();
    let image = reg.seed_pullable_image("signet/app", "v1");
    let verifiers = verifier_dir("30-slow", "sleep 30\nexit 0\n");
    let ctd = start(Some(verifiers.path().to_path_buf()), Duration::from_millis(500));

    let started = Instant::now();
    let out = ctd.pull(&image.reference, true);
    let took = started.elapsed();
    assert!(
        !out.status.success(),
        "the pull was allowed: {}",
        explain(&ctd, &out)
    );
    assert!(
        took < Duration::from_secs(10),
        "the timeout applied: took {took:?}"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("image verifier bindir returned error")
            && stderr.contains("failed to call verifier 30-slow"),
        "{}",
        explain(&ctd, &out)
    );
    assert!(ctd.images().is_empty());
}

#[test]
fn without_a_verifier_dir_every_pull_is_allowed() {
    let reg = registry();
    let image = reg.seed_pullable_image("signet/app", "v1");
    let ctd = start(None, Duration::from_secs(10));
    let out = ctd.pull(&image.reference, true);
    assert!(out.status.success(), "{}", explain(&ctd, &out));
    assert!(
        ctd.log().contains("does not exist"),
        "the missing bin_dir is the allowing reason:\n{}",
        ctd.log()
    );
    assert_eq!(ctd.images(), [image.reference.as_str()]);
}

#[test]
fn dropping_it_stops_the_daemon_and_removes_its_dir() {
    let ctd = start(None, Duration::from_secs(10));
    let dir = ctd.dir().to_path_buf();
    let socket = ctd.address().to_path_buf();
    assert!(ctd.config().contains("version = 3"));
    drop(ctd);
    assert!(!dir.exists(), "{} removed", dir.display());
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_err());
}
