//! Signing profiles made through the API, kept in the `profiles` table.
//!
//! A row holds the definition as canonical JSON (the certificate chain
//! inline as PEM, so nothing on disk can change it behind the log's back),
//! the version the service gave it, and the seq of the audit entry of its
//! last change: `profile.change` (its data carries `version` and
//! `definitionSha256`, the SHA-256 of the stored definition) or
//! `profile.delete`. [`super::Store::verify_audit`] checks every row
//! against that entry, as it checks jobs against their `sign` entries.
//!
//! Rows are never removed: deleting a profile sets `deleted_at` (it signs
//! nothing more, but its CRL and OCSP responder keep answering for the
//! certificates it issued).
//!
//! Versions only grow, per name, whatever defined the name before: a new
//! version is greater than the row's and than every `version` a
//! `profile.change` entry of that name recorded (a profile that moved from
//! the configuration file to the API goes on from the file's version).

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::Value;
use sqlx::{AnyConnection, Row, any::AnyRow};
use time::OffsetDateTime;

use super::{
    Receipt, Store, StoreError, from_nanos,
    writer::{Head, append},
};

/// A profile made through the API, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProfile {
    /// Its name.
    pub name: String,
    /// Its version (1, 2, … each change adds one).
    pub version: i64,
    /// The definition: canonical JSON of the profile as the API takes it,
    /// the chain inline (`certificateChainPem`), without `version`.
    pub definition: String,
    /// First created.
    pub created_at: OffsetDateTime,
    /// Last changed (or deleted).
    pub updated_at: OffsetDateTime,
    /// When it was deleted: it signs nothing more.
    pub deleted_at: Option<OffsetDateTime>,
    /// The audit entry of its last change.
    pub audit_seq: u64,
}

/// A create or replace of a profile made through the API
/// ([`super::Write::PutProfile`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileWrite {
    /// The profile.
    pub name: String,
    /// The new version: greater than every version the name had.
    pub version: i64,
    /// The stored version this replaces (`None`: there is no row yet);
    /// when the row moved on meanwhile, the write is refused (conflict).
    pub previous: Option<i64>,
    /// The definition ([`StoredProfile::definition`]).
    pub definition: String,
    /// The `profile.change` entry's data: the profile's fingerprint; the
    /// store adds `version` and `definitionSha256`.
    pub data: Value,
    /// Who made the change.
    pub actor: String,
}

/// What changes whenever a stored profile changes: the highest audit seq
/// of a row and the number of rows. Replicas compare it to decide whether
/// to re-read the profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfilesGeneration {
    /// The highest `audit_seq` of any row (0 when none).
    pub seq: i64,
    /// How many rows.
    pub rows: i64,
}

/// Hex SHA-256 of a stored definition (`definitionSha256` in audit data).
pub fn definition_sha256(definition: &str) -> String {
    hex::encode(digest(&SHA256, definition.as_bytes()))
}

const COLUMNS: &str = "name, version, definition, created_at, updated_at, deleted_at, audit_seq";

fn from_row(r: &AnyRow) -> Result<StoredProfile, StoreError> {
    Ok(StoredProfile {
        name: r.try_get(0)?,
        version: r.try_get(1)?,
        definition: r.try_get(2)?,
        created_at: from_nanos(r.try_get(3)?)?,
        updated_at: from_nanos(r.try_get(4)?)?,
        deleted_at: r.try_get::<Option<i64>, _>(5)?.map(from_nanos).transpose()?,
        audit_seq: u64::try_from(r.try_get::<i64, _>(6)?).unwrap_or(0),
    })
}

/// The largest `version` among the `profile.change` entries of `name`
/// (0 when there is none).
async fn audited_version(conn: &mut AnyConnection, name: &str) -> Result<i64, sqlx::Error> {
    let rows = sqlx::query("SELECT data FROM audit WHERE kind = 'profile.change' AND subject = $1")
        .bind(name)
        .fetch_all(&mut *conn)
        .await?;
    let mut max = 0;
    for r in rows {
        let data: String = r.try_get(0)?;
        let v = serde_json::from_str::<Value>(&data)
            .ok()
            .and_then(|d| d.get("version").and_then(Value::as_i64))
            .unwrap_or(0);
        max = max.max(v);
    }
    Ok(max)
}

