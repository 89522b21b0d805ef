//! Release builds of `signet` on x86_64 Linux lay out their code in the order
//! of `signet.order`: the functions a `signet verify` runs, together, first.
//!
//! A short `signet verify` is mostly process start, and start-up is page
//! faults; each fault on the code maps 64 KiB around it. Left to the linker,
//! the ~1.4 MB of code one verify runs is spread over the 10 MB of the binary
//! (about 90 faults); packed, it is a few dozen: one verify 11–17 % faster
//! (interleaved runs, same registry). The list is symbol names, so it goes
//! stale when the toolchain or a dependency changes: the linker then simply
//! places the names it no longer finds nowhere special. `scripts/symbol-order`
//! regenerates it; `cargo bench -p signet-cli --bench registry_verify` says how
//! much of it the binary still has.
//!
//! `--symbol-ordering-file` is an LLD (and mold) option: it is only passed
//! where Rust links with its bundled LLD by default (x86_64-unknown-linux-gnu
//! since Rust 1.90). `SIGNET_SYMBOL_ORDER=0` turns it off, for a build
//! configured with another linker.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=signet.order");
    println!("cargo:rerun-if-env-changed=SIGNET_SYMBOL_ORDER");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let lld_target = std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let wanted = std::env::var("SIGNET_SYMBOL_ORDER").map_or(true, |v| v != "0");
    if release && lld_target && wanted {
        let order = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("signet.order");
        println!(
            "cargo:rustc-link-arg-bin=signet=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=signet=-Wl,--no-warn-symbol-ordering");
    }
}
