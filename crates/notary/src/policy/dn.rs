//! Distinguished names as `x509.subject` trusted identities use them.
//!
//! notation parses a DN with go-ldap's `ParseDN` (RFC 4514: `,`/`;` between
//! RDNs, `+` inside a multi-valued RDN, `\`-escapes, `#`-hex BER values) and
//! then applies its own rules: no `=#` anywhere, no multi-valued RDNs, no
//! repeated attribute types, and `C`, `ST` (or its alias `S`) and `O` present.
//! This module reproduces both layers, including go-ldap's quirks (attribute
//! types are case-sensitive, only ASCII spaces around values are trimmed), so a
//! policy notation accepts is accepted here and vice versa.
//!
//! The certificate side is the signing certificate's subject in Go's
//! `pkix.Name.String()` form, parsed with the same rules; matching is
//! notation's `IsSubsetDN`: every attribute of the identity must appear with
//! the same value in the certificate's subject.

use std::fmt;

use super::error::{TrustPolicyError, go_quote};

/// The attribute types every `x509.subject` identity must carry.
const MANDATORY: [&str; 3] = ["C", "ST", "O"];

/// A parsed distinguished name: single-valued RDNs with unique attribute types.
///
/// It keeps the text it was parsed from, because notation's messages and a
/// re-serialised policy show the DN exactly as the user wrote it (including
/// a leading space after `x509.subject:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistinguishedName {
    raw: String,
    attributes: Vec<(String, String)>,
}

impl DistinguishedName {
    /// Parses `name` with the RFC 4514 grammar and the Notary Project DN rules.
    pub fn parse(name: &str) -> Result<Self, TrustPolicyError> {
        if name.contains("=#") {
            return Err(TrustPolicyError::DistinguishedName(format!(
                "unsupported distinguished name (DN) {}: notation does not support x509.subject identities containing \"=#\"",
                go_quote(name)
            )));
        }
        let rdns = parse_rfc4514(name).map_err(|err| {
            TrustPolicyError::DistinguishedName(format!(
                "parsing distinguished name (DN) {} failed with err: {err}. A valid DN must contain 'C', 'ST' or 'S', and 'O' RDN attributes at a minimum, and follow RFC 4514 standard",
                go_quote(name)
            ))
        })?;
        let mut attributes: Vec<(String, String)> = Vec::new();
        for rdn in rdns {
            if rdn.len() > 1 {
                return Err(TrustPolicyError::DistinguishedName(format!(
                    "distinguished name (DN) {} has multi-valued RDN attributes, remove multi-valued RDN attributes as they are not supported",
                    go_quote(name)
                )));
            }
            for (kind, value) in rdn {
                let kind = if kind == "S" { "ST".to_owned() } else { kind };
                // Like notation's map, an attribute seen with an empty value
                // may be given again; a non-empty one may not.
                match attributes.iter_mut().find(|(k, _)| *k == kind) {
                    None => attributes.push((kind, value)),
                    Some((_, existing)) if existing.is_empty() => *existing = value,
                    Some(_) => {
                        return Err(TrustPolicyError::DistinguishedName(format!(
                            "distinguished name (DN) {} has duplicate RDN attribute for {}, DN can only have unique RDN attributes",
                            go_quote(name),
                            go_quote(&kind)
                        )));
                    }
                }
            }
        }
        let dn = Self {
            raw: name.to_owned(),
            attributes,
        };
        for field in MANDATORY {
            if dn.get(field).is_empty() {
                return Err(TrustPolicyError::DistinguishedName(format!(
                    "distinguished name (DN) {} has no mandatory RDN attribute for {}, it must contain 'C', 'ST' or 'S', and 'O' RDN attributes at a minimum",
                    go_quote(name),
                    go_quote(field)
                )));
            }
        }
        Ok(dn)
    }

