//! One module per subcommand.

pub mod audit;
pub mod blob;
pub mod bundle;
pub mod cert;
pub mod copy;
pub mod discover;
pub mod inspect;
pub mod key;
pub mod login;
pub mod ls;
pub mod plugin;
pub mod policy;
pub mod quickstart;
pub mod remote;
pub mod runtime;
pub mod serve;
pub mod sign;
pub mod signer;
pub mod verify;
