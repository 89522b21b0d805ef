//! Key backends: PKCS#8 files (development) and PKCS#11 tokens (HSMs), behind `notary::crypto::Signer`.
