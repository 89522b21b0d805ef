//! The registry client against real registries on loopback (testkit): go-containerregistry's
//! registry with the referrers API, distribution 2.8 without it (tag-schema fallback),
//! TLS, basic auth, the bearer token flow, and a hostile registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use oci::{
    ArtifactStore, Descriptor, Digest, Error, MAX_MANIFEST_SIZE, MAX_SIGNATURES,
    manifest::ARTIFACT_TYPE_NOTARY_SIGNATURE,
    registry::{Client, ClientConfig, Credential, Reference, Repository, StaticCredentials},
};
use testkit::{
    hostile::{self, HostileRegistry},
    registry::{Auth, Kind, Options, Registry},
};

const TIMEOUT: Duration = Duration::from_secs(3);
const JWS: &str = "application/jose+json";

fn config(insecure: &[&str]) -> ClientConfig {
    ClientConfig {
        insecure_registries: insecure.iter().map(|s| s.to_string()).collect(),
        timeout: TIMEOUT,
        connect_timeout: TIMEOUT,
        ..ClientConfig::default()
    }
}

fn plain_client(host: &str) -> Client {
    Client::new(config(&[host])).unwrap()
}

fn repo(client: &Client, host: &str, name: &str) -> Repository {
    client.repository(&Reference::parse(&format!("{host}/{name}")).unwrap())
}

fn basic(u: &str, p: &str) -> Credential {
    Credential::Basic {
        username: u.into(),
        password: p.into(),
    }
}

fn with_credentials(host: &str, credential: Credential, insecure: bool) -> ClientConfig {
    let hosts = [host];
    let mut c = config(if insecure { &hosts } else { &[] });
    c.credentials = Some(Arc::new(StaticCredentials::new(host, credential, None)));
    c
}

fn sign(store: &mut dyn ArtifactStore, subject: &Descriptor, n: u8) -> Descriptor {
    let annotations = BTreeMap::from([("n".to_string(), n.to_string())]);
    oci::push_signature(
        store,
        subject,
        JWS,
        format!("envelope {n}").as_bytes(),
        annotations,
    )
    .unwrap()
}

#[test]
fn client_and_repository_are_shareable() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Client>();
    shareable::<Repository>();
}

#[test]
fn push_resolve_fetch_tag_round_trip() {
    let reg = Registry::start(Kind::Referrers, Options::default());
    let seeded = reg.seed_image("app", "v1");
    let client = plain_client(reg.host());
    let mut r = repo(&client, reg.host(), "app");

    let desc = r.resolve("v1").unwrap();
    assert_eq!(desc.digest.as_str(), seeded.digest);
    assert_eq!(desc.size, seeded.size);
    assert_eq!(desc.media_type, seeded.media_type);
    assert_eq!(r.resolve(&seeded.digest).unwrap(), desc);
    let manifest = r.fetch(&desc, MAX_MANIFEST_SIZE).unwrap();
    assert!(desc.digest.matches(&manifest));
    assert!(matches!(r.resolve("nope"), Err(Error::ReferenceNotFound { .. })));

    // Blobs: push (twice is harmless), exists, streamed fetch and push.
    let blob = r.push("application/octet-stream", b"hello blob").unwrap();
    assert_eq!(r.push("application/octet-stream", b"hello blob").unwrap(), blob);
    assert!(r.exists(&blob).unwrap());
    assert_eq!(r.fetch(&blob, 100).unwrap(), b"hello blob");
    let mut out = Vec::new();
    r.fetch_to(&blob, &mut out).unwrap();
    assert_eq!(out, b"hello blob");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let big_desc = Descriptor::of("application/vnd.oci.image.layer.v1.tar", &big);
    assert!(!r.exists(&big_desc).unwrap());
    r.push_from(&big_desc, &mut big.as_slice()).unwrap();
    let mut out = Vec::new();
    r.fetch_to(&big_desc, &mut out).unwrap();
    assert!(out == big);
    // Content that does not match its descriptor is refused.
    let wrong = Descriptor::of("application/octet-stream", b"other");
    assert!(matches!(
        r.push_from(&wrong, &mut &b"12345"[..]),
        Err(Error::DigestMismatch { .. })
    ));
    assert!(matches!(r.fetch(&big_desc, 10), Err(Error::TooLarge { .. })));

    // Manifests: push by digest, tag, resolve the tag, list tags.
    let sig = sign(&mut r, &desc, 1);
    r.tag(&sig, "sig-tag").unwrap();
    assert_eq!(r.resolve("sig-tag").unwrap().digest, sig.digest);
    let tags = r.tags().unwrap();
    assert!(
        tags.contains(&"v1".to_string()) && tags.contains(&"sig-tag".to_string()),
        "{tags:?}"
    );
    assert!(client.request_count() > 0);
}

