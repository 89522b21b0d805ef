//! Storage: SQLite (WAL) or PostgreSQL; jobs, tokens, revocations and the hash-chained audit log.
