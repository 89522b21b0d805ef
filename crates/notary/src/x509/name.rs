//! Distinguished names printed the way notation prints them.
//!
//! notation's error messages and `cert show` output name certificates with Go's
//! `pkix.Name.String()`, and users match on those texts, so Signet reproduces
//! that form exactly rather than RFC 4514's. Go first folds the parsed
//! attributes into named fields (C, ST, L, STREET, POSTALCODE, O, OU, CN,
//! SERIALNUMBER; CN and SERIALNUMBER keep only the last value, the others keep
//! every value as one multi-valued RDN), puts attributes it has no field for in
//! front, and then prints the whole sequence *reversed*. So the printed order
//! depends on the attribute types, never on the DER order:
//! `SERIALNUMBER, CN, OU, O, POSTALCODE, STREET, L, ST, C`, then the other
//! attributes (as `oid=#hex`) in reverse DER order.
//!
//! Values are escaped like Go does (RFC 4514 style): `,` `+` `"` `\` `<` `>`
//! `;` always, `#` at the start, a space at the start or end.

use const_oid::ObjectIdentifier;
use der::{Tag, Tagged as _};
use x509_cert::name::Name;

/// One attribute of a distinguished name, with its value decoded as a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attribute {
    oid: ObjectIdentifier,
    value: String,
}

/// A distinguished name in DER order, every value decoded to text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct DistinguishedName {
    attributes: Vec<Attribute>,
}

/// The attribute-type arcs under 2.5.4 that Go folds into named fields, with
/// their short names, in the order `ToRDNSequence` emits them.
const FIELDS: [(u32, &str); 9] = [
    (6, "C"),
    (8, "ST"),
    (7, "L"),
    (9, "STREET"),
    (17, "POSTALCODE"),
    (10, "O"),
    (11, "OU"),
    (3, "CN"),
    (5, "SERIALNUMBER"),
];

/// The arc `n` when `oid` is `2.5.4.n`.
fn x520_arc(oid: &ObjectIdentifier) -> Option<u32> {
    let arcs: Vec<u32> = oid.arcs().collect();
    match arcs.as_slice() {
        [2, 5, 4, n] => Some(*n),
        _ => None,
    }
}

impl DistinguishedName {
    /// Decodes every attribute value; a value that is not one of the ASN.1
    /// string types X.509 names use is an error (Go rejects such certificates).
    pub(crate) fn from_name(name: &Name) -> Result<Self, String> {
        let mut attributes = Vec::new();
        for atv in name.iter() {
            let value = decode_string(atv.value.tag(), atv.value.value())?;
            attributes.push(Attribute { oid: atv.oid, value });
        }
        Ok(Self { attributes })
    }