#[test]
fn referrers_api() {
    let reg = Registry::start(Kind::Referrers, Options::default());
    let seeded = reg.seed_image("app", "v1");
    let client = plain_client(reg.host());
    let mut r = repo(&client, reg.host(), "app");
    let subject = r.resolve("v1").unwrap();
    let s1 = sign(&mut r, &subject, 1);
    let s2 = sign(&mut r, &subject, 2);

    let fresh = plain_client(reg.host());
    let r2 = repo(&fresh, reg.host(), "app");
    assert_eq!(r2.referrers_api(), None);
    let sigs = oci::list_signatures(&r2, &subject).unwrap();
    let digests: Vec<_> = sigs.iter().map(|s| s.manifest.digest.clone()).collect();
    assert_eq!(digests.len(), 2, "{sigs:?}");
    assert!(digests.contains(&s1.digest) && digests.contains(&s2.digest));
    assert_eq!(sigs[0].manifest.annotations.as_ref().unwrap().len(), 1);
    assert_eq!(r2.referrers_api(), Some(true));
    assert_eq!(
        oci::fetch_envelope(&r2, &sigs[0]).unwrap().len(),
        "envelope 1".len()
    );
    // The registry indexes by itself: no tag-schema index was written.
    let tag = format!("sha256-{}", Digest::parse(&seeded.digest).unwrap().encoded());
    assert!(!r2.tags().unwrap().contains(&tag));
    // The artifactType filter is applied.
    assert!(
        r2.referrers(&subject.digest, Some("application/x-other"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn referrers_tag_schema_fallback_is_maintained_on_push() {
    let reg = Registry::start(Kind::Distribution, Options::default());
    let seeded = reg.seed_image("app", "v1");
    let client = plain_client(reg.host());
    let mut r = repo(&client, reg.host(), "app");
    let subject = r.resolve("v1").unwrap();
    assert!(oci::list_signatures(&r, &subject).unwrap().is_empty(), "none yet");
    assert_eq!(r.referrers_api(), Some(false));
    let s1 = sign(&mut r, &subject, 1);
    let tag = format!("sha256-{}", Digest::parse(&seeded.digest).unwrap().encoded());
    let first_index = r.resolve(&tag).unwrap();
    let s2 = sign(&mut r, &subject, 2);
    sign(&mut r, &subject, 2); // the same signature again is listed once
    // The index the second signature replaced is deleted, as oras-go does.
    let gone = reg.request("HEAD", &format!("/v2/app/manifests/{}", first_index.digest));
    assert_eq!(gone.status, 404, "the superseded referrers index is still there");

    let fresh = plain_client(reg.host());
    let r2 = repo(&fresh, reg.host(), "app");
    let candidates = oci::signature_candidates(&r2, &subject.digest).unwrap();
    let digests: Vec<_> = candidates.iter().map(|d| d.digest.clone()).collect();
    assert_eq!(digests, vec![s1.digest.clone(), s2.digest.clone()]);
    assert_eq!(
        candidates[0].artifact_type.as_deref(),
        Some(ARTIFACT_TYPE_NOTARY_SIGNATURE)
    );
    assert_eq!(r2.referrers_api(), Some(false));
    let first = oci::load_signature(&r2, &subject.digest, &candidates[0])
        .unwrap()
        .unwrap();
    assert_eq!(first.manifest.digest, s1.digest);
    assert!(r2.tags().unwrap().contains(&tag));
}

#[test]
fn tls_with_and_without_the_ca() {
    let reg = Registry::start(
        Kind::Referrers,
        Options {
            tls: true,
            ..Options::default()
        },
    );
    let seeded = reg.seed_image("app", "v1");
    let mut cfg = config(&[]);
    cfg.ca_files = vec![reg.ca_file().unwrap().to_path_buf()];
    let client = Client::new(cfg).unwrap();
    assert_eq!(
        repo(&client, reg.host(), "app")
            .resolve("v1")
            .unwrap()
            .digest
            .as_str(),
        seeded.digest
    );

    let untrusting = Client::new(config(&[])).unwrap();
    let e = repo(&untrusting, reg.host(), "app").resolve("v1").unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(reg.host()) && text.contains("--ca-file"), "{text}");

    // HTTPS to a plain-HTTP registry: the error says to mark it insecure.
    let plain = Registry::start(Kind::Referrers, Options::default());
    let e = repo(&untrusting, plain.host(), "app").resolve("v1").unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    assert!(
        text.contains(&format!("--insecure-registry {}", plain.host())),
        "{text}"
    );
}

#[test]
fn basic_auth() {
    let reg = Registry::start(
        Kind::Distribution,
        Options {
            tls: false,
            auth: Auth::Basic {
                username: "alice".into(),
                password: "s3cret".into(),
            },
        },
    );
    reg.seed_image("app", "v1");
    let good = Client::new(with_credentials(reg.host(), basic("alice", "s3cret"), true)).unwrap();
    good.login(reg.host(), &basic("alice", "s3cret")).unwrap();
    let r = repo(&good, reg.host(), "app");
    let subject = r.resolve("v1").unwrap();
    let before = good.request_count();
    r.fetch(&subject, MAX_MANIFEST_SIZE).unwrap();
    assert_eq!(
        good.request_count() - before,
        1,
        "credentials are sent up front once learned"
    );
    // A streamed upload carries the credentials too (it cannot be retried).
    let mut w = r.clone();
    let blob: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
    let desc = Descriptor::of("application/vnd.oci.image.layer.v1.tar", &blob);
    w.push_from(&desc, &mut blob.as_slice()).unwrap();
    assert_eq!(w.fetch(&desc, 1 << 20).unwrap(), blob);

    let bad = Client::new(with_credentials(reg.host(), basic("alice", "wrong"), true)).unwrap();
    let before = reg.request_count();
    let e = repo(&bad, reg.host(), "app").resolve("v1").unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert!(text.contains("check the username and password"), "{text}");
    assert!(
        reg.request_count() - before <= 3,
        "{} requests",
        reg.request_count() - before
    );
    assert!(bad.request_count() <= 3);
    assert!(matches!(
        bad.login(reg.host(), &basic("alice", "wrong")),
        Err(Error::Unauthorized { .. })
    ));

    let anonymous = plain_client(reg.host());
    let text = repo(&anonymous, reg.host(), "app")
        .resolve("v1")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("authentication required") && text.contains("signet login"),
        "{text}"
    );
}

#[test]
fn bearer_token_flow_caches_the_token() {
    let reg = Registry::start(
        Kind::Distribution,
        Options {
            tls: false,
            auth: Auth::Token {
                username: "bob".into(),
                password: "hunter2".into(),
            },
        },
    );
    reg.seed_image("app", "v1");
    let client = Client::new(with_credentials(reg.host(), basic("bob", "hunter2"), true)).unwrap();
    client.login(reg.host(), &basic("bob", "hunter2")).unwrap();
    assert!(matches!(
        Client::new(config(&[reg.host()]))
            .unwrap()
            .login(reg.host(), &basic("bob", "nope")),
        Err(Error::Unauthorized { .. })
    ));
    let tokens_after_login = reg.token_request_count();
    let r = repo(&client, reg.host(), "app");
    let subject = r.resolve("v1").unwrap();
    for _ in 0..5 {
        r.fetch(&subject, MAX_MANIFEST_SIZE).unwrap();
    }
    assert_eq!(
        reg.token_request_count() - tokens_after_login,
        1,
        "one token for all the pulls"
    );
    // Pushing needs a push-scoped token: one more.
    let mut w = r.clone();
    sign(&mut w, &subject, 1);
    assert_eq!(reg.token_request_count() - tokens_after_login, 2);
    assert_eq!(oci::list_signatures(&r, &subject).unwrap().len(), 1);

    let bad = Client::new(with_credentials(reg.host(), basic("bob", "wrong"), true)).unwrap();
    let (before, tokens_before) = (reg.request_count(), reg.token_request_count());
    let e = repo(&bad, reg.host(), "app").resolve("v1").unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains("check the username and password"), "{e}");
    let total = reg.request_count() - before + reg.token_request_count() - tokens_before;
    assert!(total <= 3, "{total} requests for one failed call");
    assert!(bad.request_count() <= 3);
}

/// An identity token (what `docker login` stores as `identitytoken`) is a
/// refresh token: the client trades it at the realm with an OAuth2
/// `grant_type=refresh_token` POST, once per scope.
#[test]
fn identity_token_refresh_grant() {
    let reg = Registry::start(
        Kind::Distribution,
        Options {
            tls: false,
            auth: Auth::Token {
                username: "carol".into(),
                password: "not-used-here".into(),
            },
        },
    );
    reg.seed_image("app", "v1");
    let identity = Credential::IdentityToken(reg.issue_refresh_token());
    let client = Client::new(with_credentials(reg.host(), identity, true)).unwrap();
    let r = repo(&client, reg.host(), "app");
    let subject = r.resolve("v1").unwrap();
    for _ in 0..3 {
        r.fetch(&subject, MAX_MANIFEST_SIZE).unwrap();
    }
    assert_eq!(reg.token_request_count(), 1, "one token for all the pulls");
    let mut w = r.clone();
    sign(&mut w, &subject, 1);
    assert_eq!(reg.token_request_count(), 2, "one more for the push scope");
    assert_eq!(oci::list_signatures(&r, &subject).unwrap().len(), 1);
    assert_eq!(reg.token_request_count(), 2);

    let bogus = Credential::IdentityToken("signet-refresh-bogus".into());
    let bad = Client::new(with_credentials(reg.host(), bogus, true)).unwrap();
    let (before, tokens_before) = (reg.request_count(), reg.token_request_count());
    let e = repo(&bad, reg.host(), "app").resolve("v1").unwrap_err();
    assert!(
        matches!(&e, Error::Unauthorized { registry, .. } if registry == reg.host()),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(reg.host()) && e.to_string().contains("identity token"),
        "{e}"
    );
    let tokens = reg.token_request_count() - tokens_before;
    assert!(tokens <= 2, "{tokens} token requests for one failed call");
    let total = reg.request_count() - before + tokens;
    assert!(total <= 3, "{total} requests for one failed call");
    assert!(bad.request_count() <= 3);
}

fn hostile_repo(h: &HostileRegistry, name: &str) -> (Client, Repository) {
    let client = plain_client(h.host());
    let r = repo(&client, h.host(), name);
    (client, r)
}

#[test]
fn hostile_oversized_and_mismatched_content_is_refused() {
    let h = HostileRegistry::start();
    let (_, r) = hostile_repo(&h, hostile::OVERSIZED_MANIFEST);
    let desc = r.resolve("latest").unwrap();
    assert_eq!(desc.size, hostile::OVERSIZED_LENGTH);
    let before = h.request_count();
    assert!(matches!(
        r.fetch(&desc, MAX_MANIFEST_SIZE),
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(h.request_count(), before, "refused before asking");
    // A descriptor that lies small: at most size + 1 bytes are read.
    let small = Descriptor {
        size: 1000,
        ..desc.clone()
    };
    let started = Instant::now();
    assert!(matches!(
        r.fetch(&small, MAX_MANIFEST_SIZE),
        Err(Error::SizeMismatch { actual: 1001, .. })
    ));
    let (_, chunked) = hostile_repo(&h, hostile::OVERSIZED_CHUNKED);
    assert!(matches!(
        chunked.fetch(&small, MAX_MANIFEST_SIZE),
        Err(Error::SizeMismatch { .. })
    ));
    let mut sink = Vec::new();
    assert!(chunked.fetch_to(&small, &mut sink).is_err());
    assert!(sink.len() <= 1001);
    assert!(started.elapsed() < TIMEOUT);

    let (_, m) = hostile_repo(&h, hostile::MISMATCH_MANIFEST);
    let desc = m.resolve("latest").unwrap();
    assert!(matches!(
        m.fetch(&desc, MAX_MANIFEST_SIZE),
        Err(Error::DigestMismatch { .. })
    ));
}

#[test]
fn hostile_stalls_end_within_the_timeout() {
    let h = HostileRegistry::start();
    let (_, r) = hostile_repo(&h, hostile::STALL_CONNECTION);
    let started = Instant::now();
    let e = r.resolve("latest").unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains(hostile::STALL_CONNECTION), "{e}");
    assert!(started.elapsed() < TIMEOUT * 2, "{:?}", started.elapsed());

    let (_, r) = hostile_repo(&h, hostile::STALL_BODY);
    let desc = r.resolve("latest").unwrap();
    let started = Instant::now();
    let e = r.fetch(&desc, MAX_MANIFEST_SIZE).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(started.elapsed() < TIMEOUT * 2, "{:?}", started.elapsed());
    // Streaming has no whole-request deadline, but a stall still ends it.
    let started = Instant::now();
    let mut sink = Vec::new();
    let e = r.fetch_to(&desc, &mut sink).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(started.elapsed() < TIMEOUT * 2, "{:?}", started.elapsed());
}

#[test]
fn hostile_referrers_are_bounded() {
    let h = HostileRegistry::start();
    let (_, r) = hostile_repo(&h, hostile::MANY_REFERRERS);
    let subject = r.resolve("latest").unwrap();
    let all = r.referrers(&subject.digest, None).unwrap();
    assert_eq!(all.len(), hostile::MANY_REFERRERS_COUNT);
    let candidates = oci::signature_candidates(&r, &subject.digest).unwrap();
    assert_eq!(candidates.len(), MAX_SIGNATURES);
    // Lazy: loading the first signature fetches one manifest, not a hundred.
    let prefix = "/v2/many/referrers/manifests/sha256:";
    let before = h.requests_for(prefix);
    let first = oci::load_signature(&r, &subject.digest, &candidates[0])
        .unwrap()
        .unwrap();
    assert_eq!(h.requests_for(prefix) - before, 1);
    assert!(oci::fetch_envelope(&r, &first).is_ok());

    let (_, huge) = hostile_repo(&h, hostile::HUGE_REFERRERS);
    let subject = huge.resolve("latest").unwrap();
    let started = Instant::now();
    assert!(huge.referrers(&subject.digest, None).is_err());
    assert!(started.elapsed() < TIMEOUT);
}

/// notation (oras-go) reads the tag-schema index signet maintains on a registry
/// without the referrers API, and lists signet's signature.
#[test]
fn notation_lists_signatures_pushed_to_a_registry_without_referrers_api() {
    let reg = Registry::start(Kind::Distribution, Options::default());
    reg.seed_image("app", "v1");
    let client = plain_client(reg.host());
    let mut r = repo(&client, reg.host(), "app");
    let subject = r.resolve("v1").unwrap();
    let sig = sign(&mut r, &subject, 1);
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(testkit::notation::binary())
        .args([
            "ls",
            "--insecure-registry",
            &format!("{}/app@{}", reg.host(), subject.digest),
        ])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(sig.digest.as_str()), "{stdout}");
}

fn digests(list: &[Descriptor]) -> Vec<String> {
    list.iter().map(|d| d.digest.to_string()).collect()
}

#[test]
fn hostile_referrers_pagination_is_followed() {
    let h = HostileRegistry::start();
    let (_, r) = hostile_repo(&h, hostile::PAGED_REFERRERS);
    let subject = r.resolve("latest").unwrap();
    let started = Instant::now();
    let all = r.referrers(&subject.digest, None).unwrap();
    let want = h.signature_digests(hostile::PAGED_REFERRERS);
    assert_eq!(want.len(), 6);
    assert_eq!(
        digests(&all),
        want,
        "all 6 referrers of the 3 pages, in page order"
    );
    assert!(
        all.iter()
            .all(|d| d.artifact_type.as_deref() == Some(ARTIFACT_TYPE_NOTARY_SIGNATURE)),
        "{all:?}"
    );
    assert_eq!(
        h.requests_for("/v2/paged/referrers/referrers/"),
        hostile::PAGED_REFERRERS_PAGES,
        "one request per page"
    );
    assert_eq!(r.referrers_api(), Some(true));
    assert_eq!(oci::signature_candidates(&r, &subject.digest).unwrap().len(), 6);
    assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
}

#[test]
fn hostile_referrers_pagination_loop_is_bounded() {
    let h = HostileRegistry::start();
    let (_, r) = hostile_repo(&h, hostile::LOOP_REFERRERS);
    let subject = r.resolve("latest").unwrap();
    let started = Instant::now();
    let result = r.referrers(&subject.digest, None);
    assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
    let pages = h.requests_for("/v2/loop/referrers/referrers/");
    // The first page -> ?page=2 -> ?page=1 -> ?page=2: the client stops when
    // a next link names a page it has read, with each signature listed once.
    assert!(
        (2..=3).contains(&pages),
        "{pages} page requests for a looping listing"
    );
    let list = result.expect("a looping listing ends with what it listed");
    let mut known = h.signature_digests(hostile::LOOP_REFERRERS);
    let mut got = digests(&list);
    known.sort();
    got.sort();
    assert_eq!(got, known, "each signature of the loop once");
}

#[test]
fn hostile_referrers_pagination_to_another_host_is_not_followed() {
    let h = HostileRegistry::start();
    let (client, r) = hostile_repo(&h, hostile::CROSSHOST_REFERRERS);
    let subject = r.resolve("latest").unwrap();
    let before = client.request_count();
    // Nothing listens at the other host: following the link would fail.
    let first = r
        .referrers(&subject.digest, None)
        .expect("the link to another host is ignored, not followed");
    let want = h.signature_digests(hostile::CROSSHOST_REFERRERS);
    assert_eq!(
        digests(&first),
        want[..hostile::CROSSHOST_REFERRERS_COUNT / 2],
        "the first page only"
    );
    assert_eq!(h.requests_for("/v2/crosshost/referrers/referrers/"), 1);
    assert_eq!(client.request_count() - before, 1, "no request to the other host");
}

#[test]
fn hostile_resolve_without_head_falls_back_to_get() {
    let h = HostileRegistry::start();
    let (_, r) = hostile_repo(&h, hostile::NOHEAD_MANIFEST);
    let subject = h.subject_digest(hostile::NOHEAD_MANIFEST).to_string();
    let desc = r.resolve("v1").unwrap();
    assert_eq!(desc.digest.as_str(), subject, "the digest of the GET bytes");
    assert_eq!(desc.media_type, oci::manifest::MEDIA_TYPE_OCI_MANIFEST);
    let bytes = r.fetch(&desc, MAX_MANIFEST_SIZE).unwrap();
    assert_eq!(desc.size, bytes.len() as u64, "the size of the GET bytes");
    assert_eq!(
        h.requests_for("/v2/nohead/manifest/manifests/v1"),
        2,
        "HEAD (405), then GET"
    );
    assert_eq!(r.resolve(&subject).unwrap(), desc, "by digest too");
    let unknown = format!("sha256:{}", "0".repeat(64));
    let e = r.resolve(&unknown).unwrap_err();
    assert!(matches!(e, Error::ReferenceNotFound { .. }), "{e:?}");
}

/// Blob downloads redirected to object storage on another origin (what
/// Docker Hub, GHCR and ECR do): followed, without the registry's
/// credentials (the storage refuses a request that carries them, as S3
/// does); a redirect loop is an error after a bounded number of requests.
#[test]
fn redirects_are_followed_without_the_registry_credentials() {
    let h = HostileRegistry::start();
    let client = Client::new(with_credentials(h.host(), basic("u", "p"), true)).unwrap();
    let r = repo(&client, h.host(), hostile::REDIRECT_BLOBS);
    let subject = r.resolve("latest").unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&r.fetch(&subject, MAX_MANIFEST_SIZE).unwrap()).unwrap();
    let blob = |d: &serde_json::Value| {
        Descriptor::new(
            d["mediaType"].as_str().unwrap(),
            Digest::parse(d["digest"].as_str().unwrap()).unwrap(),
            d["size"].as_u64().unwrap(),
        )
    };
    for d in [&manifest["config"], &manifest["layers"][0]] {
        let desc = blob(d);
        let bytes = r
            .fetch(&desc, 1 << 20)
            .expect("the blob, from object storage, fetched without the registry's credentials");
        assert!(desc.digest.matches(&bytes));
    }
    assert_eq!(
        h.requests_for(hostile::STORAGE_PREFIX),
        2,
        "both blobs came from the storage"
    );
    let mut sink = Vec::new();
    r.fetch_to(&blob(&manifest["layers"][0]), &mut sink).unwrap();
    assert_eq!(h.requests_for(hostile::STORAGE_PREFIX), 3);

    let looping = repo(&client, h.host(), hostile::REDIRECT_LOOP);
    let before = h.request_count();
    let err = looping.fetch(&blob(&manifest["config"]), 1 << 20).unwrap_err();
    assert!(err.to_string().contains("more than 10 redirects"), "{err}");
    let sent = h.request_count() - before;
    assert_eq!(sent, 11, "the request and 10 redirects, then no more");
}

/// A registry that closes a kept-alive connection while the client's thread
/// is busy elsewhere (its runtime idle): the next request from that thread
/// must not fail on the dead connection.
#[test]
fn a_connection_closed_while_idle_is_not_an_error() {
    use std::{
        io::{Read, Write},
        net::TcpListener,
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let mut connections = 0;
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            connections += 1;
            let mut buf = [0u8; 4096];
            let mut request = Vec::new();
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "the client closed before sending a request");
                request.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}",
                )
                .unwrap();
            // Keep-alive over after 200 ms: close, as a registry's idle timeout does.
            std::thread::sleep(Duration::from_millis(200));
            drop(stream);
        }
        connections
    });
    let client = plain_client(&host);
    client.login(&host, &basic("u", "p")).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    client
        .login(&host, &basic("u", "p"))
        .expect("a request after the registry closed the idle connection");
    assert_eq!(
        server.join().unwrap(),
        2,
        "the second request used a new connection"
    );
}
