//! Versioned migrations, embedded in the binary.
//!
//! `crates/signer/migrations/{sqlite,postgres}/NNNN_name.sql` hold the same
//! schema for each database. [`migrate`] applies, in one transaction, every
//! migration whose version is not yet in `signet_migrations`; in PostgreSQL
//! under a transaction-scoped advisory lock, so replicas starting together
//! migrate once. A database whose recorded version is newer than this
//! binary knows is refused rather than used.

use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};

use super::{Backend, StoreError};

/// (version, name, SQLite text, PostgreSQL text).
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "profiles",
        include_str!("../../migrations/sqlite/0002_profiles.sql"),
        include_str!("../../migrations/postgres/0002_profiles.sql"),
    ),
];

/// Advisory lock key taken while migrating (PostgreSQL).
const MIGRATION_LOCK: i64 = 0x5349_474E_4554_0002;

/// The statements of a migration file: split at `;`, comment-only pieces dropped.
fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(';').map(str::trim).filter(|s| {
        s.lines()
            .map(str::trim)
            .any(|l| !l.is_empty() && !l.starts_with("--"))
    })
}

fn err(e: sqlx::Error) -> StoreError {
    StoreError::Migration(e.to_string())
}

/// Brings the schema up to date.
pub(super) async fn migrate(conn: &mut AnyConnection, backend: Backend) -> Result<(), StoreError> {
    let mut tx = match backend {
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await.map_err(err)?,
        Backend::Postgres => conn.begin().await.map_err(err)?,
    };
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS l")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS signet_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await
    .map_err(err)?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM signet_migrations ORDER BY version")
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()
        .map_err(err)?;
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if let Some(&newest) = applied.last()
        && newest > known
    {
        return Err(StoreError::Migration(format!(
            "the database schema is version {newest}, newer than this signet knows ({known}): upgrade signet"
        )));
    }
    for &(version, name, sqlite, postgres) in MIGRATIONS {
        if applied.contains(&version) {
            continue;
        }
        let sql = match backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        };
        for stmt in statements(sql) {
            sqlx::query(AssertSqlSafe(stmt))
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Migration(format!("migration {version:04}_{name}: {e}")))?;
        }
        sqlx::query("INSERT INTO signet_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(version)
            .bind(name)
            .bind(super::now_nanos())
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tracing::info!(version, name, "store: applied migration");
    }
    tx.commit().await.map_err(err)
}
