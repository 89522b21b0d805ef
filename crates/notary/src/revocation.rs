//! Revocation (stub: being written).
