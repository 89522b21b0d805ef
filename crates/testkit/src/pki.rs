//! Generated test PKI (being written).