impl Store {
    /// Every profile made through the API (deleted ones too), by name.
    pub async fn stored_profiles(&self) -> Result<Vec<StoredProfile>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM profiles ORDER BY name"
        )))
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The profile `name` made through the API, if there is one.
    pub async fn stored_profile(&self, name: &str) -> Result<Option<StoredProfile>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM profiles WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(self.read_pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The stored profiles' [`ProfilesGeneration`]: one cheap query.
    pub async fn profiles_generation(&self) -> Result<ProfilesGeneration, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(audit_seq), 0), COUNT(*) FROM profiles")
            .fetch_one(self.read_pool())
            .await?;
        Ok(ProfilesGeneration {
            seq: row.try_get(0)?,
            rows: row.try_get(1)?,
        })
    }

    /// The largest version profile `name` ever had, as the audit log
    /// records it (configuration file and API alike); 0 for a new name.
    pub async fn audited_profile_version(&self, name: &str) -> Result<i64, StoreError> {
        let mut conn = self.read_pool().acquire().await?;
        Ok(audited_version(&mut conn, name).await?)
    }

    /// Whether any job was signed with profile `name`.
    pub async fn profile_has_jobs(&self, name: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM jobs WHERE profile = $1 LIMIT 1")
            .bind(name)
            .fetch_optional(self.read_pool())
            .await?
            .is_some())
    }
}

/// Applies a [`ProfileWrite`]: `Ok(Err(_))` is a refusal that changed nothing.
pub(super) async fn put(
    tx: &mut AnyConnection,
    head: &mut Head,
    now: i64,
    w: &ProfileWrite,
) -> Result<Result<Receipt, StoreError>, sqlx::Error> {
    let current: Option<i64> = sqlx::query("SELECT version FROM profiles WHERE name = $1")
        .bind(w.name.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    if current != w.previous {
        return Ok(Err(StoreError::Conflict(format!(
            "profile {:?} changed meanwhile (it is now {}): read it again and retry",
            w.name,
            current.map_or_else(|| "gone".to_string(), |v| format!("version {v}"))
        ))));
    }
    let used = audited_version(tx, &w.name).await?.max(current.unwrap_or(0));
    if w.version <= used {
        return Ok(Err(StoreError::Conflict(format!(
            "profile {:?}: version {} was already used; the next is {}",
            w.name,
            w.version,
            used + 1
        ))));
    }
    let seq = head.seq + 1;
    sqlx::query(
        "INSERT INTO profiles (name, version, definition, created_at, updated_at, deleted_at, audit_seq) \
         VALUES ($1, $2, $3, $4, $4, NULL, $5) \
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, definition = excluded.definition, \
           updated_at = excluded.updated_at, deleted_at = NULL, audit_seq = excluded.audit_seq",
    )
    .bind(w.name.as_str())
    .bind(w.version)
    .bind(w.definition.as_str())
    .bind(now)
    .bind(seq)
    .execute(&mut *tx)
    .await?;
    let mut data = w.data.clone();
    if let Some(d) = data.as_object_mut() {
        d.insert("version".into(), w.version.into());
        d.insert("definitionSha256".into(), definition_sha256(&w.definition).into());
    }
    let seq = append(tx, head, now, "profile.change", &w.actor, &w.name, &data).await?;
    Ok(Ok(Receipt { seq, affected: 1 }))
}

/// Marks the profile `name` (at `version`) deleted: `Ok(Err(_))` is a
/// refusal that changed nothing.
pub(super) async fn delete(
    tx: &mut AnyConnection,
    head: &mut Head,
    now: i64,
    name: &str,
    version: i64,
    actor: &str,
) -> Result<Result<Receipt, StoreError>, sqlx::Error> {
    let row = sqlx::query("SELECT version, definition, deleted_at FROM profiles WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Ok(Err(StoreError::NotFound(format!(
            "no signing profile {name:?} made through the API"
        ))));
    };
    let (current, definition, deleted): (i64, String, Option<i64>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    if deleted.is_some() {
        return Ok(Err(StoreError::NotFound(format!(
            "signing profile {name:?} is already deleted"
        ))));
    }
    if current != version {
        return Ok(Err(StoreError::Conflict(format!(
            "profile {name:?} changed meanwhile (it is now version {current}): read it again and retry"
        ))));
    }
    let seq = head.seq + 1;
    sqlx::query("UPDATE profiles SET deleted_at = $1, updated_at = $1, audit_seq = $2 WHERE name = $3")
        .bind(now)
        .bind(seq)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let data = serde_json::json!({
        "version": version,
        "definitionSha256": definition_sha256(&definition),
    });
    let seq = append(tx, head, now, "profile.delete", actor, name, &data).await?;
    Ok(Ok(Receipt { seq, affected: 1 }))
}
