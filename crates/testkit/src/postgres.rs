//! A throwaway PostgreSQL server on loopback, for the signer's store tests.
//!
//! [`Postgres::start`] runs `initdb` (trust authentication, superuser
//! `signet`) into a fresh temporary directory, starts the server listening on
//! `127.0.0.1:<free port>` only, with its unix socket inside that directory,
//! waits until it accepts connections and creates the database `signet`.
//! Dropping the [`Postgres`] stops the server (`pg_ctl stop -m immediate`) and
//! removes the directory.
//!
//! The binaries are looked up in the newest `/usr/lib/postgresql/*/bin`
//! (Debian's layout), then in `pg_config --bindir`; `SIGNET_PG_BIN` overrides
//! both. [`Postgres::available`] says whether they are there, so tests can
//! say loudly that PostgreSQL was not tested rather than fail.
//!
//! PostgreSQL refuses to run as root: when the tests run as uid 0 the data
//! directory is handed to the `postgres` user and `initdb`/`pg_ctl` run as
//! that user through `runuser`.
//!
//! The server runs with `fsync=off`, `synchronous_commit=off` and
//! `full_page_writes=off`: it is a test server that is thrown away, and
//! those settings make it fast. No durability claim rests on it — durability
//! is SQLite's (WAL, `synchronous=FULL`) and a production PostgreSQL's.

use std::{
    net::TcpListener,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use tempfile::TempDir;

/// A running PostgreSQL server; dropping it stops the server and removes its files.
pub struct Postgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    /// `Some(user)` when commands must run as that user (we are root).
    run_as: Option<String>,
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`, if any.
pub fn bin_dir() -> Option<PathBuf> {
    let has =
        |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file() && d.join("postgres").is_file();
    if let Ok(d) = std::env::var("SIGNET_PG_BIN") {
        let d = PathBuf::from(d);
        return has(&d).then_some(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has(d))
        .collect();
    versions.sort();
    if let Some((_, d)) = versions.pop() {
        return Some(d);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    has(&d).then_some(d)
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// uid and gid of `user` from /etc/passwd.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    /// Whether the PostgreSQL server binaries (and, as root, the `postgres`
    /// user and `runuser`) are there.
    pub fn available() -> bool {
        Self::why_unavailable().is_none()
    }

    /// Why [`Postgres::start`] cannot work here, or `None` when it can.
    pub fn why_unavailable() -> Option<String> {
        if bin_dir().is_none() {
            return Some(
                "no PostgreSQL server binaries (looked in /usr/lib/postgresql/*/bin, pg_config --bindir, $SIGNET_PG_BIN)"
                    .into(),
            );
        }
        if is_root() && user_ids("postgres").is_none() {
            return Some("running as root and there is no `postgres` user to run the server as".into());
        }
        None
    }

    /// Starts a fresh server with the database `signet`; panics, saying why, when it cannot.
    pub fn start() -> Postgres {
        let bin = bin_dir().unwrap_or_else(|| panic!("{}", Self::why_unavailable().unwrap_or_default()));
        let dir = tempfile::Builder::new().prefix("signet-pg").tempdir().unwrap();
        let run_as = if is_root() {
            let (uid, gid) = user_ids("postgres").expect("running as root needs a `postgres` user");
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
            Some("postgres".to_string())
        } else {
            None
        };
        let mut pg = Postgres {
            dir,
            bin,
            port: 0,
            run_as,
        };
        let data = pg.data_dir();
        let out = pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "signet",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A port picked by binding :0 may be taken by someone else before the
        // server binds it: retry with another.
        let mut last = String::new();
        for _ in 0..5 {
            pg.port = free_port();
            let opts = format!(
                "-h 127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                pg.port,
                pg.dir.path().display()
            );
            let log = pg.dir.path().join("server.log");
            let out = pg.run(
                "pg_ctl",
                &[
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    data.to_str().unwrap(),
                    "-l",
                    log.to_str().unwrap(),
                    "-o",
                    &opts,
                ],
            );
            if out.status.success() {
                pg.psql("postgres", "CREATE DATABASE signet");
                return pg;
            }
            last = format!(
                "{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("PostgreSQL did not start: {last}");
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    fn psql(&self, db: &str, sql: &str) {
        let psql = self.bin.join("psql");
        let out = Command::new(&psql)
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "signet",
                "-d",
                db,
                "-c",
                sql,
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", psql.display()));
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://signet@127.0.0.1:PORT/signet`.
    pub fn url(&self) -> String {
        self.url_of("signet")
    }

    fn url_of(&self, db: &str) -> String {
        format!("postgres://signet@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a fresh, empty database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "database names here are [A-Za-z0-9_]+: {name:?}"
        );
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url_of(name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.run(
            "pg_ctl",
            &[
                "stop",
                "-m",
                "immediate",
                "-w",
                "-D",
                data.to_str().unwrap_or_default(),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_creates_databases_and_stops() {
        if let Some(why) = Postgres::why_unavailable() {
            eprintln!("\n*** PostgreSQL NOT TESTED: {why} ***\n");
            return;
        }
        let pg = Postgres::start();
        assert_eq!(
            pg.url(),
            format!("postgres://signet@127.0.0.1:{}/signet", pg.port())
        );
        let url = pg.create_database("other_db");
        assert!(url.ends_with("/other_db"));
        pg.psql("other_db", "CREATE TABLE t (x int)");
        let dir = pg.dir.path().to_path_buf();
        let port = pg.port();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        drop(pg);
        assert!(!dir.exists(), "data directory removed");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "server stopped"
        );
    }
}
