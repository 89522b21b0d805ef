//! OCI layout storage against the upstream notation vectors (INDEX.md §1.2
//! layouts L1–L8, §4.4 G12/G13) plus round trips and failure cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use oci::{
    ArtifactStore, Descriptor, Digest, Error, LayoutReference, MAX_MANIFEST_SIZE, OciLayout, SignatureRef,
    Target, fetch_envelope, list_signatures,
    manifest::{
        ANNOTATION_CREATED, ANNOTATION_REF_NAME, ANNOTATION_THUMBPRINT_S256, ARTIFACT_TYPE_NOTARY_SIGNATURE,
        EMPTY_JSON, ImageManifest, MEDIA_TYPE_EMPTY_JSON, MEDIA_TYPE_OCI_MANIFEST, empty_descriptor,
    },
    push_signature, signature_manifest, thumbprint_annotation,
};

const SUBJECT_2023: &str = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
const ALPINE: &str = "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0";
const SIG_L2: &str = "sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f";
const SIG_L3: &str = "sha256:c3ebe4a20b6832328fc5078a7795ddc1114b896e13fca2add38109c3866b5fbf";
const JWS: &str = "application/jose+json";

fn d(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

fn e2e_layout(name: &str) -> PathBuf {
    testkit::vector(&format!("e2e/oci_layout/{name}"))
}

/// A writable copy of a vector directory (the vectors are read-only).
fn copy_layout(src: &Path) -> tempfile::TempDir {
    fn copy(src: &Path, dst: &Path) {
        fs::create_dir_all(dst).unwrap();
        for entry in fs::read_dir(src).unwrap() {
            let entry = entry.unwrap();
            let to = dst.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &to);
            } else {
                fs::write(&to, fs::read(entry.path()).unwrap()).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(src, dir.path());
    dir
}

/// (layout, v1 digest, v1 size, [(signature manifest, envelope media type, envelope digest, envelope size)])
type Case = (
    &'static str,
    &'static str,
    u64,
    &'static [(&'static str, &'static str, &'static str, u64)],
);

const E2E_LAYOUTS: &[Case] = &[
    ("e2e", SUBJECT_2023, 517, &[]),
    (
        "e2e-valid-signature",
        SUBJECT_2023,
        517,
        &[(
            SIG_L2,
            JWS,
            "sha256:c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50",
            2070,
        )],
    ),
    (
        "e2e-valid-multiple-signatures",
        SUBJECT_2023,
        517,
        &[
            (
                SIG_L2,
                JWS,
                "sha256:c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50",
                2070,
            ),
            (
                SIG_L3,
                JWS,
                "sha256:a54333638acfa773a6b25429ee409b558d39c6f3c45dd14f714d72452bc36481",
                2093,
            ),
        ],
    ),
    (
        "e2e-expired-signature",
        SUBJECT_2023,
        517,
        &[(
            "sha256:3829708badae8e4b14e1adbc2fac7182bc0c27c5b6f54153e8b68a12eab10a1e",
            JWS,
            "sha256:b5f927564088f65dad86c81bcdd0b55415a8b4c9a0a5391107210e0cdb305cc7",
            2171,
        )],
    ),
    (
        "e2e-invalid-signature",
        SUBJECT_2023,
        517,
        &[(
            "sha256:321fcc674d6771dd0e5bd21e599f2df3a482de99a400fd3a3fe371221b97a9c9",
            "application/vnd.oci.image.layer.v1.tar",
            "sha256:9a8decdf3775708f4eed16859f19561d730cad40b1af0dcfc37ac1e5f879a934",
            18,
        )],
    ),
    (
        "e2e-with-expired-cert",
        SUBJECT_2023,
        517,
        &[(
            "sha256:b06e392c2d88206b492dbaf5381800578611eb24f86587bc7717cd3b736e5da7",
            JWS,
            "sha256:8513a5ba473f32b78a87518b732700632c05cde0d59d179275c5c5a8096beeed",
            2154,
        )],
    ),
    (
        "e2e-with-timestamped-signature",
        "sha256:53b0191218aed9a3c1f7c661736ac40cfc8eb928642348fd843ba3f0483c0c20",
        582,
        &[(
            "sha256:6a5cd3a886707a317935dcaf13954fc80ef9aeb665262b6ae4fe469ad7ea3aea",
            JWS,
            "sha256:603ff134e97a79cd7a15560b76137c2c4a10451daab11327a7c6f86dac250fee",
            10314,
        )],
    ),
    (
        "e2e-with-invalid-timestamped-signature",
        "sha256:f1da8cd70d6d851fa2313c8d6618f79508cf1e86877edf1c0bfe49a1b0a6467a",
        582,
        &[(
            "sha256:eee3eec7d2947f77713484753bea67879ff62c08a73a49a41151ed18c4d1c000",
            JWS,
            "sha256:8d2e70ffc2af68b7f2df6f30dfefcb7bcda1db5f9ac2566fc8c6c2248c8d4c5f",
            2269,
        )],
    ),
];

