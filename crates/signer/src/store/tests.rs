//! Store tests: every behavioural test runs on SQLite and on PostgreSQL
//! (a throwaway server from `testkit::postgres`; when its binaries are
//! missing a loud "PostgreSQL NOT TESTED" line is printed and SQLite still runs).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use notary::{algorithm::KeySpec, crypto::PrivateKey};
use serde_json::json;
use sqlx::{AnyConnection, Connection};
use testkit::postgres::Postgres;
use time::{Duration, OffsetDateTime, macros::datetime};

use super::*;

/// Where a test gets fresh, empty databases.
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(Postgres),
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Db {
    fn name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "SQLite",
            Db::Postgres(_) => "PostgreSQL",
        }
    }

    /// A URL of a fresh database.
    fn fresh(&self) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        match self {
            Db::Sqlite(dir) => format!("sqlite://{}/t{n}.db", dir.path().display()),
            Db::Postgres(pg) => pg.create_database(&format!("t{n}")),
        }
    }
}

/// SQLite, and PostgreSQL when it can be started.
fn backends(test: &str) -> Vec<Db> {
    let mut dbs = vec![Db::Sqlite(tempfile::tempdir().unwrap())];
    match Postgres::why_unavailable() {
        None => dbs.push(Db::Postgres(Postgres::start())),
        Some(why) => eprintln!("\n*** PostgreSQL NOT TESTED ({test}): {why} ***\n"),
    }
    dbs
}

fn job(id: &str, digest: &str, profile: &str, created_at: OffsetDateTime) -> NewJob {
    NewJob {
        id: id.into(),
        created_at,
        identity: "ci@example.com".into(),
        profile: profile.into(),
        profile_version: 3,
        repository: "registry.example/app".into(),
        digest: digest.into(),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 1234,
        client_addr: "10.0.0.7:5555".into(),
        user_agent: "signet/0.1".into(),
        cert_serial: Some(hex::encode(
            &aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, id.as_bytes()).as_ref()[..8],
        )),
        envelope_media_type: "application/jose+json".into(),
        envelope: format!("envelope of {id}").into_bytes(),
    }
}

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

fn key() -> (PrivateKey, Vec<(String, Vec<u8>)>) {
    let k = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let spki = k.public_key_spki_der().unwrap();
    (k, vec![("audit-1".to_string(), spki)])
}

fn t0() -> OffsetDateTime {
    datetime!(2025-03-01 12:00:00.123456789 UTC)
}

async fn raw(url: &str) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(url).await.unwrap()
}

async fn exec(url: &str, sql: &'static str) {
    let mut c = raw(url).await;
    sqlx::query(sql).execute(&mut c).await.unwrap();
    c.close().await.unwrap();
}

fn assert_problem(report: &AuditReport, needle: &str) {
    assert!(
        report.problems.iter().any(|p| p.message.contains(needle)),
        "expected a problem mentioning {needle:?}, got {:#?}",
        report.problems
    );
}

fn assert_intact(report: &AuditReport) {
    assert!(
        report.problems.is_empty(),
        "audit problems: {:#?}",
        report.problems
    );
}

// ---------------------------------------------------------------------------

#[test]
fn canonical_json_and_hash_formula() {
    let v = json!({"b": 1, "a": {"z": [true, null, "x\"/é\n"], "y": -2}});
    assert_eq!(canonical(&v), r#"{"a":{"y":-2,"z":[true,null,"x\"/é\n"]},"b":1}"#);
    // The formula in the module doc, spelled out.
    let at = "2024-05-01T12:00:00.000000000Z";
    let h = audit::entry_hash(audit::ZERO_HASH, 1, at, "refusal", "alice", "x", "{}");
    let text = format!(
        "{}\n{{\"actor\":\"alice\",\"at\":\"{at}\",\"data\":{{}},\"kind\":\"refusal\",\"seq\":1,\"subject\":\"x\"}}",
        audit::ZERO_HASH
    );
    assert_eq!(
        h,
        hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            text.as_bytes()
        ))
    );
    let whole = json!({"seq": 1, "at": at, "kind": "refusal", "actor": "alice", "subject": "x", "data": {}});
    assert_eq!(text, format!("{}\n{}", audit::ZERO_HASH, canonical(&whole)));
    assert_eq!(
        format_time(datetime!(2024-05-01 14:00:00.5 +02:00)),
        "2024-05-01T12:00:00.500000000Z"
    );
}

use audit::canonical;

#[test]
fn job_data_fast_path_is_canonical() {
    let mut j = job("id-\"1\"\n", &digest(1), "pr/é", t0());
    let view: audit::JobView<'_> = (&j).into();
    assert_eq!(
        audit::job_data_canonical(&view),
        canonical(&audit::job_data(&view))
    );
    j.cert_serial = None;
    let view: audit::JobView<'_> = (&j).into();
    assert_eq!(
        audit::job_data_canonical(&view),
        canonical(&audit::job_data(&view))
    );
}

