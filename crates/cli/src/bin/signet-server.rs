//! `signet-server`: the whole `signet` command line, services included:
//! `signet-server serve signer|admission|node --config FILE`, `signer`,
//! `audit`. `signet serve …` starts it in its own place.

fn main() -> std::process::ExitCode {
    signet_cli::server_main()
}