#[test]
fn resolves_v1_in_every_e2e_layout() {
    for (name, digest, size, _) in E2E_LAYOUTS {
        let layout = OciLayout::open(e2e_layout(name)).unwrap();
        let by_tag = layout.resolve("v1").unwrap();
        assert_eq!(by_tag.digest, d(digest), "{name}");
        assert_eq!(by_tag.size, *size, "{name}");
        assert_eq!(by_tag.media_type, MEDIA_TYPE_OCI_MANIFEST, "{name}");
        let by_digest = layout.resolve(digest).unwrap();
        assert_eq!(
            by_digest,
            Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, d(digest), *size),
            "{name}"
        );
        assert_eq!(
            layout.tags().iter().filter(|(t, _)| t == "v1").count(),
            1,
            "{name}"
        );
    }
}

/// L1–L8: exactly the expected signature manifests, in listing order, each with
/// its single envelope layer, and every envelope fetches.
#[test]
fn lists_exactly_the_expected_signatures_in_every_e2e_layout() {
    for (name, _, _, expected) in E2E_LAYOUTS {
        let layout = OciLayout::open(e2e_layout(name)).unwrap();
        let subject = layout.resolve("v1").unwrap();
        let sigs = list_signatures(&layout, &subject).unwrap();
        let got: Vec<_> = sigs.iter().map(|s| s.manifest.digest.to_string()).collect();
        let want: Vec<_> = expected.iter().map(|e| e.0.to_owned()).collect();
        assert_eq!(got, want, "{name}");
        for (sig, (_, mt, env_digest, env_size)) in sigs.iter().zip(expected.iter()) {
            assert_eq!(sig.manifest.media_type, MEDIA_TYPE_OCI_MANIFEST);
            assert_eq!(
                sig.manifest.artifact_type.as_deref(),
                Some(ARTIFACT_TYPE_NOTARY_SIGNATURE)
            );
            assert_eq!(sig.envelope.media_type, *mt, "{name}");
            assert_eq!(sig.envelope.digest, d(env_digest), "{name}");
            assert_eq!(sig.envelope.size, *env_size, "{name}");
            let envelope = fetch_envelope(&layout, sig).unwrap();
            assert_eq!(envelope.len() as u64, *env_size, "{name}");
        }
    }
}

#[test]
fn signature_annotations_come_from_the_manifest() {
    let layout = OciLayout::open(e2e_layout("e2e-valid-signature")).unwrap();
    let subject = layout.resolve("v1").unwrap();
    let sigs = list_signatures(&layout, &subject).unwrap();
    let a = sigs[0].manifest.annotations.as_ref().unwrap();
    assert_eq!(
        a[ANNOTATION_THUMBPRINT_S256],
        r#"["e38aea13f2b051f7183cca64a51ee676f4d4456f41d9fecf15eb367efc7343b9"]"#
    );
    assert_eq!(a[ANNOTATION_CREATED], "2023-06-27T05:30:33Z");

    // L5 has no thumbprint annotation; its layer is not an envelope, which is the
    // verifier's business, not the store's.
    let layout = OciLayout::open(e2e_layout("e2e-invalid-signature")).unwrap();
    let sigs = list_signatures(&layout, &subject).unwrap();
    assert!(
        !sigs[0]
            .manifest
            .annotations
            .as_ref()
            .unwrap()
            .contains_key(ANNOTATION_THUMBPRINT_S256)
    );
    assert_eq!(fetch_envelope(&layout, &sigs[0]).unwrap(), b"invalid signature\n");
}

