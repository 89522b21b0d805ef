//! Registry references, `[registry/]repository[:tag][@digest]`, parsed by the
//! rules `docker` and `notation` apply, so a name means here what it means there.
//!
//! * The first path component is a registry only when it looks like a host:
//!   it contains `.` or `:`, is `localhost`, or has uppercase letters (which a
//!   repository cannot). Otherwise the registry is `docker.io`.
//! * On `docker.io` a one-component repository is an official image:
//!   `alpine` is `docker.io/library/alpine`; `index.docker.io` is `docker.io`.
//! * Without tag and digest the tag is `latest`. With both, the digest is
//!   what is fetched; the tag is kept only for display.
//!
//! The repository grammar is the distribution specification's: lowercase
//! components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`.

use std::{fmt, str::FromStr};

use notary::Digest;

use crate::{Error, reference::validate_tag};

/// The registry a reference without one names.
pub const DOCKER_HUB: &str = "docker.io";
/// The longest repository name (with its registry) the distribution spec allows.
const MAX_NAME_LEN: usize = 255;

/// A parsed registry reference. See the module documentation for the rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `s` (see the module documentation).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidReference {
            reference: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(invalid("the reference is empty".into()));
        }
        if s.contains("://") {
            return Err(invalid(
                "a reference has no scheme: write host[:port]/repository[:tag][@digest]".into(),
            ));
        }
        let (name, digest) = match s.split_once('@') {
            Some((name, d)) => {
                let digest = Digest::parse(d).map_err(|e| invalid(e.to_string()))?;
                (name, Some(digest))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/', so a port is never a tag.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                let tag = &name[at + 1..];
                validate_tag(tag).map_err(|_| {
                    invalid(format!(
                        "invalid tag {tag:?}: a tag must match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}"
                    ))
                })?;
                (&name[..at], Some(tag.to_owned()))
            }
            None => (name, None),
        };
        let (registry, repository) = split_registry(name);
        if registry.is_empty() {
            return Err(invalid("the registry part is empty".into()));
        }
        validate_registry(registry).map_err(invalid)?;
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        validate_repository(repository).map_err(invalid)?;
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_owned()
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(invalid(format!(
                "the name is longer than {MAX_NAME_LEN} characters"
            )));
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            _ => tag,
        };
        Ok(Self {
            registry: registry.to_owned(),
            repository,
            tag,
            digest,
        })
    }

    /// The registry host, e.g. `docker.io`, `127.0.0.1:5000`, `ghcr.io`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository inside the registry, e.g. `library/alpine`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference has one (`latest` when it had neither tag nor digest).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference has one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to resolve: the digest if there is one, else the tag.
    pub fn target(&self) -> &str {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.as_str(),
            (None, Some(t)) => t,
            // Unreachable by construction: parse always sets one of the two.
            (None, None) => "latest",
        }
    }

    /// The same repository, pinned to `digest` (the tag is dropped).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Self {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// The same repository with `tag` (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, Error> {
        validate_tag(tag)?;
        Ok(Self {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        })
    }

    /// `registry/repository`: the form trust-policy scopes use, as in notation.
    pub fn repository_path(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Docker's `splitDockerDomain`: the first component is a registry when it
/// looks like a host.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

/// `host[:port]` with a DNS name, an IPv4 address or a bracketed IPv6 address.
fn validate_registry(registry: &str) -> Result<(), String> {
    let bad =
        || format!("invalid registry {registry:?}: expected a host name or address with an optional :port");
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(bad)?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        match after {
            "" => return Ok(()),
            p => ("", p.strip_prefix(':').ok_or_else(bad)?),
        }
    } else {
        match registry.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (registry, ""),
        }
    };
    if !port.is_empty() && port.parse::<u16>().is_err() {
        return Err(bad());
    }
    if host.is_empty() && !registry.starts_with('[') {
        return Err(bad());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !host.is_empty() && !host.split('.').all(label_ok) {
        return Err(bad());
    }
    Ok(())
}