    /// The text the DN was parsed from, unchanged.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The attributes as `(type, value)` pairs, in the order they were written
    /// (`S` already renamed to `ST`).
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of attribute `kind`, or `""` when absent (as a Go map lookup).
    pub fn get(&self, kind: &str) -> &str {
        self.attributes
            .iter()
            .find(|(k, _)| k == kind)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether every attribute of `self` has the same value in `other`
    /// (notation's `IsSubsetDN(self, other)`).
    pub fn is_subset_of(&self, other: &Self) -> bool {
        self.attributes.iter().all(|(k, v)| other.get(k) == v)
    }

    /// The attributes as Go prints a `map[string]string` with `%q`:
    /// `map["C":"US" "O":"Org"]`, keys sorted.
    pub(crate) fn go_map_repr(&self) -> String {
        let mut pairs: Vec<&(String, String)> = self.attributes.iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let inner: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
            .collect();
        format!("map[{}]", inner.join(" "))
    }
}

impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// One RDN: its `(type, value)` attributes (more than one when joined by `+`).
type Rdn = Vec<(String, String)>;

/// Splits and unescapes a DN as go-ldap's `ParseDN` does; errors carry its text.
fn parse_rfc4514(s: &str) -> Result<Vec<Rdn>, String> {
    let mut rdns = Vec::new();
    if s.trim().is_empty() {
        return Ok(rdns);
    }
    let mut rdn = Vec::new();
    let mut kind = String::new();
    let mut escaping = false;
    let mut start = 0;
    // Only ASCII bytes are significant, so every slice boundary below falls on
    // a character boundary; `get` keeps that an error rather than a panic.
    let slice = |from: usize, to: usize| s.get(from..to).ok_or("invalid character boundary");
    for (i, &c) in s.as_bytes().iter().enumerate() {
        if escaping {
            escaping = false;
            continue;
        }
        match c {
            b'\\' => escaping = true,
            b'=' if kind.is_empty() => {
                kind = decode_string(slice(start, i)?)?;
                start = i + 1;
            }
            b',' | b'+' | b';' => {
                if kind.is_empty() {
                    return Err("incomplete type, value pair".to_owned());
                }
                let value = decode_value(slice(start, i)?)?;
                rdn.push((std::mem::take(&mut kind), value));
                start = i + 1;
                if c != b'+' {
                    rdns.push(std::mem::take(&mut rdn));
                }
            }
            _ => {}
        }
    }
    if kind.is_empty() {
        return Err("DN ended with incomplete type, value pair".to_owned());
    }
    let value = decode_value(slice(start, s.len())?)?;
    rdn.push((kind, value));
    rdns.push(rdn);
    Ok(rdns)
}

/// An attribute value: `#` + hex of a BER encoding, or an escaped string.
fn decode_value(s: &str) -> Result<String, String> {
    match s.strip_prefix('#') {
        Some(hex_ber) => decode_ber_hex(hex_ber),
        None => decode_string(s),
    }
}

/// Trims ASCII spaces (keeping an escaped trailing one) and resolves `\`-escapes.
fn decode_string(raw: &str) -> Result<String, String> {
    let mut trimmed = raw.trim_matches(' ').to_owned();
    if trimmed.ends_with('\\') && raw.ends_with(' ') {
        trimmed.push(' ');
    }
    let chars: Vec<char> = trimmed.chars().collect();
    let mut out: Vec<u8> = Vec::with_capacity(trimmed.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            i += 1;
            continue;
        }
        let Some(&next) = chars.get(i + 1) else {
            return Err(format!("got corrupted escaped character: '{trimmed}'"));
        };
        if matches!(next, ' ' | '"' | '#' | '+' | ',' | ';' | '<' | '=' | '>' | '\\') {
            let mut buf = [0u8; 4];
            out.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
            i += 2;
            continue;
        }
        let Some(&second) = chars.get(i + 2) else {
            return Err(format!(
                "failed to decode escaped character: encoding/hex: invalid byte: {next}"
            ));
        };
        let pair: String = [next, second].iter().collect();
        if pair.len() != 2 {
            return Err(format!(
                "failed to decode escaped character: invalid byte: {pair}"
            ));
        }
        let byte = hex::decode(&pair)
            .ok()
            .and_then(|b| b.first().copied())
            .ok_or_else(|| {
                let bad = if next.is_ascii_hexdigit() { second } else { next };
                format!(
                    "failed to decode escaped character: encoding/hex: invalid byte: U+{:04X} '{bad}'",
                    bad as u32
                )
            })?;
        out.push(byte);
        i += 3;
    }
    String::from_utf8(out).map_err(|_| "escaped value is not valid UTF-8".to_owned())
}

/// Decodes `#`-hex BER (RFC 4514 §2.4) and returns the value's content octets.
fn decode_ber_hex(hex_str: &str) -> Result<String, String> {
    let der = hex::decode(hex_str).map_err(|e| format!("failed to decode BER encoding: {e}"))?;
    let bad = || "failed to decode BER encoding: truncated or unsupported encoding".to_owned();
    let mut pos = 1usize;
    if der.first().ok_or_else(bad)? & 0x1f == 0x1f {
        // High tag number form: base-128 continuation bytes.
        while der.get(pos).ok_or_else(bad)? & 0x80 != 0 {
            pos += 1;
        }
        pos += 1;
    }
    let first_len = *der.get(pos).ok_or_else(bad)?;
    pos += 1;
    let len = if first_len & 0x80 == 0 {
        usize::from(first_len)
    } else {
        let n = usize::from(first_len & 0x7f);
        if n == 0 || n > 4 {
            return Err(bad());
        }
        let mut len = 0usize;
        for _ in 0..n {
            len = (len << 8) | usize::from(*der.get(pos).ok_or_else(bad)?);
            pos += 1;
        }
        len
    };
    let content = der.get(pos..pos.saturating_add(len)).ok_or_else(bad)?;
    String::from_utf8(content.to_vec()).map_err(|_| "BER value is not valid UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4514_escapes_and_separators() {
        let rdns = parse_rfc4514(r"CN=a\,b\+c ,O= x\20y\ ;C=US+ST=WA").unwrap_or_default();
        let flat: Vec<_> = rdns.iter().map(Vec::len).collect();
        assert_eq!(flat, [1, 1, 2]);
        assert_eq!(rdns[0][0], ("CN".into(), "a,b+c".into()));
        assert_eq!(rdns[1][0], ("O".into(), "x y ".into()));
        assert_eq!(parse_rfc4514("CN=#0c03616263").unwrap_or_default()[0][0].1, "abc");
        assert_eq!(
            parse_rfc4514(",,,").err().as_deref(),
            Some("incomplete type, value pair")
        );
        assert!(parse_rfc4514(r"CN=a\").is_err());
        assert!(parse_rfc4514(r"CN=a\zz").is_err());
        assert!(parse_rfc4514("CN").is_err());
    }

    #[test]
    fn notation_rules() {
        let dn = DistinguishedName::parse("C=US, S=WA, O=Acme").expect("valid");
        assert_eq!(dn.get("ST"), "WA");
        assert!(DistinguishedName::parse("C=US,ST=California").is_err());
        assert!(DistinguishedName::parse("OU=Sales+CN=J. Smith,C=US,ST=WA,O=x").is_err());
        assert!(DistinguishedName::parse("C=US,ST=WA,O=x,S=WA").is_err());
        assert!(DistinguishedName::parse("C=US,ST=WA,O=x=#").is_err());
        // Types are case-sensitive, as in go-ldap.
        assert!(DistinguishedName::parse("c=US,st=WA,o=x").is_err());
    }
}
