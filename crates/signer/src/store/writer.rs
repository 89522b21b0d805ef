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

use serde_json::{Value, json};
use sqlx::{AnyConnection, AnyPool, Connection, Row};
use tokio::sync::{mpsc, oneshot};

use super::{
    Backend, Receipt, StoreError, Write,
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
    match apply_all(pool, backend, batch).await {
        Ok(replies) => {
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
struct Head {
    seq: i64,
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
    for item in items {
        let r = match item {
            Item::Write(w, _) => apply(&mut *tx, &mut head, w).await?.map(Reply::Receipt),
            Item::Checkpoint(cp, _) => insert_checkpoint(&mut *tx, cp).await?.map(Reply::Inserted),
        };
        replies.push(r);
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

/// Appends one audit entry after `head`.
async fn append(
    tx: &mut AnyConnection,
    head: &mut Head,
    at: i64,
    kind: &str,
    actor: &str,
    subject: &str,
    data: &Value,
) -> Result<u64, sqlx::Error> {
    let seq = head.seq + 1;
    let useq = u64::try_from(seq).unwrap_or(0);
    let data = audit::canonical(data);
    let at_s = format_nanos(at).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let hash = audit::entry_hash(&head.hash, useq, &at_s, kind, actor, subject, &data);
    sqlx::query(
        "INSERT INTO audit (seq, at, kind, actor, subject, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(seq)
    .bind(at)
    .bind(kind)
    .bind(actor)
    .bind(subject)
    .bind(data)
    .bind(head.hash.as_str())
    .bind(hash.as_str())
    .execute(&mut *tx)
    .await?;
    head.seq = seq;
    head.hash = hash;
    Ok(useq)
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
        Write::Job(job) => {
            let created = match nanos(job.created_at) {
                Ok(n) => n,
                Err(e) => return Ok(Err(e)),
            };
            let seq = head.seq + 1;
            // Revocation rules recorded earlier apply to jobs stored now.
            let done = sqlx::query(
                "INSERT INTO jobs (id, created_at, identity, profile, profile_version, repository, digest, media_type, \
                 size, client_addr, user_agent, cert_serial, envelope_media_type, envelope, revoked_at, revocation_reason, audit_seq) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                   CASE WHEN r.reason IS NULL THEN NULL ELSE $15 END, r.reason, $16 \
                 FROM (SELECT COALESCE( \
                     (SELECT reason FROM revoked_digests WHERE digest = $7), \
                     (SELECT reason FROM profile_revocations WHERE profile = $4 AND effective_from <= $2)) AS reason) AS r \
                 WHERE true ON CONFLICT (id) DO NOTHING",
            )
            .bind(job.id.as_str())
            .bind(created)
            .bind(job.identity.as_str())
            .bind(job.profile.as_str())
            .bind(job.profile_version)
            .bind(job.repository.as_str())
            .bind(job.digest.as_str())
            .bind(job.media_type.as_str())
            .bind(job.size)
            .bind(job.client_addr.as_str())
            .bind(job.user_agent.as_str())
            .bind(job.cert_serial.as_deref().map(str::to_ascii_lowercase))
            .bind(job.envelope_media_type.as_str())
            .bind(job.envelope.as_slice())
            .bind(now)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(Err(StoreError::Conflict(format!(
                    "a job with id {} already exists",
                    job.id
                ))));
            }
            let mut view: JobView<'_> = job.into();
            let serial = job.cert_serial.as_deref().map(str::to_ascii_lowercase);
            view.cert_serial = serial.as_deref();
            let data = audit::job_data(&view);
            let seq = append(tx, head, now, "sign", &job.identity, &job.id, &data).await?;
            Ok(receipt(seq, 1))
        }
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
    }
}
