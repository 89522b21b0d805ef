//! `signet cert`: the trust store, and test certificates.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, Subcommand};
use notary::{
    algorithm::KeySpec,
    crypto::PrivateKey,
    truststore::{DirTrustStore, TrustStoreType},
    x509,
};

use crate::config::{ConfigDir, KeySuite, LOCAL_KEYS, write_atomic};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a test key and a self-signed code-signing certificate, add the
    /// certificate to trust store ca:NAME and the key to the signing keys.
    ///
    /// For development and tests only: the key is written unencrypted to
    /// <config>/localkeys/NAME.key.
    GenerateTest(GenerateTest),
    /// Add certificates (PEM or DER files) to a trust store.
    Add(Add),
    /// List trust store certificates.
    #[command(alias = "ls")]
    List(Filter),
    /// Show a certificate in a trust store.
    Show(Show),
    /// Delete a certificate (or a whole store with --all) from a trust store.
    Delete(Delete),
}

#[derive(Debug, ClapArgs)]
pub struct GenerateTest {
    /// Name of the key and certificate (also the certificate's CN and the trust store name).
    pub name: String,
    /// Key type and size.
    #[arg(long, default_value = "rsa-2048", value_parser = parse_key_spec)]
    pub key_type: KeySpec,
    /// Make this key the default signing key.
    #[arg(long)]
    pub default: bool,
}

#[derive(Debug, ClapArgs)]
pub struct Add {
    /// Trust store type: ca, signingAuthority or tsa.
    #[arg(short = 't', long = "type", value_parser = parse_store_type)]
    pub store_type: TrustStoreType,
    /// Trust store name ([a-zA-Z0-9_.-]+).
    #[arg(short, long)]
    pub store: String,
    /// Certificate files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub struct Filter {
    /// Only this trust store type.
    #[arg(short = 't', long = "type", value_parser = parse_store_type)]
    pub store_type: Option<TrustStoreType>,
    /// Only this store.
    #[arg(short, long)]
    pub store: Option<String>,
}

#[derive(Debug, ClapArgs)]
pub struct Show {
    #[arg(short = 't', long = "type", value_parser = parse_store_type)]
    pub store_type: TrustStoreType,
    #[arg(short, long)]
    pub store: String,
    /// Certificate file name inside the store.
    pub file: String,
}

#[derive(Debug, ClapArgs)]
pub struct Delete {
    #[arg(short = 't', long = "type", value_parser = parse_store_type)]
    pub store_type: TrustStoreType,
    #[arg(short, long)]
    pub store: String,
    /// Certificate file name inside the store.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub file: Option<String>,
    /// Delete every certificate of the store.
    #[arg(long)]
    pub all: bool,
}

pub fn parse_key_spec(s: &str) -> Result<KeySpec, String> {
    KeySpec::from_cli_name(s).ok_or_else(|| {
        let all: Vec<String> = KeySpec::ALL.iter().map(|k| k.cli_name()).collect();
        format!("unknown key type {s:?}; expected one of {}", all.join(", "))
    })
}

pub fn parse_store_type(s: &str) -> Result<TrustStoreType, String> {
    s.parse::<TrustStoreType>()
        .map_err(|_| format!("unknown trust store type {s:?}; expected ca, signingAuthority or tsa"))
}

