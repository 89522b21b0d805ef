-- Signet signer store, schema 2 (PostgreSQL): signing profiles made through the API.
-- Keep in step with ../sqlite/0002_profiles.sql: same tables, columns and meaning.
-- Statements are split at every semicolon: never write one inside a statement or comment.

-- Profiles the configuration file defines are not stored here (the file is
-- authoritative for them). Rows are never removed: a deleted profile signs
-- nothing more, but its CRL and OCSP responder keep answering.
CREATE TABLE profiles (
    name        TEXT    PRIMARY KEY,
    version     BIGINT  NOT NULL,          -- 1, 2, … each change adds one
    definition  TEXT    NOT NULL,          -- canonical JSON, the certificate chain inline
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    deleted_at  BIGINT,
    audit_seq   BIGINT  NOT NULL           -- the profile.change or profile.delete entry of the last change
);
