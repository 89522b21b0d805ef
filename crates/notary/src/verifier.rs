//! Verifier (stub: being written).
