//! References to content in an OCI image layout, as the CLI takes them:
//! `DIR:TAG` or `DIR@sha256:<hex>`.
//!
//! The rules are notation's `--oci-layout` rules: a reference with an `@` is
//! split at the last `@` and the rest must be a digest; otherwise it is split at
//! the last `:` and the rest is a tag. So `./my:dir:v1` is directory `./my:dir`
//! with tag `v1`. A Windows drive prefix (`C:\…`) is not mistaken for a tag.

use std::{fmt, path::PathBuf};

use notary::Digest;

use crate::Error;

/// Which manifest in the layout a reference names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A tag, resolved through `index.json`.
    Tag(String),
    /// A manifest digest.
    Digest(Digest),
}

impl Target {
    /// The tag or digest as a string, ready for [`crate::ArtifactStore::resolve`].
    pub fn as_str(&self) -> &str {
        match self {
            Self::Tag(t) => t,
            Self::Digest(d) => d.as_str(),
        }
    }
}

/// A parsed `DIR:TAG` or `DIR@DIGEST` reference to content in an OCI layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutReference {
    /// The layout directory.
    pub path: PathBuf,
    /// The tag or digest inside it.
    pub target: Target,
}

impl LayoutReference {
    /// Parses `raw` by notation's rules (see the module documentation).
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let (path, target) = if let Some((path, digest)) = raw.rsplit_once('@') {
            if digest.is_empty() {
                return Err(Error::MissingReference(raw.to_owned()));
            }
            (path, Target::Digest(Digest::parse(digest)?))
        } else {
            let Some((path, tag)) = raw.rsplit_once(':') else {
                return Err(Error::MissingReference(raw.to_owned()));
            };
            if is_windows_drive(raw, path) || tag.is_empty() {
                return Err(Error::MissingReference(raw.to_owned()));
            }
            validate_tag(tag)?;
            (path, Target::Tag(tag.to_owned()))
        };
        if path.is_empty() {
            return Err(Error::MissingLayoutPath(raw.to_owned()));
        }
        Ok(Self {
            path: PathBuf::from(path),
            target,
        })
    }
}

impl fmt::Display for LayoutReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Tag(t) => write!(f, "{}:{t}", self.path.display()),
            Target::Digest(d) => write!(f, "{}@{d}", self.path.display()),
        }
    }
}

/// `C:\dir` has its only colon at index 1 after a drive letter: that colon
/// belongs to the path, there is no tag.
fn is_windows_drive(raw: &str, path: &str) -> bool {
    let b = raw.as_bytes();
    path.len() == 1 && b.len() > 2 && b[0].is_ascii_alphabetic() && b[2] == b'\\'
}

/// Checks `tag` against the OCI tag grammar `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), Error> {
    let b = tag.as_bytes();
    let ok = matches!(b.first(), Some(c) if c.is_ascii_alphanumeric() || *c == b'_')
        && b.len() <= 128
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidTag(tag.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tag_grammar() {
        for good in ["v1", "_x", "1.0-rc_2", &"a".repeat(128)] {
            assert!(validate_tag(good).is_ok(), "{good}");
        }
        for bad in ["", ".v1", "-v1", "v/1", "v:1", &"a".repeat(129), "é"] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_drive_is_not_a_tag() {
        assert!(matches!(
            LayoutReference::parse(r"C:\layouts\app"),
            Err(Error::MissingReference(_))
        ));
        let r = LayoutReference::parse(r"C:\layouts\app:v1").unwrap();
        assert_eq!(r.path, PathBuf::from(r"C:\layouts\app"));
        assert_eq!(r.target, Target::Tag("v1".into()));
    }
}
