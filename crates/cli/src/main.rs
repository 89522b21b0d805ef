//! `signet`: sign and verify container images with Notary Project signatures.
//! `signet serve|signer|audit` run `signet-server` (installed next to it).

fn main() -> std::process::ExitCode {
    signet_cli::signet_main()
}
