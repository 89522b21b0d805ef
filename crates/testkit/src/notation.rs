//! The reference CLI `notation`, installed by `./scripts/install-peers`.
//!
//! The interoperability tests run the real binary. It is looked up in
//! `$SIGNET_PEERS_BIN` (default `/var/tmp/signet/bin`); when it is missing
//! [`binary`] panics telling how to install it, so no test passes without it.

use std::path::PathBuf;

/// The notation version the peers script pins.
pub const VERSION: &str = "v1.3.2";

/// The directory the peer binaries are in: `$SIGNET_PEERS_BIN`, or
/// `/var/tmp/signet/bin`.
pub fn peers_bin() -> PathBuf {
    std::env::var_os("SIGNET_PEERS_BIN")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/var/tmp/signet/bin"), PathBuf::from)
}

/// The path of the `notation` binary; panics, naming the path tried and the
/// script that installs it, when it is not there.
pub fn binary() -> PathBuf {
    let path = peers_bin().join("notation");
    assert!(
        path.is_file(),
        "the reference CLI notation {VERSION} was not found at {} — run ./scripts/install-peers \
         (or point SIGNET_PEERS_BIN at the directory holding it)",
        path.display()
    );
    path
}
