-- Signet signer store, schema 1 (PostgreSQL). Times are integer unix nanoseconds (UTC).
-- Keep in step with ../sqlite/0001_init.sql: same tables, columns and meaning.
-- Statements are split at every semicolon: never write one inside a statement or comment.

-- The append-only, hash-chained audit log (see store::audit for the hash formula).
CREATE TABLE audit (
    seq        BIGINT PRIMARY KEY,       -- 1, 2, 3, … contiguous
    at         BIGINT NOT NULL,          -- unix nanoseconds
    kind       TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    data       TEXT    NOT NULL,          -- canonical JSON
    prev_hash  TEXT    NOT NULL,          -- hex SHA-256, 64 zeros for seq 1
    hash       TEXT    NOT NULL
);
CREATE INDEX audit_kind_subject ON audit (kind, subject);

-- Every signature the service made.
CREATE TABLE jobs (
    id                  TEXT    PRIMARY KEY,
    created_at          BIGINT NOT NULL,
    identity            TEXT    NOT NULL,
    profile             TEXT    NOT NULL,
    profile_version     BIGINT NOT NULL,
    repository          TEXT    NOT NULL,
    digest              TEXT    NOT NULL,
    media_type          TEXT    NOT NULL,
    size                BIGINT NOT NULL,
    client_addr         TEXT    NOT NULL,
    user_agent          TEXT    NOT NULL,
    cert_serial         TEXT,
    envelope_media_type TEXT    NOT NULL,
    envelope            BYTEA   NOT NULL,
    revoked_at          BIGINT,
    revocation_reason   TEXT,
    audit_seq           BIGINT NOT NULL   -- the "sign" audit entry
);
CREATE INDEX jobs_created ON jobs (created_at, id);
CREATE INDEX jobs_digest ON jobs (digest);
CREATE INDEX jobs_profile_serial ON jobs (profile, cert_serial);
CREATE INDEX jobs_identity ON jobs (identity, created_at);
CREATE INDEX jobs_repository ON jobs (repository, created_at);
CREATE INDEX jobs_revoked ON jobs (revoked_at);
CREATE INDEX jobs_audit_seq ON jobs (audit_seq);

-- API tokens: only their hash is stored.
CREATE TABLE tokens (
    name        TEXT    PRIMARY KEY,
    identity    TEXT    NOT NULL,
    hash        TEXT    NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);

-- Revocation rules that also apply to jobs stored after them.
CREATE TABLE revoked_digests (
    digest      TEXT    PRIMARY KEY,
    revoked_at  BIGINT NOT NULL,
    reason      TEXT    NOT NULL,
    audit_seq   BIGINT NOT NULL
);
CREATE TABLE profile_revocations (
    profile         TEXT    PRIMARY KEY,
    effective_from  BIGINT NOT NULL,
    reason          TEXT    NOT NULL,
    revoked_at      BIGINT NOT NULL,
    audit_seq       BIGINT NOT NULL
);

-- Signed audit checkpoints.
CREATE TABLE checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT    NOT NULL,
    at         BIGINT NOT NULL,
    key_id     TEXT    NOT NULL,
    signature  BYTEA   NOT NULL
);