/// INDEX §6.2 trap: the tag-schema index of L3 lists only the first signature;
/// the second is found by scanning manifests for their subject.
#[test]
fn referrers_merge_the_tag_index_with_a_subject_scan() {
    let layout = OciLayout::open(e2e_layout("e2e-valid-multiple-signatures")).unwrap();
    let tag_index = layout.resolve(&format!("sha256-{}", &SUBJECT_2023[7..])).unwrap();
    let listed: oci::ImageIndex =
        serde_json::from_slice(&layout.fetch(&tag_index, MAX_MANIFEST_SIZE).unwrap()).unwrap();
    assert_eq!(listed.manifests.len(), 1);

    let refs = layout.referrers(&d(SUBJECT_2023), None).unwrap();
    let digests: Vec<_> = refs.iter().map(|r| r.digest.to_string()).collect();
    assert_eq!(digests, [SIG_L2, SIG_L3]);
    for r in &refs {
        assert_eq!(r.artifact_type.as_deref(), Some(ARTIFACT_TYPE_NOTARY_SIGNATURE));
        assert!(
            r.annotations
                .as_ref()
                .unwrap()
                .contains_key(ANNOTATION_THUMBPRINT_S256)
        );
    }
    assert!(
        layout
            .referrers(&d(SUBJECT_2023), Some("application/x-other"))
            .unwrap()
            .is_empty()
    );
    // A signature manifest is itself nobody's subject here.
    assert!(layout.referrers(&d(SIG_L2), None).unwrap().is_empty());
}

/// L7 has no tag-schema index: only the subject scan finds its signature, and
/// the referrer descriptor reports the legacy config media type as artifactType.
#[test]
fn referrers_without_a_tag_index() {
    let layout = OciLayout::open(e2e_layout("e2e-with-timestamped-signature")).unwrap();
    assert!(layout.tags().iter().all(|(t, _)| t == "v1"));
    let subject = layout.resolve("v1").unwrap();
    let refs = layout
        .referrers(&subject.digest, Some(ARTIFACT_TYPE_NOTARY_SIGNATURE))
        .unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].size, 729);
}

/// G12: tag v2 of go/internal/oci-layout; its 3.3 MB layer blob is absent and
/// nothing here needs it.
#[test]
fn g12_alpine_layout_resolves_tag_and_digest() {
    let layout = OciLayout::open(testkit::vector("go/internal/oci-layout")).unwrap();
    let v2 = layout.resolve("v2").unwrap();
    assert_eq!(v2.digest, d(ALPINE));
    assert_eq!(v2.size, 481);
    assert_eq!(
        layout.resolve(ALPINE).unwrap(),
        Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, d(ALPINE), 481)
    );
    let err = layout.resolve("v3").unwrap_err();
    assert!(matches!(err, Error::ReferenceNotFound { .. }), "{err}");
    assert!(err.to_string().contains("v3"), "{err}");
    assert!(list_signatures(&layout, &v2).unwrap().is_empty());
}

fn g13_annotations() -> BTreeMap<String, String> {
    BTreeMap::from([
        thumbprint_annotation(&[
            "9f5f5aecee24b5cfdc7a91f6d5ac5c3a5348feb17c934d403f59ac251549ea0d".to_owned()
        ]),
        (ANNOTATION_CREATED.to_owned(), "2023-03-14T08:10:02Z".to_owned()),
    ])
}

