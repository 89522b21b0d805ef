//! The timestamp error type, worded as tspclient-go words it.

/// An RFC 3161 timestamp token could not be parsed, read or verified.
///
/// The texts are tspclient-go's (`cms: syntax error: …`, `invalid TSTInfo: …`,
/// `failed to verify signed token: …`), so notation's messages come out the
/// same when the verifier adds its step prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The bytes are not a well-formed CMS SignedData (BER/DER, versions, certificates).
    #[error("cms: syntax error: {0}")]
    Syntax(String),
    /// The ContentInfo does not hold a SignedData.
    #[error("cms: content type is not signed-data")]
    NotSignedData,
    /// The SignedData encapsulates something other than a TSTInfo; the dotted OID.
    #[error("unexpected content type: {0}. Expected to be id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4)")]
    UnexpectedContentType(String),
    /// The encapsulated TSTInfo does not decode.
    #[error("cannot unmarshal TSTInfo from timestamp token: {0}")]
    TstInfoSyntax(String),
    /// The TSTInfo decodes but is unacceptable (version, hash algorithm, imprint).
    #[error("invalid TSTInfo: {0}")]
    InvalidTstInfo(String),
    /// The token's signature, signing certificate or TSA chain does not verify.
    #[error("failed to verify signed token: {0}")]
    Verification(String),
    /// A TimeStampResp is malformed or does not answer the request.
    #[error("invalid timestamping response: {0}")]
    InvalidResponse(String),
    /// A TimeStampReq could not be built.
    #[error("malformed timestamping request: {0}")]
    MalformedRequest(String),
}
