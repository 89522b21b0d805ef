-- Signet signer store, schema 2 (SQLite): signing profiles made through the API.
-- Keep in step with ../postgres/0002_profiles.sql: same tables, columns and meaning.
-- Statements are split at every semicolon: never write one inside a statement or comment.

-- Profiles the configuration file defines are not stored here (the file is
-- authoritative for them). Rows are never removed: a deleted profile signs
-- nothing more, but its CRL and OCSP responder keep answering.
CREATE TABLE profiles (
    name        TEXT    PRIMARY KEY,
    version     INTEGER NOT NULL,          -- 1, 2, … each change adds one
    definition  TEXT    NOT NULL,          -- canonical JSON, the certificate chain inline
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER,
    audit_seq   INTEGER NOT NULL           -- the profile.change or profile.delete entry of the last change
);
