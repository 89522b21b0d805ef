#![allow(clippy::unwrap_used)]
//! The plugin host against a real plugin executable: signet's own
//! `notation-signet`, installed into `<config>/plugins/signet/`.
//! `signet plugin list|install|uninstall`, `signet sign --plugin`, and
//! `notation sign --plugin signet` verified by signet.

mod common;

use std::path::PathBuf;

use common::{Env, expect, text};

const PLUGIN: &str = env!("CARGO_BIN_EXE_notation-signet");
const VERIFIED: &str = "Successfully verified";

fn install(env: &Env) {
    expect(
        &env.signet(&["plugin", "install", "--file", PLUGIN]),
        true,
        &["Successfully installed plugin signet"],
    );
}

fn signing_setup(env: &Env) -> PathBuf {
    env.e2e_key()
        .trust("e2e", &["e2e.crt"])
        .policy("trustpolicy.json");
    install(env);
    env.layout("e2e", "layout")
}

#[test]
fn plugin_install_list_uninstall() {
    let env = Env::new();
    let out = env.signet(&["plugin", "list"]);
    expect(&out, true, &["NAME"]);
    assert!(!text(&out).contains("signet "), "{}", text(&out));

    install(&env);
    assert!(env.config.join("plugins/signet/notation-signet").is_file());
    expect(
        &env.signet(&["plugin", "list"]),
        true,
        &[
            "signet",
            env!("CARGO_PKG_VERSION"),
            "SIGNATURE_GENERATOR.RAW",
            "<nil>",
        ],
    );
    let json = env.signet(&["plugin", "list", "--output", "json"]);
    expect(&json, true, &[]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v[0]["name"], "signet");
    assert_eq!(v[0]["capabilities"][0], "SIGNATURE_GENERATOR.RAW");

    // Same version again: refused unless forced.
    expect(
        &env.signet(&["plugin", "install", "--file", PLUGIN]),
        false,
        &["already exists", "--force"],
    );
    expect(
        &env.signet(&["plugin", "install", "--file", PLUGIN, "--force"]),
        true,
        &["Successfully installed plugin signet"],
    );

    // A file not named notation-<name> is refused.
    let odd = env.root.join("signet-plugin");
    std::fs::copy(PLUGIN, &odd).unwrap();
    expect(
        &env.signet(&["plugin", "install", "--file", odd.to_str().unwrap()]),
        false,
        &["notation-<plugin name>"],
    );

    expect(
        &env.signet(&["plugin", "uninstall", "signet"]),
        true,
        &["Successfully uninstalled plugin signet"],
    );
    assert!(!env.config.join("plugins/signet").exists());
    expect(
        &env.signet(&["plugin", "uninstall", "signet"]),
        false,
        &["unable to find plugin signet"],
    );
}

#[test]
fn sign_through_the_plugin_then_verify() {
    let env = Env::new();
    let layout = signing_setup(&env);
    let reference = format!("{}:v1", layout.display());
    let config_dir = format!("config_dir={}", env.config.display());
    for format in ["jws", "cose"] {
        expect(
            &env.signet(&[
                "sign",
                "--oci-layout",
                &reference,
                "--plugin",
                "signet",
                "--id",
                "e2e",
                "--plugin-config",
                &config_dir,
                "--signature-format",
                format,
            ]),
            true,
            &["Successfully signed"],
        );
    }
    expect(&env.verify(&layout, "local/e2e"), true, &[VERIFIED]);
    let listed = env.signet(&["ls", "--oci-layout", &reference]);
    expect(&listed, true, &[]);
    assert_eq!(
        text(&listed).matches("── sha256:").count(),
        2,
        "{}",
        text(&listed)
    );
}

#[test]
fn plugin_sign_errors_are_reported() {
    let env = Env::new();
    let layout = signing_setup(&env);
    let reference = format!("{}:v1", layout.display());
    let config_dir = format!("config_dir={}", env.config.display());
    // Unknown key: the plugin's VALIDATION_ERROR message reaches the user.
    expect(
        &env.signet(&[
            "sign",
            "--oci-layout",
            &reference,
            "--plugin",
            "signet",
            "--id",
            "nope",
            "--plugin-config",
            &config_dir,
        ]),
        false,
        &["signing key \"nope\" not found"],
    );
    // Unknown plugin.
    expect(
        &env.signet(&[
            "sign",
            "--oci-layout",
            &reference,
            "--plugin",
            "absent",
            "--id",
            "e2e",
        ]),
        false,
        &["plugin not found"],
    );
    // --id without --plugin is a usage error.
    expect(
        &env.signet(&["sign", "--oci-layout", &reference, "--id", "e2e"]),
        false,
        &["--plugin"],
    );
}

#[test]
fn notation_signs_through_the_signet_plugin() {
    let env = Env::shared_with_notation();
    let layout = signing_setup(&env);
    let reference = format!("{}:v1", layout.display());
    let config_dir = format!("config_dir={}", env.config.display());
    let out = env.notation(&[
        "sign",
        "--oci-layout",
        "--plugin",
        "signet",
        "--id",
        "e2e",
        "--plugin-config",
        &config_dir,
        &reference,
    ]);
    expect(&out, true, &["Successfully signed"]);
    expect(&env.verify(&layout, "local/e2e"), true, &[VERIFIED]);
}

/// The other direction: signet signs through the plugin, stock notation verifies.
#[test]
fn signet_signs_through_the_plugin_and_notation_verifies() {
    let env = Env::shared_with_notation();
    let layout = signing_setup(&env);
    let reference = format!("{}:v1", layout.display());
    let config_dir = format!("config_dir={}", env.config.display());
    for format in ["jws", "cose"] {
        let out = env.signet(&[
            "sign",
            "--oci-layout",
            &reference,
            "--plugin",
            "signet",
            "--id",
            "e2e",
            "--plugin-config",
            &config_dir,
            "--signature-format",
            format,
        ]);
        expect(&out, true, &["Successfully signed"]);
    }
    let by_digest = format!(
        "{}@sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9",
        layout.display()
    );
    let out = env.notation(&["verify", "--oci-layout", "--scope", "local/e2e", &by_digest]);
    expect(&out, true, &["Successfully verified signature for"]);
    let out = env.notation(&["ls", "--oci-layout", &by_digest]);
    expect(&out, true, &[]);
    assert_eq!(text(&out).matches("── sha256:").count(), 2, "{}", text(&out));
}
