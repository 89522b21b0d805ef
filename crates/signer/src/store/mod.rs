//! Storage: SQLite (WAL) or PostgreSQL; jobs, tokens, revocations, profiles made through the API and the hash-chained audit log.
//!
//! [`Store::open`] takes `sqlite:///abs/path/signer.db`, `sqlite://relative.db`
//! (created when missing) or `postgres://…`, applies the embedded migrations
//! (`crates/signer/migrations/{sqlite,postgres}`, see [`schema`]) and starts
//! the one writer task ([`writer`]).
//!
//! Every change goes through [`Store::submit`]: the writer batches whatever
//! is queued (up to [`writer::MAX_BATCH`] writes) into one transaction and
//! answers each caller only after that transaction has committed, so an `Ok`
//! receipt means the write is durable (SQLite: WAL with `synchronous=FULL`).
//! Every write appends one entry to the audit log ([`audit`]), whose entries
//! are hash-chained and periodically signed ([`Store::checkpoint`]);
//! [`Store::verify_audit`] re-checks the chain, the checkpoints and every job
//! row against its `sign` entry.
//!
//! PostgreSQL serves several replicas behind a load balancer: each write
//! transaction first takes `pg_advisory_xact_lock`, then reads the chain
//! head, so the replicas append to one linear chain. Reads use a separate
//! pool (for SQLite, read-only connections).
//!
//! Times are stored as integer unix nanoseconds (UTC) in both databases, so
//! they round-trip exactly.

use std::sync::Arc;

use serde::Serialize;
use sqlx::{
    AnyPool, AssertSqlSafe, Row,
    any::{AnyPoolOptions, AnyRow},
};
use time::{OffsetDateTime, UtcOffset};
use tokio::sync::{Mutex, mpsc, oneshot};

pub mod audit;
pub mod profiles;
pub mod schema;
pub mod writer;

#[cfg(test)]
mod tests;

pub use audit::{AuditEntry, AuditReport, Checkpoint, Problem, verify_export};
pub use profiles::{ProfileWrite, ProfilesGeneration, StoredProfile, definition_sha256};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(String),
    /// The thing a write refers to does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The write clashes with what is stored (a name or id already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The request itself is not acceptable (bad URL, reserved audit kind, time out of range).
    #[error("invalid: {0}")]
    Invalid(String),
    /// Reading or writing an export failed.
    #[error("i/o error: {0}")]
    Io(String),
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (one instance).
    Sqlite,
    /// PostgreSQL (one or several replicas).
    Postgres,
}

/// One change to the store; each appends one audit entry.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert a job and its `sign` audit entry (whose data is the job's content).
    Job(NewJob),
    /// Any other event (`refusal`, `profile.change`, …).
    Audit(AuditEvent),
    /// Create an API token; audit `token.create` (with the hash, never the secret).
    CreateToken {
        /// The token.
        token: NewToken,
        /// Who created it.
        actor: String,
    },
    /// Revoke the active token `name`; audit `token.revoke`.
    RevokeToken {
        /// The token's name.
        name: String,
        /// Who revoked it.
        actor: String,
    },
    /// Revoke one job (its certificate); audit `revoke.job`. Idempotent.
    RevokeJob {
        /// The job id.
        id: String,
        /// Why.
        reason: String,
        /// Who revoked it.
        actor: String,
    },
    /// Revoke every job of `profile` created at or after `effective_from`,
    /// including jobs stored later; audit `revoke.profile`.
    RevokeProfile {
        /// The profile.
        profile: String,
        /// Jobs created at or after this instant are revoked.
        effective_from: OffsetDateTime,
        /// Why.
        reason: String,
        /// Who revoked it.
        actor: String,
    },
    /// Revoke a digest: every job that signed it, now and later; audit `revoke.digest`.
    RevokeDigest {
        /// The image digest (`sha256:…`).
        digest: String,
        /// Why.
        reason: String,
        /// Who revoked it.
        actor: String,
    },
    /// Create or replace a profile made through the API; audit
    /// `profile.change` (see [`profiles`]).
    PutProfile(ProfileWrite),
    /// Delete a profile made through the API: it signs nothing more, its
    /// row stays (CRL and OCSP keep answering); audit `profile.delete`.
    DeleteProfile {
        /// The profile.
        name: String,
        /// Its stored version (a conflict when it moved on meanwhile).
        version: i64,
        /// Who deleted it.
        actor: String,
    },
}

