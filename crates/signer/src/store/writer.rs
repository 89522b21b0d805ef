//! The one writer task: group commit.
//!
//! Callers queue writes ([`super::Store::submit`]); the writer takes
//! whatever is queued, up to [`MAX_BATCH`], and applies it in one
//! transaction: (PostgreSQL: `pg_advisory_xact_lock` first, so replicas
//! serialise on one chain) read the chain head, apply each write and append
//! its audit entry, COMMIT — and only then answers each caller. A write that
//! is refused (not found, conflict) changes nothing and does not disturb the
//! others in its batch: every check happens before the write's first change.
//! Should a statement fail unexpectedly, the batch is rolled back and each
//! write retried in a transaction of its own, so one bad write fails alone.

use std::collections::HashSet;

use serde_json::{Value, json};
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Connection, Row};
use tokio::sync::{mpsc, oneshot};

use super::{
    Backend, NewJob, Receipt, StoreError, Write,
    audit::{self, Checkpoint, JobView, RESERVED_KINDS},
    format_nanos, nanos, now_nanos,
};

/// The most writes one transaction holds.
pub const MAX_BATCH: usize = 512;

/// How many writes may wait for the writer before `submit` waits to queue.
pub(crate) const QUEUE: usize = 8192;

/// Advisory lock key serialising audit appends across replicas (PostgreSQL).
pub const AUDIT_LOCK: i64 = 0x5349_474E_4554_0001;

pub(crate) enum Msg {
    Write(Write, oneshot::Sender<Result<Receipt, StoreError>>),
    Checkpoint(Checkpoint, oneshot::Sender<Result<bool, StoreError>>),
    Close(oneshot::Sender<()>),
}

enum Item {
    Write(Write, oneshot::Sender<Result<Receipt, StoreError>>),
    Checkpoint(Checkpoint, oneshot::Sender<Result<bool, StoreError>>),
}

enum Reply {
    Receipt(Receipt),
    Inserted(bool),
}

impl Item {
    fn answer(self, r: Result<Reply, StoreError>) {
        match self {
            Item::Write(_, tx) => {
                let _ = tx.send(r.and_then(|r| match r {
                    Reply::Receipt(r) => Ok(r),
                    Reply::Inserted(_) => Err(StoreError::Database("internal: wrong reply".into())),
                }));
            }
            Item::Checkpoint(_, tx) => {
                let _ = tx.send(r.and_then(|r| match r {
                    Reply::Inserted(b) => Ok(b),
                    Reply::Receipt(_) => Err(StoreError::Database("internal: wrong reply".into())),
                }));
            }
        }
    }
}

/// The writer loop; ends when every [`super::Store`] is gone or on close.
pub(crate) async fn run(pool: AnyPool, backend: Backend, mut rx: mpsc::Receiver<Msg>) {
    let mut closing: Vec<oneshot::Sender<()>> = Vec::new();
    let mut batch: Vec<Item> = Vec::with_capacity(MAX_BATCH);
    loop {
        let Some(first) = rx.recv().await else { break };
        let mut take = |m: Msg, batch: &mut Vec<Item>, rx: &mut mpsc::Receiver<Msg>| match m {
            Msg::Write(w, tx) => batch.push(Item::Write(w, tx)),
            Msg::Checkpoint(c, tx) => batch.push(Item::Checkpoint(c, tx)),
            Msg::Close(ack) => {
                // Refuse new writes; the ones already queued are still applied.
                rx.close();
                closing.push(ack);
            }
        };
        take(first, &mut batch, &mut rx);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => take(m, &mut batch, &mut rx),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            commit_batch(&pool, backend, &mut batch).await;
        }
    }
    pool.close().await;
    for ack in closing {
        let _ = ack.send(());
    }
}

