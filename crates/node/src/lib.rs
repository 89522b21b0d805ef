//! Signet on every node: the signed verifier config bundle ([`bundle`]), the
//! node agent that polls it and answers pull decisions ([`agent`]), and the
//! protocol the containerd image verifier speaks to it ([`protocol`]).
//!
//! ```text
//!   containerd ──exec──> signet-containerd-verifier ──unix socket──> signet serve node
//!                          (-name, -digest, stdin)                   ├─ bundle poller (https/file/oci,
//!                                                                    │   pinned root, rollback/freeze)
//!                                                                    └─ admission::Engine (cache, registry)
//! ```
#![warn(missing_docs)]

pub mod agent;
pub mod bundle;
pub mod fetcher;
pub mod protocol;
