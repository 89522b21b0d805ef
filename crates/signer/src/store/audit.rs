//! The hash-chained audit log: entry hashes, signed checkpoints, verification and export.
//!
//! # Entry hash
//!
//! Entries are numbered `seq` = 1, 2, 3, … without gaps. Each entry stores
//! `prev_hash` (the previous entry's `hash`; 64 `0` characters for seq 1) and
//!
//! ```text
//! hash = lower-hex( SHA-256( prev_hash || "\n" || C ) )
//! C    = canonical JSON of {"actor": actor, "at": at, "data": data,
//!                           "kind": kind, "seq": seq, "subject": subject}
//! ```
//!
//! where `at` is the entry's time as RFC 3339 in UTC with exactly nine
//! fractional digits and `Z` (`2024-05-01T12:00:00.123456789Z`, see
//! [`super::format_time`]), `seq` a JSON integer, and *canonical JSON* is:
//! no whitespace anywhere; object members sorted by key (byte-wise on UTF-8);
//! strings written as `serde_json` writes them (`"` and `\` escaped with a
//! backslash, `\b \f \n \r \t`, other control characters as `\u00xx`
//! lower-case hex, everything else — `/` and non-ASCII included — as is,
//! UTF-8); integers in decimal; `true`, `false`, `null`. (Floats are written
//! in `serde_json`'s shortest round-trip form; the service puts none in audit
//! data.) The export ([`Store::export_audit`]) carries every field as it was
//! hashed, so an auditor can recompute every hash with any JSON library and
//! SHA-256, e.g. for seq 1:
//!
//! ```text
//! sha256("0000…0000\n{\"actor\":\"alice\",\"at\":\"2024-05-01T12:00:00.000000000Z\",\"data\":{},\"kind\":\"refusal\",\"seq\":1,\"subject\":\"x\"}")
//! ```
//!
//! A `sign` entry's data is the job's content ([`job_data`]): every column
//! of the job except the revocation columns, with the envelope as its
//! SHA-256 (`envelope_sha256`) and length (`envelope_size`).
//!
//! A profile made through the API is a row whose last change is a
//! `profile.change` entry (data: the profile's fingerprint, its `version`
//! and `definitionSha256`, the SHA-256 of the stored definition) or a
//! `profile.delete` entry (`version`, `definitionSha256`); `profile.change`
//! entries without `definitionSha256` record the configuration file's
//! profiles, which are not stored.
//!
//! # Checkpoints
//!
//! A checkpoint signs, with the service's audit key, the bytes
//!
//! ```text
//! signet-audit-checkpoint/v1\n{seq}\n{hash}\n{at}
//! ```
//!
//! (`seq` decimal, `hash` the entry's hash, `at` the checkpoint's time as
//! above, no trailing newline), using the signature algorithm the key's type
//! fixes (`notary::algorithm::KeySpec::signature_algorithm`). A checkpoint
//! pins the log up to `seq`: truncating the log below it, or rewriting any
//! entry up to it (even with re-computed hashes), is detected.
//!
//! # Export
//!
//! JSON lines: first every entry in seq order,
//! `{"seq":…,"at":"…","kind":"…","actor":"…","subject":"…","data":{…},"prev_hash":"…","hash":"…"}`,
//! then every checkpoint, `{"checkpoint":{"seq":…,"hash":"…","at":"…","key_id":"…","signature":"<base64>"}}`.

use std::collections::{HashMap, HashSet};

use aws_lc_rs::digest::{SHA256, digest};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Row, any::AnyRow};
use time::OffsetDateTime;

use super::{JOB_COLUMNS, Store, StoreError, format_time, from_nanos, job_from_row};

/// `prev_hash` of the first entry.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The prefix of the bytes a checkpoint signs.
pub const CHECKPOINT_CONTEXT: &str = "signet-audit-checkpoint/v1";

/// Kinds only the store's own writes produce (not [`super::Write::Audit`]).
pub const RESERVED_KINDS: &[&str] = &[
    "sign",
    "revoke.job",
    "revoke.profile",
    "revoke.digest",
    "token.create",
    "token.revoke",
    "profile.delete",
];

