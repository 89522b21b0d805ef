//! SemVer 2.0 as notation checks plugin versions: a strict syntax check
//! (the regex semver.org suggests, no `v` prefix) and precedence comparison
//! with pre-releases and without build metadata, as `golang.org/x/mod/semver`.

use std::cmp::Ordering;

struct Version<'a> {
    core: [u64; 3],
    pre: Option<&'a str>,
}

fn numeric(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

fn ident_ok(s: &str, pre: bool) -> bool {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return false;
    }
    // Numeric pre-release identifiers may not have leading zeros.
    !(pre && s.bytes().all(|b| b.is_ascii_digit()) && s.len() > 1 && s.starts_with('0'))
}

fn parse(v: &str) -> Option<Version<'_>> {
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    if let Some(b) = build
        && !b.split('.').all(|i| ident_ok(i, false))
    {
        return None;
    }
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    if let Some(p) = pre
        && !p.split('.').all(|i| ident_ok(i, true))
    {
        return None;
    }
    let mut parts = core.split('.');
    let mut out = [0u64; 3];
    for slot in &mut out {
        *slot = numeric(parts.next()?)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Version { core: out, pre })
}

/// Whether `v` is a valid SemVer 2.0 version (`1.2.3`, `1.0.0-alpha.1+build`).
pub fn is_valid(v: &str) -> bool {
    parse(v).is_some()
}

fn compare_pre(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => {
            let mut ia = a.split('.');
            let mut ib = b.split('.');
            loop {
                match (ia.next(), ib.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some(x), Some(y)) => {
                        let ord = match (numeric(x), numeric(y)) {
                            (Some(x), Some(y)) => x.cmp(&y),
                            (Some(_), None) => Ordering::Less,
                            (None, Some(_)) => Ordering::Greater,
                            (None, None) => x.cmp(y),
                        };
                        if ord != Ordering::Equal {
                            return ord;
                        }
                    }
                }
            }
        }
    }
}

/// Compares two versions by SemVer precedence. As in `golang.org/x/mod/semver`,
/// an invalid version is less than every valid one, and two invalid ones are equal.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x.core.cmp(&y.core).then_with(|| compare_pre(x.pre, y.pre)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0-alpha",
            "1.2.3",
        ];
        for w in ordered.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        assert_eq!(compare("1.0.0+build", "1.0.0"), Ordering::Equal);
        assert_eq!(compare("", "0.0.1"), Ordering::Less);
        for bad in ["", "v1.0.0", "1.0", "01.0.0", "1.0.0-01", "1.0.0-", "1.0.0+"] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