const G13_MANIFEST: &str = "sha256:64300ad03f1dcd18136787363f3069c9598623221cbe76e3233d35266b7973d6";

/// G13: the manifest notation pushes for go/internal/jws_signature.sig, byte for byte.
#[test]
fn g13_signature_manifest_is_byte_exact() {
    let subject = Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, d(ALPINE), 481);
    let envelope = testkit::read_vector("go/internal/jws_signature.sig");
    let (manifest, envelope_desc) = signature_manifest(&subject, JWS, &envelope, g13_annotations());
    let golden = testkit::read_vector(
        "go/expected/pushed-jws-signature-manifest.sha256-64300ad03f1dcd18136787363f3069c9598623221cbe76e3233d35266b7973d6.json",
    );
    assert_eq!(
        String::from_utf8(manifest.clone()).unwrap(),
        String::from_utf8(golden).unwrap()
    );
    let desc = Descriptor::of(MEDIA_TYPE_OCI_MANIFEST, &manifest);
    assert_eq!(desc.digest, d(G13_MANIFEST));
    assert_eq!(desc.size, 793);
    assert_eq!(
        envelope_desc,
        Descriptor::new(
            JWS,
            d("sha256:586c5e0f341d7d07e835a06b7c9f21c21fff4f4a85933079e5859f99ba0ad02d"),
            2078
        )
    );

    // A subject with annotations and platform is still reduced to three fields.
    let mut rich = subject.clone();
    rich.annotations = Some(BTreeMap::from([(
        ANNOTATION_REF_NAME.to_owned(),
        "v2".to_owned(),
    )]));
    rich.platform = Some(serde_json::json!({"os": "linux"}));
    assert_eq!(
        signature_manifest(&rich, JWS, &envelope, g13_annotations()).0,
        manifest
    );
}

/// The manifest notation-go v1.3.2 pushes for the G13 input (its
/// `TestOciLayoutRepositoryPushAndFetch` asserts this descriptor): the
/// config-media-type style notation 1.x writes, and Signet with it.
const G13_V1_MANIFEST: &str = "sha256:baeaea44f55c94499b7e082bd3c98ad5ec40fdf23ef89cdf4e5db6b83e4f18f5";

/// G13 continued: push into a copy of the layout (in notation 1.x's style),
/// then find and fetch it.
#[test]
fn g13_push_signature_then_list_and_fetch() {
    let dir = copy_layout(&testkit::vector("go/internal/oci-layout"));
    let mut layout = OciLayout::open(dir.path()).unwrap();
    let subject = layout.resolve(ALPINE).unwrap();
    let envelope = testkit::read_vector("go/internal/jws_signature.sig");
    let pushed = push_signature(&mut layout, &subject, JWS, &envelope, g13_annotations()).unwrap();
    assert_eq!(
        pushed,
        Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, d(G13_V1_MANIFEST), 728)
    );
    // Pushing again changes nothing.
    push_signature(&mut layout, &subject, JWS, &envelope, g13_annotations()).unwrap();

    // Like oras' oci.Store, the pushed manifest is listed in index.json, untagged.
    let reopened = OciLayout::open(dir.path()).unwrap();
    let entries: Vec<_> = reopened
        .index()
        .manifests
        .iter()
        .filter(|m| m.digest == pushed.digest)
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].artifact_type, None);
    assert!(
        entries[0]
            .annotations
            .as_ref()
            .unwrap()
            .get(ANNOTATION_REF_NAME)
            .is_none()
    );
    assert_eq!(reopened.tags().len(), 1);

    let sigs = list_signatures(&reopened, &subject).unwrap();
    assert_eq!(sigs.len(), 1);
    let SignatureRef {
        manifest,
        envelope: env_desc,
        subject: written,
    } = &sigs[0];
    assert_eq!(written, &subject);
    assert_eq!(manifest.digest, pushed.digest);
    assert_eq!(manifest.annotations.as_ref(), Some(&g13_annotations()));
    assert_eq!(env_desc, &Descriptor::of(JWS, &envelope));
    assert_eq!(fetch_envelope(&reopened, &sigs[0]).unwrap(), envelope);
    let config = reopened.fetch(&empty_descriptor(), 2).unwrap();
    assert_eq!(config, EMPTY_JSON);
}