pub(crate) const ENTRY_COLUMNS: &str = "seq, at, kind, actor, subject, data, prev_hash, hash";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When (serialized with nine fractional digits, as hashed).
    #[serde(with = "super::time_nanos")]
    pub at: OffsetDateTime,
    /// What happened.
    pub kind: String,
    /// Who did it.
    pub actor: String,
    /// What it was done to.
    pub subject: String,
    /// Details.
    pub data: Value,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry's content and `prev_hash` give.
    pub fn computed_hash(&self) -> String {
        entry_hash(
            &self.prev_hash,
            self.seq,
            &format_time(self.at),
            &self.kind,
            &self.actor,
            &self.subject,
            &canonical(&self.data),
        )
    }
}

/// A signed checkpoint of the audit log's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The seq of the checkpointed entry.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// When the checkpoint was made.
    #[serde(with = "super::time_nanos")]
    pub at: OffsetDateTime,
    /// Which key signed it.
    pub key_id: String,
    /// The signature over [`Checkpoint::message`] (base64 in JSON).
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

impl Checkpoint {
    /// The bytes the checkpoint's signature covers.
    pub fn message(&self) -> Vec<u8> {
        checkpoint_message(self.seq, &self.hash, self.at)
    }
}

fn checkpoint_message(seq: u64, hash: &str, at: OffsetDateTime) -> Vec<u8> {
    format!("{CHECKPOINT_CONTEXT}\n{seq}\n{hash}\n{}", format_time(at)).into_bytes()
}

/// Something wrong in the audit log or the job table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The audit entry concerned, if one.
    pub seq: Option<u64>,
    /// The job concerned, if one.
    pub job: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What [`Store::verify_audit`] or [`verify_export`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Job rows checked (0 for an export).
    pub jobs: u64,
    /// Rows of profiles made through the API checked (0 for an export).
    pub profiles: u64,
    /// The last entry's seq (0 when empty).
    pub head_seq: u64,
    /// The last entry's hash.
    pub head_hash: String,
    /// Everything wrong; empty when the log is intact.
    pub problems: Vec<Problem>,
}

impl AuditReport {
    /// Whether nothing is wrong.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Writes `v` as canonical JSON (see the module doc).
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn json_str(s: &str) -> String {
    // Serializing a string cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_str(k));
                out.push(':');
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        Value::String(s) => out.push_str(&json_str(s)),
        other => out.push_str(&other.to_string()),
    }
}

/// The entry hash (module doc), given `data` already canonical.
pub fn entry_hash(
    prev_hash: &str,
    seq: u64,
    at: &str,
    kind: &str,
    actor: &str,
    subject: &str,
    canonical_data: &str,
) -> String {
    let c = format!(
        "{}\n{{\"actor\":{},\"at\":{},\"data\":{},\"kind\":{},\"seq\":{},\"subject\":{}}}",
        prev_hash,
        json_str(actor),
        json_str(at),
        canonical_data,
        json_str(kind),
        seq,
        json_str(subject)
    );
    hex::encode(digest(&SHA256, c.as_bytes()))
}

/// The content of a job as its `sign` entry records it.
#[allow(clippy::too_many_arguments)]
pub(crate) struct JobView<'a> {
    pub id: &'a str,
    pub created_at: OffsetDateTime,
    pub identity: &'a str,
    pub profile: &'a str,
    pub profile_version: i64,
    pub repository: &'a str,
    pub digest: &'a str,
    pub media_type: &'a str,
    pub size: i64,
    pub client_addr: &'a str,
    pub user_agent: &'a str,
    pub cert_serial: Option<&'a str>,
    pub envelope_media_type: &'a str,
    pub envelope: &'a [u8],
}

impl<'a> From<&'a super::NewJob> for JobView<'a> {
    fn from(j: &'a super::NewJob) -> Self {
        JobView {
            id: &j.id,
            created_at: j.created_at,
            identity: &j.identity,
            profile: &j.profile,
            profile_version: j.profile_version,
            repository: &j.repository,
            digest: &j.digest,
            media_type: &j.media_type,
            size: j.size,
            client_addr: &j.client_addr,
            user_agent: &j.user_agent,
            cert_serial: j.cert_serial.as_deref(),
            envelope_media_type: &j.envelope_media_type,
            envelope: &j.envelope,
        }
    }
}

