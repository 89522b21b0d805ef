//! The service's PKI: per-job leaf certificates, CRLs, OCSP responses, RFC 3161 timestamps.