#[test]
fn fetch_checks_size_and_digest() {
    let dir = copy_layout(&e2e_layout("e2e-valid-signature"));
    let layout = OciLayout::open(dir.path()).unwrap();
    let right = Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, d(SIG_L2), 728);
    assert_eq!(layout.fetch(&right, MAX_MANIFEST_SIZE).unwrap().len(), 728);

    let wrong_size = Descriptor {
        size: 727,
        ..right.clone()
    };
    let err = layout.fetch(&wrong_size, MAX_MANIFEST_SIZE).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SizeMismatch {
                expected: 727,
                actual: 728,
                ..
            }
        ),
        "{err}"
    );

    // Same length, one byte changed.
    let path = layout.blob_path(&d(SIG_L2));
    let mut bytes = fs::read(&path).unwrap();
    bytes[700] ^= 1;
    fs::remove_file(&path).unwrap();
    fs::write(&path, &bytes).unwrap();
    let err = layout.fetch(&right, MAX_MANIFEST_SIZE).unwrap_err();
    let Error::DigestMismatch { expected, actual } = &err else {
        panic!("expected a digest mismatch, got {err}");
    };
    assert_eq!(expected, &d(SIG_L2));
    assert_eq!(actual, &Digest::sha256(&bytes));
    let msg = err.to_string();
    assert!(msg.contains(SIG_L2) && msg.contains(actual.as_str()), "{msg}");

    // The corrupted signature manifest makes listing fail loudly …
    let subject = layout.resolve("v1").unwrap();
    assert!(matches!(
        list_signatures(&layout, &subject).unwrap_err(),
        Error::DigestMismatch { .. }
    ));
    // … and a missing blob is named.
    fs::remove_file(&path).unwrap();
    let err = layout.fetch(&right, MAX_MANIFEST_SIZE).unwrap_err();
    assert!(
        matches!(err, Error::BlobNotFound { .. }) && err.to_string().contains(SIG_L2),
        "{err}"
    );
}

#[test]
fn oversized_content_is_refused_before_reading() {
    let layout = OciLayout::open(e2e_layout("e2e-valid-signature")).unwrap();
    // No such blob exists: a size error (not "not found") proves nothing was opened.
    let huge = Descriptor::new(
        MEDIA_TYPE_OCI_MANIFEST,
        Digest::sha256(b"nothing"),
        MAX_MANIFEST_SIZE + 1,
    );
    let err = layout.fetch(&huge, MAX_MANIFEST_SIZE).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    let small_limit = Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, d(SIG_L2), 728);
    assert!(matches!(
        layout.fetch(&small_limit, 100).unwrap_err(),
        Error::TooLarge { limit: 100, .. }
    ));
}

#[test]
fn layout_references() {
    let digest_ref = format!("./layouts/e2e@{SUBJECT_2023}");
    let r = LayoutReference::parse(&digest_ref).unwrap();
    assert_eq!(r.path, PathBuf::from("./layouts/e2e"));
    assert_eq!(r.target, Target::Digest(d(SUBJECT_2023)));
    assert_eq!(r.to_string(), digest_ref);

    let r = LayoutReference::parse("./my:dir:v1").unwrap();
    assert_eq!(r.path, PathBuf::from("./my:dir"));
    assert_eq!(r.target, Target::Tag("v1".into()));
    assert_eq!(r.target.as_str(), "v1");

    // '@' wins over ':' and is split at the last one.
    let r = LayoutReference::parse(&format!("a@b:c@{SUBJECT_2023}")).unwrap();
    assert_eq!(r.path, PathBuf::from("a@b:c"));

    for missing in ["./layout", "layout@", "layout:"] {
        let err = LayoutReference::parse(missing).unwrap_err();
        assert!(matches!(err, Error::MissingReference(_)), "{missing}: {err}");
        assert!(err.to_string().contains("missing tag or digest"), "{err}");
    }
    for no_path in [":v1", &format!("@{SUBJECT_2023}")] {
        let err = LayoutReference::parse(no_path).unwrap_err();
        assert!(matches!(err, Error::MissingLayoutPath(_)), "{no_path}: {err}");
    }
    assert!(matches!(
        LayoutReference::parse("dir:-v1").unwrap_err(),
        Error::InvalidTag(_)
    ));
    assert!(matches!(
        LayoutReference::parse("dir@sha256:abc").unwrap_err(),
        Error::InvalidDigest(_)
    ));
    assert!(matches!(
        LayoutReference::parse("dir@md5:abc").unwrap_err(),
        Error::InvalidDigest(_)
    ));
}