/// The distribution spec's repository grammar.
fn validate_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository name is empty".into());
    }
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "repository names must be lowercase (try {:?})",
            repository.to_ascii_lowercase()
        ));
    }
    for component in repository.split('/') {
        if !component_ok(component) {
            return Err(format!(
                "invalid repository {repository:?}: each /-separated component must match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*, {component:?} does not"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or "-+", followed by an alphanumeric.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const D: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    #[test]
    fn parses_by_docker_rules() {
        let table: &[(&str, &str, &str, Option<&str>, bool)] = &[
            ("alpine", "docker.io", "library/alpine", Some("latest"), false),
            ("alpine:3.20", "docker.io", "library/alpine", Some("3.20"), false),
            (
                "docker.io/alpine",
                "docker.io",
                "library/alpine",
                Some("latest"),
                false,
            ),
            (
                "index.docker.io/alpine",
                "docker.io",
                "library/alpine",
                Some("latest"),
                false,
            ),
            ("user/app", "docker.io", "user/app", Some("latest"), false),
            ("ghcr.io/org/app:v1", "ghcr.io", "org/app", Some("v1"), false),
            (
                "127.0.0.1:5000/app",
                "127.0.0.1:5000",
                "app",
                Some("latest"),
                false,
            ),
            (
                "127.0.0.1:5000/a/b:v1",
                "127.0.0.1:5000",
                "a/b",
                Some("v1"),
                false,
            ),
            ("localhost/app", "localhost", "app", Some("latest"), false),
            ("localhost:5000/app:x", "localhost:5000", "app", Some("x"), false),
            ("[::1]:5000/app", "[::1]:5000", "app", Some("latest"), false),
            (
                "reg.example/a__b/c-d.e---f",
                "reg.example",
                "a__b/c-d.e---f",
                Some("latest"),
                false,
            ),
        ];
        for (input, registry, repository, tag, _) in table {
            let r = Reference::parse(input).unwrap();
            assert_eq!(r.registry(), *registry, "{input}");
            assert_eq!(r.repository(), *repository, "{input}");
            assert_eq!(r.tag(), *tag, "{input}");
            assert_eq!(r.digest(), None);
            assert_eq!(r.target(), tag.unwrap());
        }
    }

    #[test]
    fn digests_and_display() {
        let r = Reference::parse(&format!("127.0.0.1:5000/app@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().as_str(), D);
        assert_eq!(r.target(), D);
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/app@{D}"));
        let both = Reference::parse(&format!("alpine:3@{D}")).unwrap();
        assert_eq!(both.tag(), Some("3"));
        assert_eq!(both.target(), D);
        assert_eq!(both.to_string(), format!("docker.io/library/alpine:3@{D}"));
        let pinned = both.with_digest(Digest::parse(D).unwrap());
        assert_eq!(pinned.tag(), None);
        assert_eq!(pinned.repository_path(), "docker.io/library/alpine");
        assert_eq!(
            "alpine".parse::<Reference>().unwrap().to_string(),
            "docker.io/library/alpine:latest"
        );
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "https://reg.example/app",
            "reg.example/App",
            "App",
            "reg.example/app:",
            "reg.example/app:-x",
            "reg.example/app@sha256:abc",
            "reg.example/app@md5:0000",
            "reg.example/-app",
            "reg.example/a..b",
            "reg.example/a___b",
            "reg.example//app",
            "reg.example/app/",
            "reg.example:99999/app",
            "reg..example/app",
            ":5000/app",
            "reg.example/",
        ] {
            assert!(
                matches!(Reference::parse(bad), Err(Error::InvalidReference { .. })),
                "{bad:?} parsed"
            );
        }
        let long = format!("reg.example/{}", "a".repeat(250));
        assert!(Reference::parse(&long).is_err());
    }

    #[test]
    fn uppercase_repository_gets_a_hint() {
        let e = Reference::parse("reg.example/MyApp").unwrap_err().to_string();
        assert!(e.contains("lowercase") && e.contains("myapp"), "{e}");
        // A first component with uppercase is a registry, as in docker.
        let r = Reference::parse("MyReg/app").unwrap();
        assert_eq!(r.registry(), "MyReg");
    }
}