async fn commit_batch(pool: &AnyPool, backend: Backend, batch: &mut Vec<Item>) {
    let started = std::time::Instant::now();
    let writes = batch.len();
    match apply_all(pool, backend, batch).await {
        Ok(replies) => {
            tracing::trace!(writes, elapsed = ?started.elapsed(), "store: batch committed");
            for (item, r) in batch.drain(..).zip(replies) {
                item.answer(r);
            }
        }
        Err(e) if batch.len() > 1 => {
            tracing::warn!(error = %e, writes = batch.len(), "store: batch failed; retrying its writes one by one");
            for item in batch.drain(..) {
                let one = [item];
                let r = match apply_all(pool, backend, &one).await {
                    Ok(mut replies) => replies
                        .pop()
                        .unwrap_or(Err(StoreError::Database("no reply".into()))),
                    Err(e) => Err(e.into()),
                };
                let [item] = one;
                item.answer(r);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "store: write failed");
            for item in batch.drain(..) {
                item.answer(Err(StoreError::Database(e.to_string())));
            }
        }
    }
}

/// The chain head inside the current transaction.
pub(super) struct Head {
    pub(super) seq: i64,
    hash: String,
}

/// Applies `items` in one transaction; the outer error means nothing was committed.
async fn apply_all(
    pool: &AnyPool,
    backend: Backend,
    items: &[Item],
) -> Result<Vec<Result<Reply, StoreError>>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut tx = match backend {
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => conn.begin().await?,
    };
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS l")
            .bind(AUDIT_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    let mut head = match sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *tx)
        .await?
    {
        Some(r) => Head {
            seq: r.try_get(0)?,
            hash: r.try_get(1)?,
        },
        None => Head {
            seq: 0,
            hash: audit::ZERO_HASH.to_string(),
        },
    };
    let mut replies = Vec::with_capacity(items.len());
    let mut i = 0;
    while i < items.len() {
        // A run of jobs is inserted with a few multi-row statements.
        let run: Vec<&NewJob> = items[i..]
            .iter()
            .map_while(|item| match item {
                Item::Write(Write::Job(job), _) => Some(job),
                _ => None,
            })
            .collect();
        if !run.is_empty() {
            i += run.len();
            let done = insert_jobs(&mut tx, &mut head, &run).await?;
            replies.extend(done.into_iter().map(|r| r.map(Reply::Receipt)));
            continue;
        }
        let r = match &items[i] {
            Item::Write(w, _) => apply(&mut tx, &mut head, w).await?.map(Reply::Receipt),
            Item::Checkpoint(cp, _) => insert_checkpoint(&mut tx, cp).await?.map(Reply::Inserted),
        };
        replies.push(r);
        i += 1;
    }
    tx.commit().await?;
    Ok(replies)
}

async fn insert_checkpoint(
    tx: &mut AnyConnection,
    cp: &Checkpoint,
) -> Result<Result<bool, StoreError>, sqlx::Error> {
    let (Ok(seq), Ok(at)) = (i64::try_from(cp.seq), nanos(cp.at)) else {
        return Ok(Err(StoreError::Invalid("checkpoint out of range".into())));
    };
    let done = sqlx::query(
        "INSERT INTO checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
    )
    .bind(seq)
    .bind(cp.hash.as_str())
    .bind(at)
    .bind(cp.key_id.as_str())
    .bind(cp.signature.as_slice())
    .execute(&mut *tx)
    .await?;
    Ok(Ok(done.rows_affected() == 1))
}

/// Rows per multi-row INSERT (15 or 8 parameters a row: far below SQLite's
/// 32766 and PostgreSQL's 65535 bind parameters).
const ROWS_PER_INSERT: usize = 128;

/// Splits `items` into chunks whose lengths are powers of two (at most
/// `max`, itself a power of two), largest first: a batch of 63 goes in as
/// 32 + 16 + 8 + 4 + 2 + 1. Multi-row statements then come in a handful of
/// shapes that stay in the driver's prepared-statement cache, instead of
/// one new statement (parsed and planned again) per batch size.
fn pow2_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut n = max.max(1);
        while n > rest.len() {
            n /= 2;
        }
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