#[test]
fn create_push_tag_resolve_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("new-layout");
    let mut layout = OciLayout::create(&root).unwrap();
    assert!(layout.index().manifests.is_empty());
    assert_eq!(
        fs::read_to_string(root.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );

    let config = layout.push(MEDIA_TYPE_EMPTY_JSON, EMPTY_JSON).unwrap();
    let layer = layout
        .push("application/vnd.oci.image.layer.v1.tar", b"hello\n")
        .unwrap();
    assert!(
        layout.index().manifests.is_empty(),
        "blobs are not listed in index.json"
    );
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
        artifact_type: Some("application/vnd.example".into()),
        config: empty_descriptor(),
        layers: vec![layer.clone()],
        subject: None,
        annotations: None,
    };
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let m1 = layout.push(MEDIA_TYPE_OCI_MANIFEST, &bytes).unwrap();
    assert_eq!(layout.index().manifests.len(), 1);
    assert_eq!(layout.fetch(&config, 2).unwrap(), EMPTY_JSON);

    layout.tag(&m1, "v1").unwrap();
    assert_eq!(
        layout.index().manifests.len(),
        1,
        "the untagged entry became the tagged one"
    );
    assert_eq!(layout.resolve("v1").unwrap().digest, m1.digest);
    assert_eq!(layout.resolve(m1.digest.as_str()).unwrap(), m1);

    // Re-tagging moves the tag; the old manifest stays listed, untagged.
    let bytes2 = serde_json::to_vec(&ImageManifest {
        annotations: Some(BTreeMap::from([("k".into(), "v".into())])),
        ..manifest
    })
    .unwrap();
    let m2 = layout.push(MEDIA_TYPE_OCI_MANIFEST, &bytes2).unwrap();
    layout.tag(&m2, "v1").unwrap();
    layout.tag(&m2, "latest").unwrap();
    let reopened = OciLayout::open(&root).unwrap();
    assert_eq!(reopened.resolve("v1").unwrap().digest, m2.digest);
    assert_eq!(reopened.resolve("latest").unwrap().digest, m2.digest);
    assert!(reopened.index().manifests.iter().any(|e| e.digest == m1.digest));
    let mut tags: Vec<_> = reopened.tags().into_iter().map(|(t, _)| t).collect();
    tags.sort();
    assert_eq!(tags, ["latest", "v1"]);
    assert!(
        !fs::read_dir(&root)
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
    );

    // create() on an existing layout opens it.
    assert_eq!(OciLayout::create(&root).unwrap().index(), reopened.index());

    // Tagging content the layout lacks, or with a bad tag, fails.
    let ghost = Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, Digest::sha256(b"ghost"), 5);
    assert!(matches!(
        layout.tag(&ghost, "v2").unwrap_err(),
        Error::BlobNotFound { .. }
    ));
    assert!(matches!(
        layout.tag(&m1, "bad/tag").unwrap_err(),
        Error::InvalidTag(_)
    ));
    // A manifest pushed as something it is not is refused.
    assert!(matches!(
        layout.push(MEDIA_TYPE_OCI_MANIFEST, b"not json").unwrap_err(),
        Error::InvalidManifest { .. }
    ));
    assert!(matches!(
        layout
            .push("application/vnd.oci.image.index.v1+json", &bytes)
            .unwrap_err(),
        Error::InvalidManifest { .. }
    ));
}

