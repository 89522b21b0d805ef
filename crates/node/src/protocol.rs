//! What the containerd verifier and the node agent say to each other over
//! the agent's Unix socket: one JSON object per line each way.

use serde::{Deserialize, Serialize};

/// A question: may this image be pulled?
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The image name containerd pulls (`registry/repository[:tag]`).
    pub name: String,
    /// The digest of what is pulled (manifest or index).
    pub digest: String,
    /// Its media type, when known.
    #[serde(default)]
    pub media_type: Option<String>,
}

/// The agent's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// Whether to allow the pull.
    pub allow: bool,
    /// Why, for the pull's error or the log.
    pub reason: String,
    /// The version of the config bundle the decision was made under.
    #[serde(default)]
    pub bundle_version: Option<u64>,
}

/// The longest request or response line read.
pub const MAX_LINE: usize = 64 * 1024;