/// `($1, $2, …), (…), …` for `rows` rows of `cols` parameters.
fn values(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// An audit entry ready to insert.
struct Entry {
    seq: i64,
    at: i64,
    kind: String,
    actor: String,
    subject: String,
    data: String,
    prev_hash: String,
    hash: String,
}

/// Chains an entry after `head` (which moves on); nothing is written yet.
fn chain(
    head: &mut Head,
    at: i64,
    kind: &str,
    actor: &str,
    subject: &str,
    data: String,
) -> Result<Entry, StoreError> {
    let seq = head.seq + 1;
    let hash = audit::entry_hash(
        &head.hash,
        u64::try_from(seq).unwrap_or(0),
        &format_nanos(at)?,
        kind,
        actor,
        subject,
        &data,
    );
    let prev_hash = std::mem::replace(&mut head.hash, hash.clone());
    head.seq = seq;
    Ok(Entry {
        seq,
        at,
        kind: kind.to_string(),
        actor: actor.to_string(),
        subject: subject.to_string(),
        data,
        prev_hash,
        hash,
    })
}

async fn insert_entries(tx: &mut AnyConnection, entries: &[Entry]) -> Result<(), sqlx::Error> {
    for chunk in pow2_chunks(entries, ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO audit (seq, at, kind, actor, subject, data, prev_hash, hash) VALUES {}",
            values(chunk.len(), 8)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for e in chunk {
            q = q
                .bind(e.seq)
                .bind(e.at)
                .bind(e.kind.as_str())
                .bind(e.actor.as_str())
                .bind(e.subject.as_str())
                .bind(e.data.as_str())
                .bind(e.prev_hash.as_str())
                .bind(e.hash.as_str());
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Inserts a run of jobs with their `sign` entries: one look-up of the ids
/// already taken, multi-row INSERTs, and one UPDATE applying the revocation
/// rules recorded earlier to the new rows.
async fn insert_jobs(
    tx: &mut AnyConnection,
    head: &mut Head,
    jobs: &[&NewJob],
) -> Result<Vec<Result<Receipt, StoreError>>, sqlx::Error> {
    let now = now_nanos();
    let mut taken: HashSet<String> = HashSet::new();
    for chunk in pow2_chunks(jobs, ROWS_PER_INSERT) {
        let sql = format!("SELECT id FROM jobs WHERE id IN {}", values(1, chunk.len()));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for j in chunk {
            q = q.bind(j.id.as_str());
        }
        for row in q.fetch_all(&mut *tx).await? {
            taken.insert(row.try_get(0)?);
        }
    }
    struct Ready<'a> {
        job: &'a NewJob,
        created: i64,
        serial: Option<String>,
        seq: i64,
    }
    let mut results = Vec::with_capacity(jobs.len());
    let mut ready: Vec<Ready<'_>> = Vec::with_capacity(jobs.len());
    let mut entries: Vec<Entry> = Vec::with_capacity(jobs.len());
    for &job in jobs {
        let created = match nanos(job.created_at) {
            Ok(n) => n,
            Err(e) => {
                results.push(Err(e));
                continue;
            }
        };
        if !taken.insert(job.id.clone()) {
            results.push(Err(StoreError::Conflict(format!(
                "a job with id {} already exists",
                job.id
            ))));
            continue;
        }
        let serial = job.cert_serial.as_deref().map(str::to_ascii_lowercase);
        let mut view: JobView<'_> = job.into();
        view.cert_serial = serial.as_deref();
        let entry = match chain(
            head,
            now,
            "sign",
            &job.identity,
            &job.id,
            audit::job_data_canonical(&view),
        ) {
            Ok(e) => e,
            Err(e) => {
                results.push(Err(e));
                continue;
            }
        };
        results.push(Ok(Receipt {
            seq: u64::try_from(entry.seq).unwrap_or(0),
            affected: 1,
        }));
        ready.push(Ready {
            job,
            created,
            serial,
            seq: entry.seq,
        });
        entries.push(entry);
    }
    let (Some(first), Some(last)) = (ready.first().map(|r| r.seq), ready.last().map(|r| r.seq)) else {
        return Ok(results);
    };
    for chunk in pow2_chunks(&ready, ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO jobs (id, created_at, identity, profile, profile_version, repository, digest, media_type, \
             size, client_addr, user_agent, cert_serial, envelope_media_type, envelope, audit_seq) VALUES {}",
            values(chunk.len(), 15)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            let j = r.job;
            q = q
                .bind(j.id.as_str())
                .bind(r.created)
                .bind(j.identity.as_str())
                .bind(j.profile.as_str())
                .bind(j.profile_version)
                .bind(j.repository.as_str())
                .bind(j.digest.as_str())
                .bind(j.media_type.as_str())
                .bind(j.size)
                .bind(j.client_addr.as_str())
                .bind(j.user_agent.as_str())
                .bind(r.serial.as_deref())
                .bind(j.envelope_media_type.as_str())
                .bind(j.envelope.as_slice())
                .bind(r.seq);
        }
        q.execute(&mut *tx).await?;
    }
    insert_entries(tx, &entries).await?;
    // Revocation rules recorded earlier apply to jobs stored now.
    sqlx::query(
        "UPDATE jobs SET revoked_at = $1, revocation_reason = COALESCE( \
           (SELECT reason FROM revoked_digests d WHERE d.digest = jobs.digest), \
           (SELECT reason FROM profile_revocations p WHERE p.profile = jobs.profile AND p.effective_from <= jobs.created_at)) \
         WHERE audit_seq >= $2 AND audit_seq <= $3 AND ( \
           EXISTS (SELECT 1 FROM revoked_digests d WHERE d.digest = jobs.digest) OR \
           EXISTS (SELECT 1 FROM profile_revocations p WHERE p.profile = jobs.profile AND p.effective_from <= jobs.created_at))",
    )
    .bind(now)
    .bind(first)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    Ok(results)
}

/// Appends one audit entry after `head`.
pub(super) async fn append(
    tx: &mut AnyConnection,
    head: &mut Head,
    at: i64,
    kind: &str,
    actor: &str,
    subject: &str,
    data: &Value,
) -> Result<u64, sqlx::Error> {
    let entry = chain(head, at, kind, actor, subject, audit::canonical(data))
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    insert_entries(tx, std::slice::from_ref(&entry)).await?;
    Ok(u64::try_from(entry.seq).unwrap_or(0))
}

fn receipt(seq: u64, affected: u64) -> Result<Receipt, StoreError> {
    Ok(Receipt { seq, affected })
}

/// Applies one write: `Ok(Err(_))` is a refusal that changed nothing.
async fn apply(
    tx: &mut AnyConnection,
    head: &mut Head,
    w: &Write,
) -> Result<Result<Receipt, StoreError>, sqlx::Error> {
    let now = now_nanos();
    match w {
        Write::Job(job) => Ok(insert_jobs(tx, head, &[job])
            .await?
            .pop()
            .unwrap_or_else(|| Err(StoreError::Database("internal: no result".into())))),
        Write::Audit(ev) => {
            if RESERVED_KINDS.contains(&ev.kind.as_str()) {
                return Ok(Err(StoreError::Invalid(format!(
                    "audit kind {:?} is written only by its own operation",
                    ev.kind
                ))));
            }
            if ev.kind.is_empty() {
                return Ok(Err(StoreError::Invalid("an audit event needs a kind".into())));
            }
            let seq = append(tx, head, now, &ev.kind, &ev.actor, &ev.subject, &ev.data).await?;
            Ok(receipt(seq, 0))
        }
        Write::CreateToken { token, actor } => {
            let expires = match token.expires_at.map(nanos).transpose() {
                Ok(e) => e,
                Err(e) => return Ok(Err(e)),
            };
            let done = sqlx::query(
                "INSERT INTO tokens (name, identity, hash, created_at, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT DO NOTHING",
            )
            .bind(token.name.as_str())
            .bind(token.identity.as_str())
            .bind(token.hash.as_str())
            .bind(now)
            .bind(expires)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                let named = sqlx::query("SELECT 1 FROM tokens WHERE name = $1")
                    .bind(token.name.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                return Ok(Err(StoreError::Conflict(if named {
                    format!("a token named {:?} already exists", token.name)
                } else {
                    "a token with the same secret already exists".to_string()
                })));
            }
            let expires_s = match expires.map(format_nanos).transpose() {
                Ok(e) => e,
                Err(e) => return Ok(Err(e)),
            };
            let data = json!({
                "name": token.name,
                "identity": token.identity,
                "hash": token.hash,
                "expires_at": expires_s,
            });
            let seq = append(tx, head, now, "token.create", actor, &token.name, &data).await?;
            Ok(receipt(seq, 1))
        }
        Write::RevokeToken { name, actor } => {
            let done =
                sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(name.as_str())
                    .execute(&mut *tx)
                    .await?;
            if done.rows_affected() == 0 {
                return Ok(Err(StoreError::NotFound(format!(
                    "no active token named {name:?}"
                ))));
            }
            let seq = append(
                tx,
                head,
                now,
                "token.revoke",
                actor,
                name,
                &json!({ "name": name }),
            )
            .await?;
            Ok(receipt(seq, 1))
        }
        Write::RevokeJob { id, reason, actor } => {
            let exists = sqlx::query("SELECT revoked_at FROM jobs WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Ok(Err(StoreError::NotFound(format!("no job {id}"))));
            }
            let done = sqlx::query(
                "UPDATE jobs SET revoked_at = $1, revocation_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(reason.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            let affected = done.rows_affected();
            let data = json!({ "id": id, "reason": reason, "already_revoked": affected == 0 });
            let seq = append(tx, head, now, "revoke.job", actor, id, &data).await?;
            Ok(receipt(seq, affected))
        }
        Write::RevokeProfile {
            profile,
            effective_from,
            reason,
            actor,
        } => {
            let from = match nanos(*effective_from) {
                Ok(n) => n,
                Err(e) => return Ok(Err(e)),
            };
            let seq = head.seq + 1;
            // The rule keeps the earliest effective_from it was given.
            sqlx::query(
                "INSERT INTO profile_revocations (profile, effective_from, reason, revoked_at, audit_seq) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (profile) DO UPDATE SET effective_from = excluded.effective_from, reason = excluded.reason, \
                   revoked_at = excluded.revoked_at, audit_seq = excluded.audit_seq \
                 WHERE excluded.effective_from < profile_revocations.effective_from",
            )
            .bind(profile.as_str())
            .bind(from)
            .bind(reason.as_str())
            .bind(now)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(
                "UPDATE jobs SET revoked_at = $1, revocation_reason = $2 \
                 WHERE profile = $3 AND created_at >= $4 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(reason.as_str())
            .bind(profile.as_str())
            .bind(from)
            .execute(&mut *tx)
            .await?;
            let affected = done.rows_affected();
            let from_s = match format_nanos(from) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e)),
            };
            let data = json!({ "profile": profile, "effective_from": from_s, "reason": reason, "jobs_revoked": affected });
            let seq = append(tx, head, now, "revoke.profile", actor, profile, &data).await?;
            Ok(receipt(seq, affected))
        }
        Write::RevokeDigest {
            digest,
            reason,
            actor,
        } => {
            let seq = head.seq + 1;
            sqlx::query(
                "INSERT INTO revoked_digests (digest, revoked_at, reason, audit_seq) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (digest) DO NOTHING",
            )
            .bind(digest.as_str())
            .bind(now)
            .bind(reason.as_str())
            .bind(seq)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(
                "UPDATE jobs SET revoked_at = $1, revocation_reason = $2 WHERE digest = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(reason.as_str())
            .bind(digest.as_str())
            .execute(&mut *tx)
            .await?;
            let affected = done.rows_affected();
            let data = json!({ "digest": digest, "reason": reason, "jobs_revoked": affected });
            let seq = append(tx, head, now, "revoke.digest", actor, digest, &data).await?;
            Ok(receipt(seq, affected))
        }
        Write::PutProfile(p) => super::profiles::put(tx, head, now, p).await,
        Write::DeleteProfile { name, version, actor } => {
            super::profiles::delete(tx, head, now, name, *version, actor).await
        }
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::pow2_chunks;

    #[test]
    fn batches_split_into_power_of_two_chunks() {
        let items: Vec<u32> = (0..63).collect();
        let sizes: Vec<usize> = pow2_chunks(&items, 128).map(<[u32]>::len).collect();
        assert_eq!(sizes, [32, 16, 8, 4, 2, 1]);
        let items: Vec<u32> = (0..300).collect();
        let chunks: Vec<&[u32]> = pow2_chunks(&items, 128).collect();
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [128, 128, 32, 8, 4]
        );
        assert_eq!(chunks.concat(), items, "every item once, in order");
        assert_eq!(pow2_chunks::<u32>(&[], 128).count(), 0);
    }
}