#[test]
fn resolve_a_digest_that_only_exists_as_a_blob() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayout::create(dir.path()).unwrap();
    let index =
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    // Pushed under an opaque media type, so index.json does not list it.
    let blob = layout.push("application/octet-stream", index).unwrap();
    assert!(layout.index().manifests.is_empty());
    assert_eq!(
        layout.resolve(blob.digest.as_str()).unwrap(),
        Descriptor::new(
            "application/vnd.oci.image.index.v1+json",
            blob.digest.clone(),
            blob.size
        )
    );
    let raw = layout.push("application/octet-stream", b"{}").unwrap();
    assert!(matches!(
        layout.resolve(raw.digest.as_str()).unwrap_err(),
        Error::UnknownMediaType { .. }
    ));
    let absent = Digest::sha256(b"absent");
    assert!(matches!(
        layout.resolve(absent.as_str()).unwrap_err(),
        Error::ReferenceNotFound { .. }
    ));
    assert!(matches!(
        layout.resolve("sha256:nothex").unwrap_err(),
        Error::InvalidDigest(_)
    ));
}

#[test]
fn open_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let err = OciLayout::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("oci-layout is missing"), "{err}");

    fs::write(dir.path().join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let err = OciLayout::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("index.json is missing"), "{err}");

    fs::write(dir.path().join("oci-layout"), r#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
    let err = OciLayout::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedLayoutVersion { .. }) && err.to_string().contains("2.0.0"));

    fs::write(dir.path().join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs::write(dir.path().join("index.json"), "[").unwrap();
    let err = OciLayout::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::InvalidJson { .. }) && err.to_string().contains("index.json"));
}

/// A layout holding one subject and whatever signature manifests a test pushes.
fn layout_with_subject() -> (tempfile::TempDir, OciLayout, Descriptor) {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayout::create(dir.path()).unwrap();
    layout.push(MEDIA_TYPE_EMPTY_JSON, EMPTY_JSON).unwrap();
    let subject_bytes = serde_json::to_vec(&ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
        artifact_type: Some("application/vnd.example".into()),
        config: empty_descriptor(),
        layers: vec![],
        subject: None,
        annotations: None,
    })
    .unwrap();
    let subject = layout.push(MEDIA_TYPE_OCI_MANIFEST, &subject_bytes).unwrap();
    layout.tag(&subject, "v1").unwrap();
    (dir, layout, subject)
}

fn signature_with(subject: &Descriptor, config: Descriptor, layers: Vec<Descriptor>) -> Vec<u8> {
    serde_json::to_vec(&ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
        artifact_type: Some(ARTIFACT_TYPE_NOTARY_SIGNATURE.into()),
        config,
        layers,
        subject: Some(subject.clone()),
        annotations: None,
    })
    .unwrap()
}

#[test]
fn signature_manifest_with_two_layers_is_an_error() {
    let (_dir, mut layout, subject) = layout_with_subject();
    let a = layout.push(JWS, b"a").unwrap();
    let b = layout.push(JWS, b"b").unwrap();
    layout
        .push(
            MEDIA_TYPE_OCI_MANIFEST,
            &signature_with(&subject, empty_descriptor(), vec![a, b]),
        )
        .unwrap();
    let err = list_signatures(&layout, &subject).unwrap_err();
    assert!(
        matches!(err, Error::SignatureLayerCount { count: 2, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("requires exactly one signature envelope blob, got 2"),
        "{err}"
    );
}

#[test]
fn oci11_signature_with_a_non_empty_config_is_skipped() {
    let (_dir, mut layout, subject) = layout_with_subject();
    let env = layout.push(JWS, b"envelope").unwrap();
    let config = layout
        .push("application/vnd.cncf.notary.signature", b"{}")
        .unwrap();
    layout
        .push(
            MEDIA_TYPE_OCI_MANIFEST,
            &signature_with(&subject, config, vec![env.clone()]),
        )
        .unwrap();
    assert_eq!(layout.referrers(&subject.digest, None).unwrap().len(), 1);
    assert!(list_signatures(&layout, &subject).unwrap().is_empty());

    // The well-formed one next to it is returned.
    let good = layout
        .push(
            MEDIA_TYPE_OCI_MANIFEST,
            &signature_with(&subject, empty_descriptor(), vec![env]),
        )
        .unwrap();
    let sigs = list_signatures(&layout, &subject).unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].manifest.digest, good.digest);
}

