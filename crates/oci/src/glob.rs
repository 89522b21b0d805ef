//! Image-name globs: `*` matches within one path segment, `**` across
//! segments, `?` one character other than `/`. Patterns are written like
//! image names and normalised as Docker does (`nginx` is
//! `docker.io/library/nginx`, `acme/app` is `docker.io/acme/app`).

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
}

impl Glob {
    /// Normalises `pattern` with Docker's rules for the first segment.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err("an image pattern is empty".into());
        }
        if pattern.contains(['@', ' ']) {
            return Err(format!(
                "image pattern {pattern:?}: patterns match registry/repository names; leave out tags and digests"
            ));
        }
        Ok(Self {
            pattern: normalise(pattern),
        })
    }

    /// The normalised pattern.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `name` (`registry/repository`) matches.
    pub fn matches(&self, name: &str) -> bool {
        matches(self.pattern.as_bytes(), name.as_bytes())
    }

    /// How specific the pattern is: literal characters count, and a pattern
    /// without wildcards outranks every glob. The most specific match wins.
    pub fn specificity(&self) -> usize {
        let literal = self.pattern.chars().filter(|c| !matches!(c, '*' | '?')).count();
        if literal == self.pattern.chars().count() {
            usize::MAX / 2 + literal
        } else {
            literal
        }
    }
}

/// Docker's rules: a first segment without `.` or `:` (and not `localhost`)
/// is a Docker Hub path; a single segment is an official image. A pattern
/// starting with a wildcard is left alone.
fn normalise(pattern: &str) -> String {
    let first = pattern.split('/').next().unwrap_or_default();
    if first.starts_with('*') || first.contains(['.', ':']) || first == "localhost" {
        return pattern.to_owned();
    }
    if pattern.contains('/') {
        format!("docker.io/{pattern}")
    } else {
        format!("docker.io/library/{pattern}")
    }
}

fn matches(p: &[u8], s: &[u8]) -> bool {
    // Iterative matcher with backtracking to the last star; `**` may eat '/'.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize, bool)> = None; // (pattern index after star, string index, crosses '/')
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            let double = p.get(pi + 1) == Some(&b'*');
            pi += if double { 2 } else { 1 };
            star = Some((pi, si, double));
            continue;
        }
        if pi < p.len() && (p[pi] == s[si] || (p[pi] == b'?' && s[si] != b'/')) {
            pi += 1;
            si += 1;
            continue;
        }
        match star {
            Some((sp, ss, double)) if double || s[ss] != b'/' => {
                star = Some((sp, ss + 1, double));
                pi = sp;
                si = ss + 1;
            }
            _ => return false,
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p).unwrap().matches(s)
    }

    #[test]
    fn segments_and_double_stars() {
        assert!(m("registry.example.com/prod/*", "registry.example.com/prod/app"));
        assert!(!m(
            "registry.example.com/prod/*",
            "registry.example.com/prod/team/app"
        ));
        assert!(m(
            "registry.example.com/prod/**",
            "registry.example.com/prod/team/app"
        ));
        assert!(m("registry.example.com/**", "registry.example.com/a"));
        assert!(!m(
            "registry.example.com/prod/*",
            "registry.example.com/production/app"
        ));
        assert!(m(
            "registry.example.com/prod/app-?",
            "registry.example.com/prod/app-1"
        ));
        assert!(m("**", "anything/at/all"));
        assert!(m("*/a/*", "host:5000/a/b"));
        assert!(!m("*/a/*", "host:5000/x/a/b"));
        assert!(m("localhost:5000/a*b", "localhost:5000/axxb"));
        assert!(!m("localhost:5000/a*b", "localhost:5000/ax/xb"));
    }

    #[test]
    fn docker_hub_names_are_normalised() {
        assert!(m("nginx", "docker.io/library/nginx"));
        assert!(m("acme/*", "docker.io/acme/app"));
        assert!(m("docker.io/library/*", "docker.io/library/busybox"));
        assert!(Glob::new("nginx:latest").is_ok()); // a port-like segment is a host
        assert!(Glob::new("ghcr.io/a@sha256:00").is_err());
    }

    #[test]
    fn exact_names_outrank_globs_and_longer_literals_outrank_shorter() {
        let exact = Glob::new("ghcr.io/acme/app").unwrap().specificity();
        let narrow = Glob::new("ghcr.io/acme/*").unwrap().specificity();
        let wide = Glob::new("ghcr.io/**").unwrap().specificity();
        assert!(exact > narrow && narrow > wide);
    }
}