#[tokio::test]
async fn round_trip_every_write() {
    for db in backends("round_trip_every_write") {
        eprintln!("round_trip_every_write on {}", db.name());
        round_trip(&db.fresh()).await;
    }
}

async fn round_trip(url: &str) {
    let store = Store::open(url).await.unwrap();
    assert_eq!(store.head().await.unwrap(), (0, audit::ZERO_HASH.to_string()));

    // Job.
    let j1 = job("job-1", &digest(1), "prod", t0());
    let r = store.submit(Write::Job(j1.clone())).await.unwrap();
    assert_eq!(r, Receipt { seq: 1, affected: 1 });
    let got = store.job("job-1").await.unwrap().unwrap();
    assert_eq!(got.created_at, t0(), "nanosecond times round-trip exactly");
    assert_eq!(
        (
            got.id.as_str(),
            got.digest.as_str(),
            got.envelope.as_slice(),
            got.cert_serial.as_deref()
        ),
        (
            j1.id.as_str(),
            j1.digest.as_str(),
            j1.envelope.as_slice(),
            j1.cert_serial.as_deref()
        )
    );
    assert_eq!(
        (got.audit_seq, got.revoked_at, got.size, got.profile_version),
        (1, None, 1234, 3)
    );
    assert!(store.job("nope").await.unwrap().is_none());
    let e = store.submit(Write::Job(j1.clone())).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let json = serde_json::to_value(&got).unwrap();
    assert_eq!(json["createdAt"], "2025-03-01T12:00:00.123456789Z");

    // Audit.
    let r = store
        .submit(Write::Audit(AuditEvent {
            kind: "refusal".into(),
            actor: "ci@example.com".into(),
            subject: digest(9),
            data: json!({"rule": "deny", "why": "not allowed"}),
        }))
        .await
        .unwrap();
    assert_eq!(r.seq, 2);
    let e = store
        .submit(Write::Audit(AuditEvent {
            kind: "sign".into(),
            actor: "x".into(),
            subject: "y".into(),
            data: json!({}),
        }))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e}");

    // Tokens.
    let tok = NewToken {
        name: "ci".into(),
        identity: "ci@example.com".into(),
        hash: "h1".into(),
        expires_at: Some(t0() + Duration::days(30)),
    };
    let r = store
        .submit(Write::CreateToken {
            token: tok.clone(),
            actor: "admin".into(),
        })
        .await
        .unwrap();
    assert_eq!(r.seq, 3);
    let e = store
        .submit(Write::CreateToken {
            token: NewToken {
                hash: "h2".into(),
                ..tok.clone()
            },
            actor: "admin".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("\"ci\"")),
        "{e}"
    );
    let t = store.token_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(
        (t.name.as_str(), t.expires_at, t.revoked_at),
        ("ci", tok.expires_at, None)
    );
    assert!(store.token_by_hash("h2").await.unwrap().is_none());
    store
        .submit(Write::CreateToken {
            token: NewToken {
                name: "b".into(),
                hash: "h3".into(),
                expires_at: None,
                ..tok.clone()
            },
            actor: "admin".into(),
        })
        .await
        .unwrap();
    let names: Vec<String> = store
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["b", "ci"]);
    store
        .submit(Write::RevokeToken {
            name: "ci".into(),
            actor: "admin".into(),
        })
        .await
        .unwrap();
    assert!(
        store
            .token_by_hash("h1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let e = store
        .submit(Write::RevokeToken {
            name: "ci".into(),
            actor: "admin".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    let e = store
        .submit(Write::RevokeToken {
            name: "zz".into(),
            actor: "admin".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");

    // RevokeJob.
    let serial = j1.cert_serial.clone().unwrap();
    assert_eq!(
        store.cert_status("prod", &serial).await.unwrap(),
        Some(CertState::Good)
    );
    assert_eq!(store.cert_status("prod", "ffff").await.unwrap(), None);
    assert_eq!(store.cert_status("other", &serial).await.unwrap(), None);
    let r = store
        .submit(Write::RevokeJob {
            id: "job-1".into(),
            reason: "keyCompromise".into(),
            actor: "admin".into(),
        })
        .await
        .unwrap();
    assert_eq!(r.affected, 1);
    let r = store
        .submit(Write::RevokeJob {
            id: "job-1".into(),
            reason: "again".into(),
            actor: "admin".into(),
        })
        .await
        .unwrap();
    assert_eq!(r.affected, 0, "revoking twice is idempotent");
    let got = store.job("job-1").await.unwrap().unwrap();
    assert_eq!(got.revocation_reason.as_deref(), Some("keyCompromise"));
    assert!(matches!(
        store.cert_status("prod", &serial.to_uppercase()).await.unwrap(),
        Some(CertState::Revoked { reason, .. }) if reason == "keyCompromise"
    ));
    let e = store
        .submit(Write::RevokeJob {
            id: "missing".into(),
            reason: "x".into(),
            actor: "admin".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");

    // RevokeDigest: existing jobs now, later jobs when stored.
    store
        .submit(Write::Job(job("job-2", &digest(2), "prod", t0())))
        .await
        .unwrap();
    store
        .submit(Write::Job(job("job-3", &digest(3), "prod", t0())))
        .await
        .unwrap();
    assert!(
        !store
            .revoked_digests()
            .await
            .unwrap()
            .iter()
            .any(|d| d.digest == digest(2))
    );
    let r = store
        .submit(Write::RevokeDigest {
            digest: digest(2),
            reason: "malware".into(),
            actor: "sec".into(),
        })
        .await
        .unwrap();
    assert_eq!(r.affected, 1);
    assert!(
        store
            .revoked_digests()
            .await
            .unwrap()
            .iter()
            .any(|d| d.digest == digest(2))
    );
    let rd = store.revoked_digests().await.unwrap();
    assert_eq!(
        (rd.len(), rd[0].digest.as_str(), rd[0].reason.as_str()),
        (1, digest(2).as_str(), "malware")
    );
    store
        .submit(Write::Job(job("job-2b", &digest(2), "dev", t0())))
        .await
        .unwrap();
    let later = store.job("job-2b").await.unwrap().unwrap();
    assert_eq!(
        later.revocation_reason.as_deref(),
        Some("malware"),
        "a later job of a revoked digest is revoked"
    );
    assert!(store.job("job-3").await.unwrap().unwrap().revoked_at.is_none());

    // RevokeProfile: jobs at/after effective_from, now and later.
    let from = t0() + Duration::hours(1);
    store
        .submit(Write::Job(job("old", &digest(10), "team", t0())))
        .await
        .unwrap();
    store
        .submit(Write::Job(job("new", &digest(11), "team", from)))
        .await
        .unwrap();
    let r = store
        .submit(Write::RevokeProfile {
            profile: "team".into(),
            effective_from: from,
            reason: "key leaked".into(),
            actor: "sec".into(),
        })
        .await
        .unwrap();
    assert_eq!(r.affected, 1);
    assert!(store.job("old").await.unwrap().unwrap().revoked_at.is_none());
    assert!(store.job("new").await.unwrap().unwrap().revoked_at.is_some());
    store
        .submit(Write::Job(job(
            "newer",
            &digest(12),
            "team",
            from + Duration::hours(1),
        )))
        .await
        .unwrap();
    store
        .submit(Write::Job(job(
            "older",
            &digest(13),
            "team",
            from - Duration::nanoseconds(1),
        )))
        .await
        .unwrap();
    assert!(store.job("newer").await.unwrap().unwrap().revoked_at.is_some());
    assert!(store.job("older").await.unwrap().unwrap().revoked_at.is_none());
    let pr = store.profile_revocation("team").await.unwrap().unwrap();
    assert_eq!((pr.effective_from, pr.reason.as_str()), (from, "key leaked"));
    assert!(store.profile_revocation("prod").await.unwrap().is_none());
    let all = store.profile_revocations().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|r| (r.profile.as_str(), r.effective_from))
            .collect::<Vec<_>>(),
        [("team", from)]
    );
    // A later rule with a later effective_from does not narrow the rule.
    store
        .submit(Write::RevokeProfile {
            profile: "team".into(),
            effective_from: from + Duration::days(1),
            reason: "again".into(),
            actor: "sec".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .profile_revocation("team")
            .await
            .unwrap()
            .unwrap()
            .effective_from,
        from
    );
    let crl: Vec<String> = store
        .revoked_certs("team")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.serial_hex)
        .collect();
    let want: Vec<String> = ["new", "newer"]
        .iter()
        .map(|id| job(id, "", "", t0()).cert_serial.unwrap())
        .collect();
    assert_eq!(crl.len(), 2);
    for w in &want {
        assert!(crl.contains(w), "{crl:?} lacks {w}");
    }
    assert_eq!(
        store.revoked_certs("prod").await.unwrap().len(),
        2,
        "job-1 and job-2"
    );

    // The whole history verifies, and head is the last receipt.
    let (seq, hash) = store.head().await.unwrap();
    let entries = store.audit_entries(0, 1000).await.unwrap();
    assert_eq!(entries.len() as u64, seq);
    assert_eq!(entries.last().unwrap().hash, hash);
    assert!(entries.iter().all(|e| e.computed_hash() == e.hash));
    let report = store.verify_audit(&[]).await.unwrap();
    assert_intact(&report);
    assert_eq!((report.entries, report.jobs, report.head_seq), (seq, 8, seq));
    store.close().await;
    let e = store
        .submit(Write::Job(job("late", &digest(1), "prod", t0())))
        .await
        .unwrap_err();
    assert_eq!(e, StoreError::Closed);

    // Reopening finds everything (and migrations are not re-run).
    let store = Store::open(url).await.unwrap();
    assert_eq!(store.head().await.unwrap(), (seq, hash));
    store.close().await;
}

#[tokio::test]
async fn job_filters() {
    for db in backends("job_filters") {
        eprintln!("job_filters on {}", db.name());
        filters(&db.fresh()).await;
    }
}

async fn filters(url: &str) {
    let store = Store::open(url).await.unwrap();
    for i in 0..30u32 {
        let mut j = job(
            &format!("j{i:02}"),
            &digest(i % 3),
            if i % 2 == 0 { "even" } else { "odd" },
            t0() + Duration::minutes(i64::from(i)),
        );
        j.identity = format!("user{}", i % 5);
        j.repository = format!("repo{}", i % 4);
        store.submit(Write::Job(j)).await.unwrap();
    }
    store
        .submit(Write::RevokeJob {
            id: "j07".into(),
            reason: "x".into(),
            actor: "a".into(),
        })
        .await
        .unwrap();
    let ids = |jobs: Vec<Job>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    let all = ids(store.jobs(&JobFilter::default()).await.unwrap());
    assert_eq!(all.len(), 30);
    assert_eq!(all[0], "j29", "newest first");
    assert_eq!(all[29], "j00");
    let f = |g: fn(&mut JobFilter)| {
        let mut f = JobFilter::default();
        g(&mut f);
        f
    };
    assert_eq!(
        store
            .jobs(&f(|f| f.profile = Some("even".into())))
            .await
            .unwrap()
            .len(),
        15
    );
    assert_eq!(
        store
            .jobs(&f(|f| f.identity = Some("user1".into())))
            .await
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        store
            .jobs(&f(|f| f.repository = Some("repo3".into())))
            .await
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        store
            .jobs(&f(|f| f.digest = Some(digest(0))))
            .await
            .unwrap()
            .len(),
        10
    );
    assert_eq!(
        ids(store.jobs(&f(|f| f.revoked = Some(true))).await.unwrap()),
        ["j07"]
    );
    assert_eq!(
        store.jobs(&f(|f| f.revoked = Some(false))).await.unwrap().len(),
        29
    );
    let window = JobFilter {
        since: Some(t0() + Duration::minutes(10)),
        until: Some(t0() + Duration::minutes(20)),
        ..JobFilter::default()
    };
    let w = ids(store.jobs(&window).await.unwrap());
    assert_eq!(w.len(), 10, "since inclusive, until exclusive: {w:?}");
    assert_eq!((w[0].as_str(), w[9].as_str()), ("j19", "j10"));
    let combined = JobFilter {
        profile: Some("odd".into()),
        digest: Some(digest(1)),
        since: Some(t0() + Duration::minutes(5)),
        ..JobFilter::default()
    };
    // odd i with i % 3 == 1 and i >= 5: 7, 13, 19, 25
    assert_eq!(
        ids(store.jobs(&combined).await.unwrap()),
        ["j25", "j19", "j13", "j07"]
    );
    // Paging with limit and the before cursor.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .jobs(&JobFilter {
                limit: Some(7),
                before: before.clone(),
                ..JobFilter::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        before = page.last().map(|j| j.id.clone());
        seen.extend(ids(page));
    }
    assert_eq!(seen, all);
    // Same created_at: ordered by id, and the cursor still pages correctly.
    for id in ["t-a", "t-b", "t-c"] {
        store
            .submit(Write::Job(job(id, &digest(99), "tie", t0())))
            .await
            .unwrap();
    }
    let tie = JobFilter {
        profile: Some("tie".into()),
        limit: Some(1),
        ..JobFilter::default()
    };
    let p1 = ids(store.jobs(&tie).await.unwrap());
    let p2 = ids(store
        .jobs(&JobFilter {
            before: Some(p1[0].clone()),
            ..tie.clone()
        })
        .await
        .unwrap());
    let p3 = ids(store
        .jobs(&JobFilter {
            before: Some(p2[0].clone()),
            ..tie.clone()
        })
        .await
        .unwrap());
    assert_eq!([p1, p2, p3].concat(), ["t-c", "t-b", "t-a"]);
    let e = store
        .jobs(&JobFilter {
            before: Some("nope".into()),
            ..JobFilter::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    assert_eq!(
        store
            .jobs(&JobFilter {
                limit: Some(5000),
                ..JobFilter::default()
            })
            .await
            .unwrap()
            .len(),
        33
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_group_commit() {
    for db in backends("concurrent_group_commit") {
        concurrency(db.name(), &db.fresh()).await;
    }
}

async fn concurrency(name: &str, url: &str) {
    const TASKS: usize = 64;
    const PER_TASK: usize = 100;
    let store = Store::open(url).await.unwrap();
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                let mut j = job(
                    &format!("c-{t}-{i}"),
                    &digest((t * PER_TASK + i) as u32),
                    "bench",
                    t0(),
                );
                j.envelope = vec![7u8; 2048];
                store.submit(Write::Job(j)).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let n = TASKS * PER_TASK;
    eprintln!(
        "\n*** {name}: {n} jobs from {TASKS} concurrent tasks in {secs:.2}s = {:.0} durable jobs/s ***\n",
        n as f64 / secs
    );
    let (seq, _) = store.head().await.unwrap();
    assert_eq!(seq, n as u64);
    let report = store.verify_audit(&[]).await.unwrap();
    assert_intact(&report);
    assert_eq!(report.jobs, n as u64);
    store.close().await;
}

/// A store with a little history and a checkpoint at its head.
async fn history(url: &str) -> (Store, Vec<(String, Vec<u8>)>) {
    let store = Store::open(url).await.unwrap();
    let (k, keys) = key();
    for i in 0..6u32 {
        store
            .submit(Write::Job(job(&format!("h{i}"), &digest(i), "p", t0())))
            .await
            .unwrap();
        store
            .submit(Write::Audit(AuditEvent {
                kind: "refusal".into(),
                actor: "x".into(),
                subject: format!("s{i}"),
                data: json!({"n": i}),
            }))
            .await
            .unwrap();
    }
    let cp = store.checkpoint(&k, "audit-1").await.unwrap().unwrap();
    assert_eq!(cp.seq, 12);
    assert!(
        store.checkpoint(&k, "audit-1").await.unwrap().is_none(),
        "head already checkpointed"
    );
    assert_intact(&store.verify_audit(&keys).await.unwrap());
    (store, keys)
}

#[tokio::test]
async fn tamper_is_detected() {
    for db in backends("tamper_is_detected") {
        eprintln!("tamper_is_detected on {}", db.name());
        tamper(&db).await;
    }
}

async fn tamper(db: &Db) {
    // An edited audit row.
    let url = db.fresh();
    let (store, keys) = history(&url).await;
    exec(&url, "UPDATE audit SET actor = 'mallory' WHERE seq = 4").await;
    let r = store.verify_audit(&keys).await.unwrap();
    assert_problem(&r, "entry seq 4");
    assert_problem(&r, "edited");
    assert!(r.problems.iter().all(|p| p.seq == Some(4)), "{:#?}", r.problems);
    store.close().await;

    // A deleted audit row (a refusal, so no job is involved).
    let url = db.fresh();
    let (store, keys) = history(&url).await;
    exec(&url, "DELETE FROM audit WHERE seq = 6").await;
    let r = store.verify_audit(&keys).await.unwrap();
    assert_problem(&r, "entry seq 6 is missing");
    assert_problem(&r, "entry seq 7: prev_hash");
    store.close().await;

    // Two entries swapped.
    let url = db.fresh();
    let (store, keys) = history(&url).await;
    exec(&url, "UPDATE audit SET seq = -1 WHERE seq = 2").await;
    exec(&url, "UPDATE audit SET seq = 2 WHERE seq = 4").await;
    exec(&url, "UPDATE audit SET seq = 4 WHERE seq = -1").await;
    let r = store.verify_audit(&keys).await.unwrap();
    assert_problem(&r, "entry seq 2 (");
    assert_problem(&r, "entry seq 4 (");
    store.close().await;

    // A job row edited: its digest.
    let url = db.fresh();
    let (store, keys) = history(&url).await;
    exec(&url, "UPDATE jobs SET digest = 'sha256:evil' WHERE id = 'h3'").await;
    let r = store.verify_audit(&keys).await.unwrap();
    assert_problem(&r, "job h3 differs from its sign entry (seq 7) in: digest");
    assert_eq!(r.problems.len(), 1, "{:#?}", r.problems);
    store.close().await;

    // A job row deleted, one added, one revoked without a reason in the log.
    let url = db.fresh();
    let (store, keys) = history(&url).await;
    exec(&url, "DELETE FROM jobs WHERE id = 'h1'").await;
    exec(
        &url,
        "INSERT INTO jobs (id, created_at, identity, profile, profile_version, repository, digest, media_type, size, \
         client_addr, user_agent, cert_serial, envelope_media_type, envelope, revoked_at, revocation_reason, audit_seq) \
         SELECT 'forged', created_at, identity, profile, profile_version, repository, digest, media_type, size, \
         client_addr, user_agent, 'ab', envelope_media_type, envelope, NULL, NULL, audit_seq FROM jobs WHERE id = 'h2'",
    )
    .await;
    exec(
        &url,
        "UPDATE jobs SET revoked_at = 1, revocation_reason = 'x' WHERE id = 'h4'",
    )
    .await;
    let r = store.verify_audit(&keys).await.unwrap();
    assert_problem(
        &r,
        "sign entry seq 3 names job h1, which is not in the jobs table",
    );
    assert_problem(&r, "job forged has no sign entry");
    assert_problem(&r, "job h4 is revoked but no revoke.job");
    store.close().await;

    // A checkpoint whose signature was tampered with, and one by an unknown key.
    let url = db.fresh();
    let (store, keys) = history(&url).await;
    exec(&url, "UPDATE checkpoints SET at = at + 1").await;
    let r = store.verify_audit(&keys).await.unwrap();
    assert_problem(
        &r,
        "checkpoint at seq 12: signature by key \"audit-1\" does not verify",
    );
    let (_, other) = key();
    let r = store
        .verify_audit(&[("audit-1".to_string(), other[0].1.clone())])
        .await
        .unwrap();
    assert_problem(&r, "does not verify");
    let r = store.verify_audit(&[]).await.unwrap();
    assert_problem(&r, "not among the checkpoint keys");
    store.close().await;

    // The log truncated below a checkpoint (and the job rows with it).
    let url = db.fresh();
    let (store, keys) = history(&url).await;
    exec(&url, "DELETE FROM audit WHERE seq > 9").await;
    exec(&url, "DELETE FROM jobs WHERE audit_seq > 9").await;
    let r = store.verify_audit(&keys).await.unwrap();
    assert_problem(
        &r,
        "checkpoint at seq 12 but the log ends at seq 9: the log was truncated",
    );
    store.close().await;

    // The whole log rewritten with re-computed hashes: the checkpoint catches it.
    let url = db.fresh();
    let (store, keys) = history(&url).await;
    let entries = store.audit_entries(0, 1000).await.unwrap();
    let mut c = raw(&url).await;
    let mut prev = audit::ZERO_HASH.to_string();
    for mut e in entries {
        if e.seq == 2 {
            e.data = json!({"n": 1000});
        }
        e.prev_hash = prev.clone();
        e.hash = e.computed_hash();
        sqlx::query("UPDATE audit SET data = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
            .bind(canonical(&e.data))
            .bind(e.prev_hash.as_str())
            .bind(e.hash.as_str())
            .bind(e.seq as i64)
            .execute(&mut c)
            .await
            .unwrap();
        prev = e.hash;
    }
    c.close().await.unwrap();
    let r = store.verify_audit(&keys).await.unwrap();
    assert_problem(&r, "checkpoint at seq 12 signed hash");
    assert_eq!(r.problems.len(), 1, "{:#?}", r.problems);
    store.close().await;
}

#[tokio::test]
async fn export_and_verify_export() {
    for db in backends("export_and_verify_export") {
        eprintln!("export_and_verify_export on {}", db.name());
        export(&db.fresh()).await;
    }
}

async fn export(url: &str) {
    let (store, keys) = history(url).await;
    store
        .submit(Write::RevokeJob {
            id: "h2".into(),
            reason: "r".into(),
            actor: "a".into(),
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    assert_eq!(store.export_audit(&mut out).await.unwrap(), 13);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 14);
    assert!(lines[13].starts_with("{\"checkpoint\":"));
    let r = verify_export(text.as_bytes(), &keys).unwrap();
    assert_intact(&r);
    assert_eq!((r.entries, r.checkpoints, r.head_seq), (13, 1, 13));

    // An auditor recomputes line 1 from the export alone.
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let hashed = json!({
        "seq": first["seq"], "at": first["at"], "kind": first["kind"],
        "actor": first["actor"], "subject": first["subject"], "data": first["data"],
    });
    let text1 = format!("{}\n{}", first["prev_hash"].as_str().unwrap(), canonical(&hashed));
    let h = hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        text1.as_bytes(),
    ));
    assert_eq!(first["hash"], h.as_str());

    // An edited line fails.
    let edited = text.replacen("\"subject\":\"s2\"", "\"subject\":\"s9\"", 1);
    assert_ne!(edited, text);
    let r = verify_export(edited.as_bytes(), &keys).unwrap();
    assert_problem(&r, "entry seq 6");
    // A dropped line fails.
    let dropped: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let r = verify_export(dropped.as_bytes(), &keys).unwrap();
    assert_problem(&r, "entry seq 5 is missing");
    // Truncated below the checkpoint.
    let truncated: String = lines[..10]
        .iter()
        .chain(&lines[13..])
        .map(|l| format!("{l}\n"))
        .collect();
    let r = verify_export(truncated.as_bytes(), &keys).unwrap();
    assert_problem(&r, "truncated");
    // Garbage.
    let r = verify_export(format!("{text}not json\n").as_bytes(), &keys).unwrap();
    assert_problem(&r, "line 15: not JSON");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_chain() {
    for db in backends("replicas_share_one_chain") {
        eprintln!("replicas_share_one_chain on {}", db.name());
        replicas(&db.fresh()).await;
    }
}

async fn replicas(url: &str) {
    let a = Store::open(url).await.unwrap();
    let b = Store::open(url).await.unwrap();
    let (k, keys) = key();
    let mut handles = Vec::new();
    for t in 0..16usize {
        let s = if t % 2 == 0 { a.clone() } else { b.clone() };
        handles.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..50usize {
                let r = s
                    .submit(Write::Job(job(
                        &format!("r-{t}-{i}"),
                        &digest(i as u32),
                        "p",
                        t0(),
                    )))
                    .await
                    .unwrap();
                seqs.push(r.seq);
            }
            seqs
        }));
    }
    // Checkpoints and verification while both replicas write: verify reads
    // one snapshot, so a live log verifies.
    let ck = {
        let a = a.clone();
        let keys = keys.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                a.checkpoint(&k, "audit-1").await.unwrap();
                assert_intact(&a.verify_audit(&keys).await.unwrap());
            }
        })
    };
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    ck.await.unwrap();
    all.sort();
    assert_eq!(
        all,
        (1..=800).collect::<Vec<u64>>(),
        "every seq once: one linear chain"
    );
    let ra = a.verify_audit(&keys).await.unwrap();
    let rb = b.verify_audit(&keys).await.unwrap();
    assert_intact(&ra);
    assert_eq!(ra, rb);
    assert_eq!((ra.entries, ra.jobs), (800, 800));
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_drop() {
    for db in backends("acknowledged_writes_survive_drop") {
        eprintln!("acknowledged_writes_survive_drop on {}", db.name());
        durability(&db.fresh()).await;
    }
}

async fn durability(url: &str) {
    let store = Store::open(url).await.unwrap();
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for t in 0..16usize {
        let s = store.clone();
        let acked = acked.clone();
        handles.push(tokio::spawn(async move {
            for i in 0.. {
                let id = format!("d-{t}-{i}");
                if s.submit(Write::Job(job(&id, &digest(1), "p", t0())))
                    .await
                    .is_ok()
                {
                    acked.lock().unwrap().push(id);
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // "Crash": abort the callers mid-flight and drop every handle without close.
    for h in &handles {
        h.abort();
    }
    for h in handles {
        let _ = h.await;
    }
    drop(store);
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty());
    let store = Store::open(url).await.unwrap();
    for id in &acked {
        assert!(
            store.job(id).await.unwrap().is_some(),
            "acknowledged job {id} is missing"
        );
    }
    assert_intact(&store.verify_audit(&[]).await.unwrap());
    eprintln!("{} acknowledged jobs all present after reopening", acked.len());
    store.close().await;
}

// ---------------------------------------------------------------------------
// Profiles made through the API.

async fn exec_owned(url: &str, sql: String) {
    let mut c = raw(url).await;
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
}

fn put_profile(name: &str, version: i64, previous: Option<i64>, definition: &str) -> Write {
    Write::PutProfile(ProfileWrite {
        name: name.into(),
        version,
        previous,
        definition: definition.into(),
        data: json!({"mode": "perJob", "version": 0}),
        actor: "token:admin".into(),
    })
}

#[tokio::test]
async fn api_profiles_are_stored_versioned_and_audited() {
    for db in backends("api_profiles_are_stored_versioned_and_audited") {
        eprintln!("api_profiles_are_stored_versioned_and_audited on {}", db.name());
        api_profiles(&db.fresh()).await;
    }
}

async fn api_profiles(url: &str) {
    let store = Store::open(url).await.unwrap();
    let (k, keys) = key();
    let empty = ProfilesGeneration { seq: 0, rows: 0 };
    assert_eq!(store.profiles_generation().await.unwrap(), empty);
    assert!(store.stored_profiles().await.unwrap().is_empty());

    // The configuration file had "moved" at version 3 (start-up records
    // the file's profiles as profile.change entries without a definition).
    store
        .submit(Write::Audit(AuditEvent {
            kind: "profile.change".into(),
            actor: "configuration".into(),
            subject: "moved".into(),
            data: json!({"version": 3, "mode": "perJob"}),
        }))
        .await
        .unwrap();
    assert_eq!(store.audited_profile_version("moved").await.unwrap(), 3);
    assert_eq!(store.audited_profile_version("new").await.unwrap(), 0);

    // Create: the row, and a profile.change entry by the admin with the
    // version and the definition's hash.
    let def1 = r#"{"name":"new","one":1}"#;
    let created = store.submit(put_profile("new", 1, None, def1)).await.unwrap();
    let row = store.stored_profile("new").await.unwrap().unwrap();
    assert_eq!((row.version, row.audit_seq), (1, created.seq));
    assert_eq!(row.definition, def1);
    assert!(row.deleted_at.is_none());
    assert_eq!(row.created_at, row.updated_at);
    let entry = store.last_entry("profile.change", "new").await.unwrap().unwrap();
    assert_eq!(entry.seq, created.seq);
    assert_eq!(entry.actor, "token:admin");
    assert_eq!(
        entry.data["version"], 1,
        "the store writes the version: {}",
        entry.data
    );
    assert_eq!(entry.data["definitionSha256"], definition_sha256(def1));
    assert_eq!(entry.data["mode"], "perJob");
    let g1 = store.profiles_generation().await.unwrap();
    assert_eq!(
        g1,
        ProfilesGeneration {
            seq: created.seq as i64,
            rows: 1
        }
    );

    // A writer that read an older state, or reuses a version, is refused
    // and changes nothing.
    let e = store.submit(put_profile("new", 2, None, "{}")).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("changed meanwhile")),
        "{e}"
    );
    let e = store
        .submit(put_profile("new", 1, Some(1), "{}"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("next is 2")),
        "{e}"
    );
    assert_eq!(store.profiles_generation().await.unwrap(), g1);

    // Replace: version 2, same row.
    let def2 = r#"{"name":"new","two":2}"#;
    let replaced = store.submit(put_profile("new", 2, Some(1), def2)).await.unwrap();
    let row = store.stored_profile("new").await.unwrap().unwrap();
    assert_eq!(
        (row.version, row.audit_seq, row.definition.as_str()),
        (2, replaced.seq, def2)
    );
    assert!(row.updated_at > row.created_at);
    assert_ne!(store.profiles_generation().await.unwrap(), g1);

    // A name the file used goes on from the file's version.
    let e = store
        .submit(put_profile("moved", 3, None, "{}"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("next is 4")),
        "{e}"
    );
    store.submit(put_profile("moved", 4, None, "{}")).await.unwrap();

    // Delete: the row stays, marked; a profile.delete entry; not twice.
    let deleted = store
        .submit(Write::DeleteProfile {
            name: "new".into(),
            version: 2,
            actor: "token:admin".into(),
        })
        .await
        .unwrap();
    let row = store.stored_profile("new").await.unwrap().unwrap();
    assert!(row.deleted_at.is_some());
    assert_eq!((row.version, row.audit_seq), (2, deleted.seq));
    let entry = store.last_entry("profile.delete", "new").await.unwrap().unwrap();
    assert_eq!(entry.data["definitionSha256"], definition_sha256(def2));
    let delete = |name: &str, version| Write::DeleteProfile {
        name: name.into(),
        version,
        actor: "token:admin".into(),
    };
    let e = store.submit(delete("new", 2)).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::NotFound(m) if m.contains("already deleted")),
        "{e}"
    );
    let e = store.submit(delete("nothing", 1)).await.unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    let e = store.submit(delete("moved", 3)).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("version 4")),
        "{e}"
    );
    // Only the store writes profile.delete entries.
    let e = store
        .submit(Write::Audit(AuditEvent {
            kind: "profile.delete".into(),
            actor: "x".into(),
            subject: "moved".into(),
            data: json!({}),
        }))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e}");

    // A PUT after a delete makes it sign again, at the next version.
    let def3 = r#"{"name":"new","three":3}"#;
    store.submit(put_profile("new", 3, Some(2), def3)).await.unwrap();
    let row = store.stored_profile("new").await.unwrap().unwrap();
    assert!(row.deleted_at.is_none());
    assert_eq!(row.version, 3);

    store.submit(put_profile("gone", 1, None, "{}")).await.unwrap();
    store.checkpoint(&k, "audit-1").await.unwrap();
    let report = store.verify_audit(&keys).await.unwrap();
    assert_intact(&report);
    assert_eq!(report.profiles, 3);
    store.close().await;

    // Reopened: everything is there.
    let store = Store::open(url).await.unwrap();
    let names: Vec<String> = store
        .stored_profiles()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["gone", "moved", "new"]);

    // Tampering with the rows is detected: an edited definition, a row
    // rolled back to an earlier change, a deleted row.
    exec(
        url,
        "UPDATE profiles SET definition = '{\"key\":\"elsewhere\"}' WHERE name = 'moved'",
    )
    .await;
    exec_owned(
        url,
        format!(
            "UPDATE profiles SET version = 1, definition = '{def1}', deleted_at = NULL, audit_seq = {} WHERE name = 'new'",
            created.seq
        ),
    )
    .await;
    exec(url, "DELETE FROM profiles WHERE name = 'gone'").await;
    let report = store.verify_audit(&keys).await.unwrap();
    assert_problem(&report, "profile \"moved\" differs from its audit entry");
    assert_problem(&report, "definition");
    assert_problem(&report, "profile \"new\" is at its change of audit entry");
    assert_problem(&report, "rolled back");
    assert_problem(&report, "profile \"gone\" was changed through the API");
    assert_eq!(report.problems.len(), 3, "{:#?}", report.problems);
    store.close().await;
}