/// In a layout the tag-schema index is only a hint: when its blob is gone the
/// subject scan still finds every signature.
#[test]
fn a_missing_tag_schema_index_is_ignored() {
    let dir = copy_layout(&e2e_layout("e2e-valid-multiple-signatures"));
    let layout = OciLayout::open(dir.path()).unwrap();
    let tag_index = layout.resolve(&format!("sha256-{}", &SUBJECT_2023[7..])).unwrap();
    fs::remove_file(layout.blob_path(&tag_index.digest)).unwrap();
    let subject = layout.resolve("v1").unwrap();
    let got: Vec<_> = list_signatures(&layout, &subject)
        .unwrap()
        .into_iter()
        .map(|s| s.manifest.digest.to_string())
        .collect();
    assert_eq!(got, [SIG_L2, SIG_L3]);
}

#[test]
fn pushing_over_a_damaged_blob_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayout::create(dir.path()).unwrap();
    let desc = layout.push(JWS, b"envelope").unwrap();
    let path = layout.blob_path(&desc.digest);
    fs::write(&path, b"EnVeLoPe").unwrap();
    assert!(matches!(
        layout.fetch(&desc, 100).unwrap_err(),
        Error::DigestMismatch { .. }
    ));
    assert_eq!(layout.push(JWS, b"envelope").unwrap(), desc);
    assert_eq!(layout.fetch(&desc, 100).unwrap(), b"envelope");
}

#[test]
fn blobs_stream_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayout::create(dir.path()).unwrap();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let desc = Descriptor::of("application/vnd.oci.image.layer.v1.tar", &big);
    assert!(!layout.exists(&desc).unwrap());
    layout.push_from(&desc, &mut big.as_slice()).unwrap();
    assert!(layout.exists(&desc).unwrap());
    let mut out = Vec::new();
    layout.fetch_to(&desc, &mut out).unwrap();
    assert!(out == big);

    // Wrong content is not stored, and leaves no temporary file behind.
    let claimed = Descriptor::of("application/octet-stream", b"expected");
    assert!(matches!(
        layout.push_from(&claimed, &mut &b"tampered"[..]),
        Err(Error::DigestMismatch { .. })
    ));
    assert!(matches!(
        layout.push_from(&claimed, &mut &b"expected and more"[..]),
        Err(Error::SizeMismatch { .. })
    ));
    assert!(!layout.exists(&claimed).unwrap());
    let sha_dir = dir.path().join("blobs").join("sha256");
    assert!(
        !fs::read_dir(&sha_dir)
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
    );

    // A damaged blob is reported by fetch_to.
    fs::write(layout.blob_path(&desc.digest), vec![0u8; big.len()]).unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        layout.fetch_to(&desc, &mut out),
        Err(Error::DigestMismatch { .. })
    ));

    // Manifests pushed from a reader are listed in index.json, as by push().
    let manifest = serde_json::to_vec(&ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
        artifact_type: None,
        config: empty_descriptor(),
        layers: Vec::new(),
        subject: None,
        annotations: None,
    })
    .unwrap();
    let m = Descriptor::of(MEDIA_TYPE_OCI_MANIFEST, &manifest);
    layout.push_from(&m, &mut manifest.as_slice()).unwrap();
    assert!(layout.index().manifests.iter().any(|e| e.digest == m.digest));
}
