//! Trust stores (stub: being written).

/// A trust store could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustStoreError {}
