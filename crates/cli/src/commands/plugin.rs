//! `signet plugin`: list, install and uninstall plugins in `<config>/plugins`,
//! laid out as notation lays them out.

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use notary::plugin::{Plugin, PluginManager as _, compare_versions};
use serde_json::json;

use crate::{
    config::ConfigDir,
    output::Format,
    plugins::{PluginDir, ProcessRunner, binary_name, valid_name},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List installed plugins: name, description, version, capabilities.
    #[command(alias = "ls")]
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Install a plugin executable (`notation-<name>`) into the plugin directory.
    Install {
        /// The plugin executable.
        #[arg(long, value_name = "PATH")]
        file: PathBuf,
        /// Replace an installed plugin even if its version is the same or newer.
        #[arg(long)]
        force: bool,
    },
    /// Remove an installed plugin.
    #[command(alias = "remove", alias = "rm")]
    Uninstall {
        /// The plugin's name.
        name: String,
    },
}

pub fn run(config: &ConfigDir, cmd: Command) -> Result<ExitCode> {
    let dir = PluginDir::new(config.path("plugins"));
    match cmd {
        Command::List { output } => list(&dir, output),
        Command::Install { file, force } => install(&dir, &file, force),
        Command::Uninstall { name } => uninstall(&dir, &name),
    }
}

fn list(dir: &PluginDir, output: Format) -> Result<ExitCode> {
    let names = dir.list()?;
    let none = BTreeMap::new();
    let rows: Vec<_> = names
        .iter()
        .map(|name| {
            let meta = Plugin::find(dir, name).and_then(|p| p.metadata(&none));
            (name, meta)
        })
        .collect();
    match output {
        Format::Json => {
            let items: Vec<_> = rows
                .iter()
                .map(|(name, m)| match m {
                    Ok(m) => json!({
                        "name": name, "description": m.description, "version": m.version,
                        "capabilities": m.capabilities, "error": null,
                    }),
                    Err(e) => json!({ "name": name, "error": e.to_string() }),
                })
                .collect();
            crate::output::json(&json!(items));
        }
        Format::Text => {
            println!(
                "{:<20} {:<40} {:<10} {:<40} ERROR",
                "NAME", "DESCRIPTION", "VERSION", "CAPABILITIES"
            );
            for (name, m) in &rows {
                match m {
                    Ok(m) => println!(
                        "{:<20} {:<40} {:<10} {:<40} <nil>",
                        name,
                        m.description,
                        m.version,
                        format!("[{}]", m.capabilities.join(" "))
                    ),
                    Err(e) => println!("{name:<20} {:<40} {:<10} {:<40} {e}", "", "", "[]"),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn install(dir: &PluginDir, file: &std::path::Path, force: bool) -> Result<ExitCode> {
    let meta = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", file.display());
    }
    let file_name = file
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no file name", file.display()))?;
    let stem = file_name
        .strip_suffix(std::env::consts::EXE_SUFFIX)
        .unwrap_or(file_name);
    let Some(name) = stem.strip_prefix("notation-").filter(|n| valid_name(n)) else {
        bail!("invalid plugin executable file name {file_name:?}: the name must be notation-<plugin name>");
    };
    let plugin = Plugin::new(name, Box::new(ProcessRunner::new(file)));
    let new_meta = plugin
        .metadata(&BTreeMap::new())
        .with_context(|| format!("failed to get metadata of plugin {name}"))?;
    let target = dir.executable(name);
    if let Ok(existing) = Plugin::find(dir, name).and_then(|p| p.metadata(&BTreeMap::new()))
        && !force
    {
        match compare_versions(&new_meta.version, &existing.version) {
            std::cmp::Ordering::Less => bail!(
                "failed to install plugin {name}. The installing plugin version {} is lower than the existing plugin version {}. It is not recommended to install an older version. To force the installation, use the \"--force\" option",
                new_meta.version,
                existing.version
            ),
            std::cmp::Ordering::Equal => bail!(
                "plugin {name} with version {} already exists. To force the installation, use the \"--force\" option",
                existing.version
            ),
            std::cmp::Ordering::Greater => {}
        }
    }
    let parent = target.parent().context("plugin path has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!(".{}.tmp", binary_name(name)));
    std::fs::copy(file, &tmp).with_context(|| format!("copying {} to {}", file.display(), tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} executable", tmp.display()))?;
    }
    std::fs::rename(&tmp, &target).with_context(|| format!("installing {}", target.display()))?;
    println!(
        "Successfully installed plugin {name}, version {}",
        new_meta.version
    );
    Ok(ExitCode::SUCCESS)
}

fn uninstall(dir: &PluginDir, name: &str) -> Result<ExitCode> {
    if !valid_name(name) || !dir.executable(name).is_file() {
        bail!("unable to find plugin {name}.\nTo view a list of installed plugins, use `signet plugin list`");
    }
    let path = dir.root().join(name);
    std::fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
    println!("Successfully uninstalled plugin {name}");
    Ok(ExitCode::SUCCESS)
}