impl<'a> From<&'a super::Job> for JobView<'a> {
    fn from(j: &'a super::Job) -> Self {
        JobView {
            id: &j.id,
            created_at: j.created_at,
            identity: &j.identity,
            profile: &j.profile,
            profile_version: j.profile_version,
            repository: &j.repository,
            digest: &j.digest,
            media_type: &j.media_type,
            size: j.size,
            client_addr: &j.client_addr,
            user_agent: &j.user_agent,
            cert_serial: j.cert_serial.as_deref(),
            envelope_media_type: &j.envelope_media_type,
            envelope: &j.envelope,
        }
    }
}

/// The data of a job's `sign` entry.
pub(crate) fn job_data(j: &JobView<'_>) -> Value {
    serde_json::json!({
        "id": j.id,
        "created_at": format_time(j.created_at),
        "identity": j.identity,
        "profile": j.profile,
        "profile_version": j.profile_version,
        "repository": j.repository,
        "digest": j.digest,
        "media_type": j.media_type,
        "size": j.size,
        "client_addr": j.client_addr,
        "user_agent": j.user_agent,
        "cert_serial": j.cert_serial,
        "envelope_media_type": j.envelope_media_type,
        "envelope_sha256": hex::encode(digest(&SHA256, j.envelope)),
        "envelope_size": j.envelope.len(),
    })
}

/// `canonical(&job_data(j))`, written directly (the writer's hot path).
pub(crate) fn job_data_canonical(j: &JobView<'_>) -> String {
    let serial = j.cert_serial.map_or_else(|| "null".to_string(), json_str);
    format!(
        "{{\"cert_serial\":{},\"client_addr\":{},\"created_at\":{},\"digest\":{},\"envelope_media_type\":{},\
         \"envelope_sha256\":\"{}\",\"envelope_size\":{},\"id\":{},\"identity\":{},\"media_type\":{},\
         \"profile\":{},\"profile_version\":{},\"repository\":{},\"size\":{},\"user_agent\":{}}}",
        serial,
        json_str(j.client_addr),
        json_str(&format_time(j.created_at)),
        json_str(j.digest),
        json_str(j.envelope_media_type),
        hex::encode(digest(&SHA256, j.envelope)),
        j.envelope.len(),
        json_str(j.id),
        json_str(j.identity),
        json_str(j.media_type),
        json_str(j.profile),
        j.profile_version,
        json_str(j.repository),
        j.size,
        json_str(j.user_agent),
    )
}

pub(crate) fn entry_from_row(r: &AnyRow) -> Result<AuditEntry, StoreError> {
    let seq: i64 = r.try_get(0)?;
    let data: String = r.try_get(5)?;
    Ok(AuditEntry {
        seq: u64::try_from(seq).unwrap_or(0),
        at: from_nanos(r.try_get(1)?)?,
        kind: r.try_get(2)?,
        actor: r.try_get(3)?,
        subject: r.try_get(4)?,
        // Data that is no longer JSON is kept as a string: its hash will not match.
        data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
        prev_hash: r.try_get(6)?,
        hash: r.try_get(7)?,
    })
}

fn checkpoint_from_row(r: &AnyRow) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        seq: u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
        hash: r.try_get(1)?,
        at: from_nanos(r.try_get(2)?)?,
        key_id: r.try_get(3)?,
        signature: r.try_get(4)?,
    })
}

/// Walks entries in order, checking the chain and remembering what the
/// job cross-check and the checkpoint check need.
struct Chain {
    report: AuditReport,
    next_seq: u64,
    prev_hash: String,
    /// seq → stored hash, for the seqs checkpoints refer to (all, when `None`).
    wanted: Option<HashSet<u64>>,
    hashes: HashMap<u64, String>,
    /// job id → (seq of its sign entry, SHA-256 of the canonical data).
    signs: HashMap<String, (u64, [u8; 32])>,
    revoked_jobs: HashSet<String>,
    revoked_digests: HashSet<String>,
    /// profile → earliest effective_from (unix nanos).
    revoked_profiles: HashMap<String, i128>,
    /// seq → what an API profile change (or delete) recorded.
    profile_changes: HashMap<u64, ProfileChange>,
    /// profile → seq of its last API change (or delete).
    last_profile_change: HashMap<String, u64>,
}

