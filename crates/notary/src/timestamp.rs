//! Timestamp (stub: being written).