/// What a committed write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The seq of the write's audit entry.
    pub seq: u64,
    /// Rows the write changed: 1 for a job or token, jobs newly revoked for a revocation.
    pub affected: u64,
}

/// A generic audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// What happened: `refusal`, `profile.change`, … (not one of the kinds other writes make).
    pub kind: String,
    /// Who did it.
    pub actor: String,
    /// What it was done to.
    pub subject: String,
    /// Details.
    pub data: serde_json::Value,
}

/// A job to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Unique id (UUID v7).
    pub id: String,
    /// When the signature was made.
    pub created_at: OffsetDateTime,
    /// The authenticated caller.
    pub identity: String,
    /// The signing profile.
    pub profile: String,
    /// The profile's version at signing time.
    pub profile_version: i64,
    /// The image repository.
    pub repository: String,
    /// The signed manifest digest.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest's size.
    pub size: i64,
    /// The client's address.
    pub client_addr: String,
    /// The client's User-Agent.
    pub user_agent: String,
    /// Serial of the per-job certificate, lower-case hex, if one was issued.
    pub cert_serial: Option<String>,
    /// The envelope's media type (JWS or COSE).
    pub envelope_media_type: String,
    /// The signature envelope.
    pub envelope: Vec<u8>,
}

/// A stored job (camelCase in the API's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Unique id.
    pub id: String,
    /// When the signature was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The authenticated caller.
    pub identity: String,
    /// The signing profile.
    pub profile: String,
    /// The profile's version at signing time.
    pub profile_version: i64,
    /// The image repository.
    pub repository: String,
    /// The signed manifest digest.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest's size.
    pub size: i64,
    /// The client's address.
    pub client_addr: String,
    /// The client's User-Agent.
    pub user_agent: String,
    /// Serial of the per-job certificate, lower-case hex.
    pub cert_serial: Option<String>,
    /// The envelope's media type.
    pub envelope_media_type: String,
    /// The signature envelope (base64 in JSON).
    #[serde(serialize_with = "ser_base64")]
    pub envelope: Vec<u8>,
    /// When the job was revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Why.
    pub revocation_reason: Option<String>,
    /// The seq of the job's `sign` audit entry.
    pub audit_seq: u64,
}

fn ser_base64<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine;
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Which jobs [`Store::jobs`] returns (all conditions must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only this profile.
    pub profile: Option<String>,
    /// Only this caller identity.
    pub identity: Option<String>,
    /// Only this repository.
    pub repository: Option<String>,
    /// Only this digest.
    pub digest: Option<String>,
    /// Created at or after.
    pub since: Option<OffsetDateTime>,
    /// Created strictly before.
    pub until: Option<OffsetDateTime>,
    /// Only revoked (`Some(true)`) or only unrevoked (`Some(false)`) jobs.
    pub revoked: Option<bool>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Only jobs older than (listed after) this job id: the page cursor.
    pub before: Option<String>,
}

/// An API token as stored (its hash, never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    /// Unique name.
    pub name: String,
    /// The identity the token authenticates as.
    pub identity: String,
    /// Hash of the secret.
    pub hash: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Expires.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A token to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Unique name.
    pub name: String,
    /// The identity the token authenticates as.
    pub identity: String,
    /// Hash of the secret.
    pub hash: String,
    /// Expiry, if any.
    pub expires_at: Option<OffsetDateTime>,
}

/// The status of a per-job certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertState {
    /// Not revoked.
    Good,
    /// Revoked.
    Revoked {
        /// When.
        at: OffsetDateTime,
        /// Why.
        reason: String,
    },
}

/// A revoked per-job certificate, for a CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokedSerial {
    /// Serial, lower-case hex.
    pub serial_hex: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: String,
}

/// A revoked digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokedDigest {
    /// The digest.
    pub digest: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: String,
}

/// A profile's revocation rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileRevocation {
    /// The profile.
    pub profile: String,
    /// Jobs created at or after this are revoked.
    #[serde(with = "time::serde::rfc3339")]
    pub effective_from: OffsetDateTime,
    /// Why.
    pub reason: String,
    /// When the rule was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
}