/// What a `profile.change` entry made through the API, or a
/// `profile.delete` entry, recorded.
struct ProfileChange {
    subject: String,
    deleted: bool,
    version: Option<i64>,
    definition_sha256: Option<String>,
}

fn sha(s: &str) -> [u8; 32] {
    let d = digest(&SHA256, s.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Chain {
    fn new(wanted: Option<HashSet<u64>>) -> Self {
        Chain {
            report: AuditReport {
                head_hash: ZERO_HASH.to_string(),
                ..AuditReport::default()
            },
            next_seq: 1,
            prev_hash: ZERO_HASH.to_string(),
            wanted,
            hashes: HashMap::new(),
            signs: HashMap::new(),
            revoked_jobs: HashSet::new(),
            revoked_digests: HashSet::new(),
            revoked_profiles: HashMap::new(),
            profile_changes: HashMap::new(),
            last_profile_change: HashMap::new(),
        }
    }

    fn problem(&mut self, seq: Option<u64>, job: Option<&str>, message: String) {
        self.report.problems.push(Problem {
            seq,
            job: job.map(str::to_string),
            message,
        });
    }

    fn entry(&mut self, e: &AuditEntry) {
        self.report.entries += 1;
        let seq = e.seq;
        if seq > self.next_seq {
            let msg = if seq - self.next_seq == 1 {
                format!(
                    "entry seq {} is missing (deleted?): the log jumps to seq {seq}",
                    self.next_seq
                )
            } else {
                format!(
                    "entries seq {}..={} are missing (deleted?): the log jumps to seq {seq}",
                    self.next_seq,
                    seq - 1
                )
            };
            self.problem(Some(self.next_seq), None, msg);
        } else if seq < self.next_seq {
            self.problem(
                Some(seq),
                None,
                format!(
                    "entry seq {seq} is out of order or duplicated (expected seq {})",
                    self.next_seq
                ),
            );
        }
        let data = canonical(&e.data);
        let computed = entry_hash(
            &e.prev_hash,
            seq,
            &format_time(e.at),
            &e.kind,
            &e.actor,
            &e.subject,
            &data,
        );
        if computed != e.hash {
            self.problem(
                Some(seq),
                None,
                format!(
                    "entry seq {seq} ({} by {:?}) does not match its hash: the entry was edited or moved",
                    e.kind, e.actor
                ),
            );
        }
        if e.prev_hash != self.prev_hash {
            self.problem(
                Some(seq),
                None,
                format!(
                    "entry seq {seq}: prev_hash does not match the hash of the entry before it{}: an entry was deleted, inserted or reordered",
                    if self.report.entries > 1 { format!(" (seq {})", self.report.head_seq) } else { " (the start of the log)".into() }
                ),
            );
        }
        self.prev_hash = e.hash.clone();
        self.next_seq = seq.saturating_add(1).max(self.next_seq);
        self.report.head_seq = seq;
        self.report.head_hash = e.hash.clone();
        if self.wanted.as_ref().is_none_or(|w| w.contains(&seq)) {
            self.hashes.insert(seq, e.hash.clone());
        }
        let str_field = |k: &str| e.data.get(k).and_then(Value::as_str).map(str::to_string);
        match e.kind.as_str() {
            "sign" => {
                if let Some((other, _)) = self.signs.insert(e.subject.clone(), (seq, sha(&data))) {
                    self.problem(
                        Some(seq),
                        Some(&e.subject),
                        format!(
                            "entry seq {seq} signs job {} again (first at seq {other})",
                            e.subject
                        ),
                    );
                }
            }
            "revoke.job" => {
                self.revoked_jobs.insert(e.subject.clone());
            }
            "revoke.digest" => {
                self.revoked_digests
                    .insert(str_field("digest").unwrap_or_else(|| e.subject.clone()));
            }
            "profile.change" | "profile.delete"
                if e.kind == "profile.delete" || e.data.get("definitionSha256").is_some() =>
            {
                self.profile_changes.insert(
                    seq,
                    ProfileChange {
                        subject: e.subject.clone(),
                        deleted: e.kind == "profile.delete",
                        version: e.data.get("version").and_then(Value::as_i64),
                        definition_sha256: str_field("definitionSha256"),
                    },
                );
                self.last_profile_change.insert(e.subject.clone(), seq);
            }
            "revoke.profile" => {
                let profile = str_field("profile").unwrap_or_else(|| e.subject.clone());
                let from = str_field("effective_from")
                    .and_then(|s| super::parse_time(&s))
                    .map(|t| t.unix_timestamp_nanos())
                    .unwrap_or(i128::MAX);
                let slot = self.revoked_profiles.entry(profile).or_insert(i128::MAX);
                *slot = (*slot).min(from);
            }
            _ => {}
        }
    }

    fn checkpoints(&mut self, cps: &[Checkpoint], keys: &[(String, Vec<u8>)]) {
        for cp in cps {
            self.report.checkpoints += 1;
            let seq = cp.seq;
            if seq > self.report.head_seq {
                self.problem(
                    Some(seq),
                    None,
                    format!(
                        "checkpoint at seq {seq} but the log ends at seq {}: the log was truncated (entries after seq {} deleted)",
                        self.report.head_seq, self.report.head_seq
                    ),
                );
            } else {
                match self.hashes.get(&seq) {
                    None => self.problem(
                        Some(seq),
                        None,
                        format!("checkpoint at seq {seq} refers to an entry that is missing"),
                    ),
                    Some(h) if *h != cp.hash => self.problem(
                        Some(seq),
                        None,
                        format!(
                            "checkpoint at seq {seq} signed hash {} but the entry's hash is {h}: the log up to seq {seq} was rewritten",
                            cp.hash
                        ),
                    ),
                    Some(_) => {}
                }
            }
            match keys.iter().find(|(id, _)| *id == cp.key_id) {
                None => self.problem(
                    Some(seq),
                    None,
                    format!(
                        "checkpoint at seq {seq} is signed by key {:?}, which is not among the checkpoint keys given",
                        cp.key_id
                    ),
                ),
                Some((_, spki)) => {
                    let ok = notary::algorithm::KeySpec::from_spki_der(spki)
                        .and_then(|spec| spec.signature_algorithm())
                        .and_then(|alg| notary::crypto::verify(alg, spki, &cp.message(), &cp.signature));
                    if let Err(e) = ok {
                        self.problem(
                            Some(seq),
                            None,
                            format!("checkpoint at seq {seq}: signature by key {:?} does not verify: {e}", cp.key_id),
                        );
                    }
                }
            }
        }
    }
}

impl Chain {
    /// Checks one row of the `profiles` table against the audit entry of
    /// its last change.
    fn profile_row(&mut self, name: &str, version: i64, definition: &str, deleted: bool, seq: u64) {
        let last = self.last_profile_change.remove(name);
        let Some(change) = self.profile_changes.get(&seq) else {
            self.problem(
                Some(seq),
                None,
                format!(
                    "profile {name:?} refers to audit entry seq {seq}, which records no change of a profile made through the API: the row was added or edited"
                ),
            );
            return;
        };
        let sha = super::definition_sha256(definition);
        let mut differs = Vec::new();
        if change.subject != name {
            differs.push("name");
        }
        if change.version != Some(version) {
            differs.push("version");
        }
        if change.definition_sha256.as_deref() != Some(sha.as_str()) {
            differs.push("definition");
        }
        if change.deleted != deleted {
            differs.push("deleted_at");
        }
        if !differs.is_empty() {
            self.problem(
                Some(seq),
                None,
                format!(
                    "profile {name:?} differs from its audit entry (seq {seq}) in: {} — the row was edited",
                    differs.join(", ")
                ),
            );
        } else if let Some(last) = last.filter(|l| *l != seq) {
            self.problem(
                Some(seq),
                None,
                format!(
                    "profile {name:?} is at its change of audit entry seq {seq}, but it was changed again at seq {last}: the row was rolled back"
                ),
            );
        }
    }
}

impl Store {
    /// Signs the current head and stores the checkpoint, unless the log is
    /// empty or the head is already checkpointed (then `None`).
    pub async fn checkpoint(
        &self,
        signer: &dyn notary::crypto::Signer,
        key_id: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let (seq, hash) = self.head().await?;
        if seq == 0 {
            return Ok(None);
        }
        let exists = sqlx::query("SELECT 1 FROM checkpoints WHERE seq = $1")
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .fetch_optional(self.read_pool())
            .await?
            .is_some();
        if exists {
            return Ok(None);
        }
        let at = super::from_nanos(super::now_nanos())?;
        let signature = signer
            .sign(&checkpoint_message(seq, &hash, at))
            .map_err(|e| StoreError::Invalid(format!("cannot sign the audit checkpoint: {e}")))?;
        let cp = Checkpoint {
            seq,
            hash,
            at,
            key_id: key_id.to_string(),
            signature,
        };
        Ok(self.send_checkpoint(cp.clone()).await?.then_some(cp))
    }

    /// Every stored checkpoint, by seq.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query("SELECT seq, hash, at, key_id, signature FROM checkpoints ORDER BY seq")
            .fetch_all(self.read_pool())
            .await?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    /// Checks the whole log: the chain, every checkpoint (against
    /// `checkpoint_keys`: key id and SPKI DER), every job row against its
    /// `sign` entry and every row of a profile made through the API against
    /// the entry of its last change. `Ok` with an empty `problems` means intact.
    pub async fn verify_audit(
        &self,
        checkpoint_keys: &[(String, Vec<u8>)],
    ) -> Result<AuditReport, StoreError> {
        // One read transaction, so the checkpoints, entries and jobs are one
        // snapshot even while the service keeps writing.
        let mut tx = match self.backend() {
            super::Backend::Sqlite => self.read_pool().begin().await?,
            super::Backend::Postgres => {
                self.read_pool()
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?
            }
        };
        let cps = sqlx::query("SELECT seq, hash, at, key_id, signature FROM checkpoints ORDER BY seq")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(checkpoint_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let mut chain = Chain::new(Some(cps.iter().map(|c| c.seq).collect()));
        {
            let sql = format!("SELECT {ENTRY_COLUMNS} FROM audit ORDER BY seq");
            let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                chain.entry(&entry_from_row(&row)?);
            }
        }
        chain.checkpoints(&cps, checkpoint_keys);
        let head_seq = chain.report.head_seq;

        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY audit_seq");
        let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(&mut *tx);
        let mut edited: Vec<(super::Job, u64)> = Vec::new();
        while let Some(row) = rows.try_next().await? {
            let job = job_from_row(&row)?;
            chain.report.jobs += 1;
            let id = job.id.clone();
            match chain.signs.remove(&id) {
                None => {
                    let why = if job.audit_seq > head_seq {
                        format!(
                            "job {id} refers to audit entry seq {} beyond the end of the log (seq {head_seq}): the log was truncated",
                            job.audit_seq
                        )
                    } else {
                        format!(
                            "job {id} has no sign entry in the audit log: the row was added, or its entry (seq {}) removed",
                            job.audit_seq
                        )
                    };
                    chain.problem(Some(job.audit_seq), Some(&id), why);
                }
                Some((seq, h)) => {
                    if seq != job.audit_seq {
                        chain.problem(
                            Some(seq),
                            Some(&id),
                            format!(
                                "job {id} says its sign entry is seq {} but it is seq {seq}",
                                job.audit_seq
                            ),
                        );
                    }
                    if sha(&job_data_canonical(&(&job).into())) != h {
                        edited.push((job.clone(), seq));
                    }
                }
            }
            if let Some(_at) = job.revoked_at {
                let justified = chain.revoked_jobs.contains(&id)
                    || chain.revoked_digests.contains(&job.digest)
                    || chain
                        .revoked_profiles
                        .get(&job.profile)
                        .is_some_and(|from| *from <= job.created_at.unix_timestamp_nanos());
                if !justified {
                    chain.problem(
                        Some(job.audit_seq),
                        Some(&id),
                        format!(
                            "job {id} is revoked but no revoke.job, revoke.digest or revoke.profile entry in the log justifies it"
                        ),
                    );
                }
            }
        }
        drop(rows);
        let rows = sqlx::query(
            "SELECT name, version, definition, deleted_at, audit_seq FROM profiles ORDER BY name",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            chain.report.profiles += 1;
            let name: String = row.try_get(0)?;
            let version: i64 = row.try_get(1)?;
            let definition: String = row.try_get(2)?;
            let deleted = row.try_get::<Option<i64>, _>(3)?.is_some();
            let seq = u64::try_from(row.try_get::<i64, _>(4)?).unwrap_or(0);
            chain.profile_row(&name, version, &definition, deleted, seq);
        }
        let mut gone: Vec<(u64, String)> = chain
            .last_profile_change
            .drain()
            .map(|(name, seq)| (seq, name))
            .collect();
        gone.sort();
        for (seq, name) in gone {
            chain.problem(
                Some(seq),
                None,
                format!(
                    "profile {name:?} was changed through the API (audit entry seq {seq}) but is not in the profiles table: the row was deleted"
                ),
            );
        }
        tx.rollback().await?;
        for (job, seq) in edited {
            let fields = match self.audit_entries(seq - 1, 1).await?.into_iter().next() {
                Some(e) if e.seq == seq => {
                    let row = job_data(&(&job).into());
                    let mut diff: Vec<String> = Vec::new();
                    if let (Some(a), Some(b)) = (row.as_object(), e.data.as_object()) {
                        for (k, v) in a {
                            if b.get(k) != Some(v) {
                                diff.push(k.clone());
                            }
                        }
                        for k in b.keys() {
                            if !a.contains_key(k) {
                                diff.push(k.clone());
                            }
                        }
                    }
                    diff.join(", ")
                }
                _ => "?".into(),
            };
            chain.problem(
                Some(seq),
                Some(&job.id),
                format!(
                    "job {} differs from its sign entry (seq {seq}) in: {fields} — the job row was edited",
                    job.id
                ),
            );
        }
        let mut missing: Vec<(u64, String)> = chain.signs.drain().map(|(id, (seq, _))| (seq, id)).collect();
        missing.sort();
        for (seq, id) in missing {
            chain.problem(
                Some(seq),
                Some(&id),
                format!(
                    "sign entry seq {seq} names job {id}, which is not in the jobs table: the row was deleted"
                ),
            );
        }
        Ok(chain.report)
    }

    /// Writes the log as JSON lines (every entry, then every checkpoint);
    /// returns the number of entries written.
    pub async fn export_audit(&self, out: &mut (impl std::io::Write + Send)) -> Result<u64, StoreError> {
        let io = |e: std::io::Error| StoreError::Io(e.to_string());
        let cps = self.checkpoints().await?;
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM audit ORDER BY seq");
        let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(self.read_pool());
        let mut n = 0u64;
        while let Some(row) = rows.try_next().await? {
            let e = entry_from_row(&row)?;
            let line = serde_json::to_string(&e).map_err(|e| StoreError::Io(e.to_string()))?;
            writeln!(out, "{line}").map_err(io)?;
            n += 1;
        }
        for cp in cps {
            let line = serde_json::to_string(&serde_json::json!({ "checkpoint": cp }))
                .map_err(|e| StoreError::Io(e.to_string()))?;
            writeln!(out, "{line}").map_err(io)?;
        }
        out.flush().map_err(io)?;
        Ok(n)
    }
}

/// Checks an export ([`Store::export_audit`]): the chain and every
/// checkpoint; there is no job table to cross-check. Lines that are not
/// entries or checkpoints are problems, not errors; only reading fails.
pub fn verify_export(
    lines: impl std::io::BufRead,
    checkpoint_keys: &[(String, Vec<u8>)],
) -> Result<AuditReport, StoreError> {
    let mut chain = Chain::new(None);
    let mut cps = Vec::new();
    for (i, line) in lines.lines().enumerate() {
        let line = line.map_err(|e| StoreError::Io(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                chain.problem(None, None, format!("line {}: not JSON: {e}", i + 1));
                continue;
            }
        };
        if let Some(cp) = v.get("checkpoint") {
            match serde_json::from_value::<Checkpoint>(cp.clone()) {
                Ok(cp) => cps.push(cp),
                Err(e) => chain.problem(None, None, format!("line {}: not a checkpoint: {e}", i + 1)),
            }
        } else {
            match serde_json::from_value::<AuditEntry>(v) {
                Ok(e) => chain.entry(&e),
                Err(e) => chain.problem(None, None, format!("line {}: not an audit entry: {e}", i + 1)),
            }
        }
    }
    chain.checkpoints(&cps, checkpoint_keys);
    Ok(chain.report)
}