pub fn run(config: &ConfigDir, cmd: Command) -> Result<ExitCode> {
    let store = DirTrustStore::new(config.root());
    match cmd {
        Command::GenerateTest(args) => {
            generate_test(config, &args)?;
        }
        Command::Add(args) => {
            for file in &args.files {
                let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
                let name = file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .with_context(|| format!("{} has no file name", file.display()))?;
                let path = store
                    .add_certificate(args.store_type, &args.store, name, &bytes)
                    .with_context(|| format!("adding {}", file.display()))?;
                println!(
                    "Successfully added {} to trust store {}:{}",
                    path.display(),
                    args.store_type.as_str(),
                    args.store
                );
            }
        }
        Command::List(f) => {
            let entries = store.list(f.store_type, f.store.as_deref())?;
            if entries.is_empty() {
                eprintln!(
                    "No certificates in the trust store ({}).",
                    config.root().join("truststore").display()
                );
            }
            for (ty, name, path) in entries {
                println!("{}:{}\t{}", ty.as_str(), name, path.display());
            }
        }
        Command::Show(s) => {
            let entries = store.list(Some(s.store_type), Some(&s.store))?;
            let (_, _, path) = entries
                .into_iter()
                .find(|(_, _, p)| p.file_name().and_then(|n| n.to_str()) == Some(s.file.as_str()))
                .with_context(|| {
                    format!(
                        "no certificate {:?} in trust store {}:{}",
                        s.file,
                        s.store_type.as_str(),
                        s.store
                    )
                })?;
            let certs = x509::read_certificates(&std::fs::read(&path)?)?;
            for (i, cert) in certs.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                print_certificate(cert);
            }
        }
        Command::Delete(d) => {
            if d.all {
                store.delete_all(d.store_type, &d.store)?;
                println!(
                    "Successfully deleted trust store {}:{}",
                    d.store_type.as_str(),
                    d.store
                );
            } else if let Some(file) = d.file {
                store.delete_certificate(d.store_type, &d.store, &file)?;
                println!(
                    "Successfully deleted {file} from trust store {}:{}",
                    d.store_type.as_str(),
                    d.store
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the fields a user checks before trusting a certificate.
pub fn print_certificate(cert: &x509::Certificate) {
    println!("Subject:      {}", cert.subject());
    println!("Issuer:       {}", cert.issuer());
    println!("Serial:       {}", cert.serial_hex());
    println!("Not before:   {}", cert.not_before());
    println!("Not after:    {}", cert.not_after());
    match cert.key_spec() {
        Ok(k) => println!("Key:          {k}"),
        Err(e) => println!("Key:          unsupported ({e})"),
    }
    println!("CA:           {}", cert.is_ca());
    println!("Self-signed:  {}", cert.is_self_signed());
    println!("SHA-256:      {}", cert.sha256_thumbprint());
}

/// Generates a key and self-signed certificate, trusts it as ca:NAME, registers the key.
pub fn generate_test(config: &ConfigDir, args: &GenerateTest) -> Result<()> {
    let name = &args.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        bail!("invalid key name {name:?}: use letters, digits, '.', '_' and '-' only");
    }
    let mut keys = config.load_signing_keys()?;
    if keys.keys.iter().any(|k| &k.name == name) {
        bail!("signing key {name:?} already exists: delete it first with `signet key delete {name}`");
    }
    println!("generating {} key", args.key_type);
    let key = PrivateKey::generate(args.key_type)?;
    let cert = x509::generate_test_certificate(name, &key)?;
    println!("generated certificate expiring on {}", cert.not_after());
    let dir = config.path(LOCAL_KEYS);
    let key_path = dir.join(format!("{name}.key"));
    let cert_path = dir.join(format!("{name}.crt"));
    write_atomic(&key_path, key.to_pkcs8_pem()?.as_bytes())?;
    restrict_permissions(&key_path)?;
    println!("wrote key: {}", key_path.display());
    let pem = cert.to_pem();
    write_atomic(&cert_path, pem.as_bytes())?;
    println!("wrote certificate: {}", cert_path.display());
    let store = DirTrustStore::new(config.root());
    let added = store.add_certificate(TrustStoreType::Ca, name, &format!("{name}.crt"), pem.as_bytes())?;
    println!("added {} to trust store ca:{name}", added.display());
    keys.keys.push(KeySuite {
        name: name.clone(),
        key_path: Some(key_path),
        cert_path: Some(cert_path),
        id: None,
        plugin_name: None,
        plugin_config: None,
    });
    println!("{name}: added to the key list");
    if args.default || keys.default.is_none() {
        keys.default = Some(name.clone());
        println!("{name}: marked as the default signing key");
    }
    config.save_signing_keys(&keys)?;
    Ok(())
}

#[cfg(unix)]
fn restrict_permissions(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

#[cfg(not(unix))]
fn restrict_permissions(_: &std::path::Path) -> Result<()> {
    Ok(())
}