/// The signing service's store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    read: AnyPool,
    tx: mpsc::Sender<writer::Msg>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    checkpointer: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(c) = &self.checkpointer {
            c.abort();
        }
    }
}

/// How often SQLite's WAL is copied back into the database file, off the
/// writer's path (the writer never checkpoints itself, so a commit never
/// waits for a checkpoint's I/O).
const WAL_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Copies the WAL into the database file every [`WAL_CHECKPOINT_EVERY`]
/// (PASSIVE: it never blocks the writer or readers).
async fn checkpoint_wal(pool: AnyPool) {
    let mut tick = tokio::time::interval(WAL_CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            tracing::debug!("WAL checkpoint: {e}");
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({:?})", self.inner.backend)
    }
}

/// `sqlite://…` with `mode=rwc` added unless a mode is given.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

impl Store {
    /// Opens (creating a SQLite file when missing) and migrates the database, and starts the writer.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, sqlite_url(url))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::Invalid(format!(
                "unsupported database URL {url:?}: use sqlite:///path/to/signer.db or postgres://…"
            )));
        };
        let write = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in [
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            // The checkpointer task does it, not commits.
                            "PRAGMA wal_autocheckpoint = 0",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", redact(&url))))?;
        {
            let mut conn = write.acquire().await?;
            schema::migrate(&mut conn, backend).await?;
        }
        let read = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .min_connections(0)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in ["PRAGMA busy_timeout = 10000", "PRAGMA query_only = ON"] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", redact(&url))))?;
        let checkpointer = if backend == Backend::Sqlite {
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(0)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await
                .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", redact(&url))))?;
            Some(tokio::spawn(checkpoint_wal(pool)))
        } else {
            None
        };
        let (tx, rx) = mpsc::channel(writer::QUEUE);
        let handle = tokio::spawn(writer::run(write, backend, rx));
        Ok(Store {
            inner: Arc::new(Inner {
                backend,
                read,
                tx,
                writer: Mutex::new(Some(handle)),
                checkpointer,
            }),
        })
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Finishes the queued writes, stops the writer and closes the pools.
    /// Later writes fail with [`StoreError::Closed`].
    pub async fn close(&self) {
        let (ack, done) = oneshot::channel();
        if self.inner.tx.send(writer::Msg::Close(ack)).await.is_ok() {
            let _ = done.await;
        }
        if let Some(handle) = self.inner.writer.lock().await.take() {
            let _ = handle.await;
        }
        if let Some(c) = &self.inner.checkpointer {
            c.abort();
        }
        self.inner.read.close().await;
    }

    /// Applies `write`; `Ok` only once the transaction holding it has committed.
    pub async fn submit(&self, write: Write) -> Result<Receipt, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .tx
            .send(writer::Msg::Write(write, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(crate) fn read_pool(&self) -> &AnyPool {
        &self.inner.read
    }

    /// One job.
    pub async fn job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.inner.read)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Jobs matching `filter`, newest first (by creation time, then id).
    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        enum Arg<'a> {
            Text(&'a str),
            Int(i64),
        }
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        for (col, val) in [
            ("profile", &filter.profile),
            ("identity", &filter.identity),
            ("repository", &filter.repository),
            ("digest", &filter.digest),
        ] {
            if let Some(v) = val {
                args.push(Arg::Text(v));
                clauses.push(format!("{col} = ${}", args.len()));
            }
        }
        if let Some(t) = filter.since {
            args.push(Arg::Int(nanos(t)?));
            clauses.push(format!("created_at >= ${}", args.len()));
        }
        if let Some(t) = filter.until {
            args.push(Arg::Int(nanos(t)?));
            clauses.push(format!("created_at < ${}", args.len()));
        }
        match filter.revoked {
            Some(true) => clauses.push("revoked_at IS NOT NULL".into()),
            Some(false) => clauses.push("revoked_at IS NULL".into()),
            None => {}
        }
        if let Some(before) = &filter.before {
            let row = sqlx::query("SELECT created_at FROM jobs WHERE id = $1")
                .bind(before.as_str())
                .fetch_optional(&self.inner.read)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("no job {before:?} (the page cursor)")))?;
            let at: i64 = row.try_get(0)?;
            args.push(Arg::Int(at));
            let a = args.len();
            args.push(Arg::Text(before));
            let b = args.len();
            clauses.push(format!(
                "(created_at < ${a} OR (created_at = ${a} AND id < ${b}))"
            ));
        }
        let limit = i64::from(filter.limit.unwrap_or(100).clamp(1, 1000));
        args.push(Arg::Int(limit));
        let where_ = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs {where_} ORDER BY created_at DESC, id DESC LIMIT ${}",
            args.len()
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in args {
            q = match a {
                Arg::Text(s) => q.bind(s.to_string()),
                Arg::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&self.inner.read).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// The token whose secret hashes to `hash` (revoked or expired ones too).
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<Token>, StoreError> {
        let row = sqlx::query(
            "SELECT name, identity, hash, created_at, expires_at, revoked_at FROM tokens WHERE hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.inner.read)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// Every token, by name.
    pub async fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, identity, hash, created_at, expires_at, revoked_at FROM tokens ORDER BY name",
        )
        .fetch_all(&self.inner.read)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// The status of the per-job certificate `serial_hex` of `profile`; `None` for an unknown serial.
    pub async fn cert_status(
        &self,
        profile: &str,
        serial_hex: &str,
    ) -> Result<Option<CertState>, StoreError> {
        let row = sqlx::query(
            "SELECT revoked_at, revocation_reason FROM jobs WHERE profile = $1 AND cert_serial = $2 LIMIT 1",
        )
        .bind(profile)
        .bind(serial_hex.to_ascii_lowercase())
        .fetch_optional(&self.inner.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(match row.try_get::<Option<i64>, _>(0)? {
            None => CertState::Good,
            Some(at) => CertState::Revoked {
                at: from_nanos(at)?,
                reason: row.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
            },
        }))
    }

    /// The revoked per-job certificates of `profile`, oldest revocation first.
    pub async fn revoked_certs(&self, profile: &str) -> Result<Vec<RevokedSerial>, StoreError> {
        let rows = sqlx::query(
            "SELECT cert_serial, revoked_at, revocation_reason FROM jobs \
             WHERE profile = $1 AND revoked_at IS NOT NULL AND cert_serial IS NOT NULL \
             ORDER BY revoked_at, cert_serial",
        )
        .bind(profile)
        .fetch_all(&self.inner.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RevokedSerial {
                    serial_hex: r.try_get(0)?,
                    revoked_at: from_nanos(r.try_get(1)?)?,
                    reason: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Every revoked digest.
    pub async fn revoked_digests(&self) -> Result<Vec<RevokedDigest>, StoreError> {
        let rows =
            sqlx::query("SELECT digest, revoked_at, reason FROM revoked_digests ORDER BY revoked_at, digest")
                .fetch_all(&self.inner.read)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(RevokedDigest {
                    digest: r.try_get(0)?,
                    revoked_at: from_nanos(r.try_get(1)?)?,
                    reason: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// The revocation rule of `profile`, if it was revoked.
    pub async fn profile_revocation(&self, profile: &str) -> Result<Option<ProfileRevocation>, StoreError> {
        let row = sqlx::query(
            "SELECT profile, effective_from, reason, revoked_at FROM profile_revocations WHERE profile = $1",
        )
        .bind(profile)
        .fetch_optional(&self.inner.read)
        .await?;
        row.as_ref().map(profile_revocation_row).transpose()
    }

    /// Every profile revocation, in one query (the service's revocation
    /// cache reads them all each refresh, however many profiles there are).
    pub async fn profile_revocations(&self) -> Result<Vec<ProfileRevocation>, StoreError> {
        let rows = sqlx::query("SELECT profile, effective_from, reason, revoked_at FROM profile_revocations")
            .fetch_all(&self.inner.read)
            .await?;
        rows.iter().map(profile_revocation_row).collect()
    }

    /// The last audit entry's seq and hash; `(0, 64 zeros)` when the log is empty.
    pub async fn head(&self) -> Result<(u64, String), StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.inner.read)
            .await?;
        match row {
            None => Ok((0, audit::ZERO_HASH.to_string())),
            Some(r) => Ok((u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0), r.try_get(1)?)),
        }
    }

    /// Audit entries with seq > `after`, in order, at most `limit` (≤ 1000).
    pub async fn audit_entries(&self, after: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
            audit::ENTRY_COLUMNS
        )))
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.inner.read)
        .await?;
        rows.iter().map(audit::entry_from_row).collect()
    }

    /// The newest audit entry of `kind` about `subject`, if any (a scan:
    /// for startup checks, not per request).
    pub async fn last_entry(&self, kind: &str, subject: &str) -> Result<Option<AuditEntry>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM audit WHERE kind = $1 AND subject = $2 ORDER BY seq DESC LIMIT 1",
            audit::ENTRY_COLUMNS
        )))
        .bind(kind)
        .bind(subject)
        .fetch_optional(&self.inner.read)
        .await?;
        row.as_ref().map(audit::entry_from_row).transpose()
    }

    pub(crate) async fn send_checkpoint(&self, cp: Checkpoint) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .tx
            .send(writer::Msg::Checkpoint(cp, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) const JOB_COLUMNS: &str = "id, created_at, identity, profile, profile_version, repository, digest, \
     media_type, size, client_addr, user_agent, cert_serial, envelope_media_type, envelope, revoked_at, \
     revocation_reason, audit_seq";

pub(crate) fn job_from_row(r: &AnyRow) -> Result<Job, StoreError> {
    Ok(Job {
        id: r.try_get(0)?,
        created_at: from_nanos(r.try_get(1)?)?,
        identity: r.try_get(2)?,
        profile: r.try_get(3)?,
        profile_version: r.try_get(4)?,
        repository: r.try_get(5)?,
        digest: r.try_get(6)?,
        media_type: r.try_get(7)?,
        size: r.try_get(8)?,
        client_addr: r.try_get(9)?,
        user_agent: r.try_get(10)?,
        cert_serial: r.try_get(11)?,
        envelope_media_type: r.try_get(12)?,
        envelope: r.try_get(13)?,
        revoked_at: r.try_get::<Option<i64>, _>(14)?.map(from_nanos).transpose()?,
        revocation_reason: r.try_get(15)?,
        audit_seq: u64::try_from(r.try_get::<i64, _>(16)?).unwrap_or(0),
    })
}

fn token_from_row(r: &AnyRow) -> Result<Token, StoreError> {
    Ok(Token {
        name: r.try_get(0)?,
        identity: r.try_get(1)?,
        hash: r.try_get(2)?,
        created_at: from_nanos(r.try_get(3)?)?,
        expires_at: r.try_get::<Option<i64>, _>(4)?.map(from_nanos).transpose()?,
        revoked_at: r.try_get::<Option<i64>, _>(5)?.map(from_nanos).transpose()?,
    })
}

/// Now, in unix nanoseconds.
pub(crate) fn now_nanos() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// `t` in unix nanoseconds (years 1678–2261).
pub(crate) fn nanos(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos())
        .map_err(|_| StoreError::Invalid(format!("time {t} is out of the storable range (1678–2261)")))
}

/// Unix nanoseconds as a UTC time.
pub(crate) fn from_nanos(n: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
        .map_err(|e| StoreError::Database(format!("stored time {n} is invalid: {e}")))
}

/// The RFC 3339 form used in audit data and hashes: UTC, exactly nine
/// fractional digits, `Z` (`2024-05-01T12:00:00.000000000Z`).
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    )
}

/// [`format_time`] of unix nanoseconds.
pub(crate) fn format_nanos(n: i64) -> Result<String, StoreError> {
    Ok(format_time(from_nanos(n)?))
}

/// Parses an RFC 3339 time.
pub(crate) fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Serde for times as [`format_time`] strings.
pub(crate) mod time_nanos {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_time(&s).ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s:?}")))
    }
}

fn profile_revocation_row(r: &sqlx::any::AnyRow) -> Result<ProfileRevocation, StoreError> {
    Ok(ProfileRevocation {
        profile: r.try_get(0)?,
        effective_from: from_nanos(r.try_get(1)?)?,
        reason: r.try_get(2)?,
        revoked_at: from_nanos(r.try_get(3)?)?,
    })
}