    /// Builds a name from `(oid, value)` pairs in DER order (tests).
    #[cfg(test)]
    fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let attributes = pairs
            .iter()
            .map(|(oid, value)| Attribute {
                oid: ObjectIdentifier::new_unwrap(oid),
                value: (*value).to_string(),
            })
            .collect();
        Self { attributes }
    }

    /// The value of the last attribute of type `2.5.4.arc`, if any.
    pub(crate) fn last_value(&self, arc: u32) -> Option<&str> {
        self.attributes
            .iter()
            .rev()
            .find(|a| x520_arc(&a.oid) == Some(arc))
            .map(|a| a.value.as_str())
    }

    /// Go's `pkix.Name.String()`.
    pub(crate) fn go_string(&self) -> String {
        // The sequence Go builds, before printing it reversed.
        let mut rdns: Vec<Vec<String>> = Vec::new();
        for attr in &self.attributes {
            let folded = x520_arc(&attr.oid).is_some_and(|n| FIELDS.iter().any(|(arc, _)| *arc == n));
            if !folded {
                rdns.push(vec![format!(
                    "{}=#{}",
                    attr.oid,
                    hex::encode(go_marshal_string(&attr.value))
                )]);
            }
        }
        for (arc, short) in FIELDS {
            let values: Vec<&str> = match arc {
                // Single-valued fields: the last value wins; empty means absent.
                3 | 5 => self
                    .last_value(arc)
                    .filter(|v| !v.is_empty())
                    .into_iter()
                    .collect(),
                _ => self
                    .attributes
                    .iter()
                    .filter(|a| x520_arc(&a.oid) == Some(arc))
                    .map(|a| a.value.as_str())
                    .collect(),
            };
            if !values.is_empty() {
                rdns.push(
                    values
                        .iter()
                        .map(|v| format!("{short}={}", escape_value(v)))
                        .collect(),
                );
            }
        }
        rdns.iter()
            .rev()
            .map(|rdn| rdn.join("+"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Escapes a value as Go's `RDNSequence.String` does.
fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.len().saturating_sub(1);
    for (k, c) in value.char_indices() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k == last,
            '#' => k == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Decodes an attribute value the way Go's certificate parser does.
fn decode_string(tag: Tag, bytes: &[u8]) -> Result<String, String> {
    match tag {
        Tag::PrintableString => {
            let ok = bytes.iter().all(|&b| is_printable(b, true, true));
            ok.then(|| bytes.iter().map(|&b| char::from(b)).collect())
                .ok_or_else(|| "invalid PrintableString".to_string())
        }
        Tag::Utf8String => String::from_utf8(bytes.to_vec()).map_err(|_| "invalid UTF-8 string".to_string()),
        Tag::Ia5String => bytes
            .is_ascii()
            .then(|| bytes.iter().map(|&b| char::from(b)).collect())
            .ok_or_else(|| "invalid IA5String".to_string()),
        Tag::NumericString => bytes
            .iter()
            .all(|&b| b.is_ascii_digit() || b == b' ')
            .then(|| bytes.iter().map(|&b| char::from(b)).collect())
            .ok_or_else(|| "invalid NumericString".to_string()),
        // Go keeps T61String bytes as they are; Rust strings must be UTF-8, so
        // bytes that are not are read as Latin-1.
        Tag::TeletexString => Ok(String::from_utf8(bytes.to_vec())
            .unwrap_or_else(|_| bytes.iter().map(|&b| char::from(b)).collect())),
        Tag::BmpString => {
            if !bytes.len().is_multiple_of(2) {
                return Err("invalid BMPString".to_string());
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).map_err(|_| "invalid BMPString".to_string())
        }
        other => Err(format!("unsupported string type: {other}")),
    }
}

/// ASN.1 PrintableString characters (Go's `isPrintable`).
fn is_printable(b: u8, allow_asterisk: bool, allow_ampersand: bool) -> bool {
    b.is_ascii_alphanumeric()
        || (b'\''..=b')').contains(&b)
        || (b'+'..=b'/').contains(&b)
        || matches!(b, b' ' | b':' | b'=' | b'?')
        || (allow_asterisk && b == b'*')
        || (allow_ampersand && b == b'&')
}

/// What Go's `asn1.Marshal` makes of a string: a PrintableString when every
/// character allows it, a UTF8String otherwise.
fn go_marshal_string(value: &str) -> Vec<u8> {
    let printable = value.bytes().all(|b| is_printable(b, false, false));
    let tag = if printable { 0x13 } else { 0x0c };
    let len = value.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        let significant = be.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(value.as_bytes());
    out
}

/// Go's `%q` (`strconv.Quote`): double quotes around the text, with `"` and
/// `\` escaped and non-printable characters written as escapes.
///
/// Go decides printability with Unicode tables; this approximation treats
/// control, format and non-ASCII whitespace characters as non-printable.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn go_printable(c: char) -> bool {
    if c.is_ascii() {
        return c == ' ' || c.is_ascii_graphic();
    }
    let format_char = matches!(c as u32, 0xad | 0x600..=0x605 | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff);
    !(c.is_control() || c.is_whitespace() || format_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CN: &str = "2.5.4.3";
    const C: &str = "2.5.4.6";
    const ST: &str = "2.5.4.8";
    const L: &str = "2.5.4.7";
    const O: &str = "2.5.4.10";
    const OU: &str = "2.5.4.11";

    #[test]
    fn order_follows_go_not_der() {
        let dn =
            DistinguishedName::from_pairs(&[(O, "Internet Widgits Pty Ltd"), (ST, "Some-State"), (C, "AU")]);
        assert_eq!(dn.go_string(), "O=Internet Widgits Pty Ltd,ST=Some-State,C=AU");
        let dn = DistinguishedName::from_pairs(&[
            (C, "US"),
            (ST, "WA"),
            (L, "Seattle"),
            (O, "Notary"),
            (CN, "e2e"),
        ]);
        assert_eq!(dn.go_string(), "CN=e2e,O=Notary,L=Seattle,ST=WA,C=US");
        let dn = DistinguishedName::from_pairs(&[
            (CN, "e2e"),
            (O, "Notary"),
            (L, "Seattle"),
            (ST, "WA"),
            (C, "US"),
        ]);
        assert_eq!(dn.go_string(), "CN=e2e,O=Notary,L=Seattle,ST=WA,C=US");
    }

    #[test]
    fn escaping() {
        let dn = DistinguishedName::from_pairs(&[(CN, "a,b+c\"d\\e<f>g;h")]);
        assert_eq!(dn.go_string(), r#"CN=a\,b\+c\"d\\e\<f\>g\;h"#);
        let dn = DistinguishedName::from_pairs(&[(CN, "#lead # mid")]);
        assert_eq!(dn.go_string(), r"CN=\#lead # mid");
        let dn = DistinguishedName::from_pairs(&[(CN, " both ends ")]);
        assert_eq!(dn.go_string(), r"CN=\ both ends\ ");
        let dn = DistinguishedName::from_pairs(&[(O, "DigiCert, Inc."), (C, "US")]);
        assert_eq!(dn.go_string(), r"O=DigiCert\, Inc.,C=US");
        assert_eq!(go_quote(&dn.go_string()), r#""O=DigiCert\\, Inc.,C=US""#);
    }

    #[test]
    fn multi_valued_fields_join_with_plus() {
        let dn = DistinguishedName::from_pairs(&[(OU, "a"), (CN, "x"), (OU, "b"), (CN, "y")]);
        // CN keeps only the last value; OU values form one RDN.
        assert_eq!(dn.go_string(), "CN=y,OU=a+OU=b");
    }

    #[test]
    fn empty_values() {
        let dn = DistinguishedName::from_pairs(&[(CN, ""), (L, ""), (C, "US")]);
        assert_eq!(dn.go_string(), "L=,C=US");
    }

    #[test]
    fn unknown_attributes_go_last_as_hex() {
        let dn = DistinguishedName::from_pairs(&[
            ("1.2.840.113549.1.9.1", "a@b.c"),
            (CN, "n"),
            ("2.5.4.4", "Doe"),
        ]);
        // emailAddress: '@' is not printable, so Go marshals a UTF8String.
        assert_eq!(
            dn.go_string(),
            "CN=n,2.5.4.4=#1303446f65,1.2.840.113549.1.9.1=#0c056140622e63"
        );
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\x01é\"");
        assert_eq!(go_quote("\u{a0}"), "\"\\u00a0\"");
    }
}
