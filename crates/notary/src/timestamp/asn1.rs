//! A small ASN.1 reader for RFC 3161 and CMS structures: BER→DER conversion
//! and a DER TLV walker.
//!
//! Tokens arrive as BER (indefinite lengths are allowed by CMS), so they are
//! first converted to DER the way tspclient-go does: lengths become definite
//! and minimal, nothing else changes (no SET OF re-sorting, constructed
//! strings stay constructed). The walker then reads DER field by field and
//! keeps every element's exact bytes, which the signature checks need. Error
//! texts follow Go's `encoding/asn1` where users may see them.

use const_oid::ObjectIdentifier;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Nesting bound for BER conversion; CMS tokens nest about a dozen deep.
const MAX_DEPTH: usize = 64;

/// Universal tags used here.
pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const UTC_TIME: u8 = 0x17;

/// An ASN.1 syntax problem, worded like Go's `encoding/asn1`.
pub(crate) type Asn1Error = String;

fn truncated() -> Asn1Error {
    "asn1: syntax error: sequence truncated".into()
}

/// One DER element: its identifier octet, content and full encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    /// The identifier octet (low-tag-number form only).
    pub(crate) tag: u8,
    /// The content octets.
    pub(crate) content: &'a [u8],
    /// Identifier, length and content.
    pub(crate) full: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// The elements inside a constructed value.
    pub(crate) fn reader(&self) -> Reader<'a> {
        Reader { rest: self.content }
    }
}

/// Reads consecutive DER elements.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Whether nothing is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, if any.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag.
    pub(crate) fn any(&mut self) -> Result<Tlv<'a>, Asn1Error> {
        let (tlv, rest) = read_der(self.rest)?;
        self.rest = rest;
        Ok(tlv)
    }

    /// The next element, which must have `tag`; `what` names it in errors.
    pub(crate) fn expect(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, Asn1Error> {
        let Some(found) = self.peek_tag() else {
            return Err(truncated());
        };
        if found != tag {
            return Err(format!(
                "asn1: structure error: tags don't match ({} vs {}) {what}",
                tag & 0x1f,
                found & 0x1f
            ));
        }
        self.any()
    }

    /// The next element if it has `tag`.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, Asn1Error> {
        if self.peek_tag() == Some(tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// An INTEGER as big-endian two's-complement bytes.
    pub(crate) fn integer_bytes(&mut self, what: &str) -> Result<&'a [u8], Asn1Error> {
        let tlv = self.expect(INTEGER, what)?;
        check_integer(tlv.content)?;
        Ok(tlv.content)
    }

    /// An INTEGER that fits an `i64`.
    pub(crate) fn small_int(&mut self, what: &str) -> Result<i64, Asn1Error> {
        let bytes = self.integer_bytes(what)?;
        int_value(bytes)
    }

    /// An OBJECT IDENTIFIER.
    pub(crate) fn oid(&mut self, what: &str) -> Result<ObjectIdentifier, Asn1Error> {
        let tlv = self.expect(OID, what)?;
        oid_from_content(tlv.content)
    }
}

/// Checks Go's INTEGER rules: not empty, minimally encoded.
pub(crate) fn check_integer(bytes: &[u8]) -> Result<(), Asn1Error> {
    match bytes {
        [] => Err("asn1: syntax error: empty integer".into()),
        [0x00, b, ..] if b & 0x80 == 0 => Err("asn1: structure error: integer not minimally-encoded".into()),
        [0xff, b, ..] if b & 0x80 != 0 => Err("asn1: structure error: integer not minimally-encoded".into()),
        _ => Ok(()),
    }
}

/// The value of a checked INTEGER's bytes as `i64`.
pub(crate) fn int_value(bytes: &[u8]) -> Result<i64, Asn1Error> {
    if bytes.len() > 8 {
        return Err("asn1: structure error: integer too large".into());
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut v: i64 = if negative { -1 } else { 0 };
    for b in bytes {
        v = (v << 8) | i64::from(*b);
    }
    Ok(v)
}

/// An OBJECT IDENTIFIER from its content octets.
pub(crate) fn oid_from_content(content: &[u8]) -> Result<ObjectIdentifier, Asn1Error> {
    ObjectIdentifier::from_bytes(content)
        .map_err(|e| format!("asn1: syntax error: invalid object identifier: {e}"))
}

/// The bytes of a positive big integer without sign padding (for comparing serials).
pub(crate) fn unsigned_magnitude(bytes: &[u8]) -> &[u8] {
    let mut b = bytes;
    while let [0, rest @ ..] = b {
        if rest.is_empty() {
            break;
        }
        b = rest;
    }
    b
}

/// Reads one DER element from the front of `input`.
pub(crate) fn read_der(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), Asn1Error> {
    let (&tag, after_tag) = input.split_first().ok_or_else(truncated)?;
    if tag & 0x1f == 0x1f {
        return Err("asn1: structure error: high-tag-number form is not supported".into());
    }
    let (len, header_rest) = match read_length(after_tag)? {
        Some(v) => v,
        None => return Err("asn1: syntax error: indefinite length found (not DER)".into()),
    };
    if header_rest.len() < len {
        return Err("asn1: syntax error: data truncated".into());
    }
    let header = input.len() - header_rest.len();
    let (content, rest) = header_rest.split_at(len);
    let full = input.get(..header + len).ok_or_else(truncated)?;
    Ok((Tlv { tag, content, full }, rest))
}

/// A definite length (`Some`) or the indefinite form (`None`), and what follows.
fn read_length(input: &[u8]) -> Result<Option<(usize, &[u8])>, Asn1Error> {
    let (&first, rest) = input.split_first().ok_or_else(truncated)?;
    if first < 0x80 {
        return Ok(Some((usize::from(first), rest)));
    }
    if first == 0x80 {
        return Ok(None);
    }
    let n = usize::from(first & 0x7f);
    if n > 4 {
        return Err("asn1: structure error: length too large".into());
    }
    if rest.len() < n {
        return Err(truncated());
    }
    let (len_bytes, rest) = rest.split_at(n);
    let len = len_bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Ok(Some((len, rest)))
}

/// Converts BER to DER: definite minimal lengths, everything else unchanged.
pub(crate) fn ber_to_der(ber: &[u8]) -> Result<Vec<u8>, Asn1Error> {
    if ber.is_empty() {
        return Err("asn1: syntax error: BER-encoded ASN.1 data structures is empty".into());
    }
    let (value, rest) = ber_value(ber, 0)?;
    if !rest.is_empty() {
        return Err("asn1: syntax error: trailing data".into());
    }
    let mut out = Vec::with_capacity(ber.len());
    value.encode(&mut out);
    Ok(out)
}

enum BerValue<'a> {
    Primitive(u8, &'a [u8]),
    Constructed(u8, Vec<BerValue<'a>>),
}

impl BerValue<'_> {
    fn content_len(&self) -> usize {
        match self {
            Self::Primitive(_, c) => c.len(),
            Self::Constructed(_, members) => members.iter().map(Self::encoded_len).sum(),
        }
    }

    fn encoded_len(&self) -> usize {
        let len = self.content_len();
        1 + length_octets(len).len() + len
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Primitive(tag, content) => {
                out.push(*tag);
                out.extend(length_octets(content.len()));
                out.extend_from_slice(content);
            }
            Self::Constructed(tag, members) => {
                out.push(*tag);
                out.extend(length_octets(self.content_len()));
                for m in members {
                    m.encode(out);
                }
            }
        }
    }
}

/// DER length octets for `len`.
pub(crate) fn length_octets(len: usize) -> Vec<u8> {
    if len < 0x80 {
        // Fits in seven bits.
        return vec![len as u8];
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    let mut out = Vec::with_capacity(1 + significant.len());
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
    out
}

fn ber_value(input: &[u8], depth: usize) -> Result<(BerValue<'_>, &[u8]), Asn1Error> {
    if depth > MAX_DEPTH {
        return Err("asn1: syntax error: nesting too deep".into());
    }
    let (&tag, after_tag) = input.split_first().ok_or_else(truncated)?;
    if tag & 0x1f == 0x1f {
        return Err("asn1: structure error: high-tag-number form is not supported".into());
    }
    let constructed = tag & 0x20 != 0;
    match read_length(after_tag)? {
        Some((len, rest)) => {
            if rest.len() < len {
                return Err("asn1: syntax error: data truncated".into());
            }
            let (content, rest) = rest.split_at(len);
            if !constructed {
                return Ok((BerValue::Primitive(tag, content), rest));
            }
            let mut members = Vec::new();
            let mut inner = content;
            while !inner.is_empty() {
                let (m, r) = ber_value(inner, depth + 1)?;
                members.push(m);
                inner = r;
            }
            Ok((BerValue::Constructed(tag, members), rest))
        }
        None => {
            if !constructed {
                return Err("asn1: syntax error: indefinite length on a primitive value".into());
            }
            let mut members = Vec::new();
            let mut inner = after_tag.get(1..).ok_or_else(truncated)?;
            loop {
                if let [0, 0, rest @ ..] = inner {
                    return Ok((BerValue::Constructed(tag, members), rest));
                }
                if inner.is_empty() {
                    return Err("asn1: syntax error: missing end-of-contents".into());
                }
                let (m, r) = ber_value(inner, depth + 1)?;
                members.push(m);
                inner = r;
            }
        }
    }
}

/// A GeneralizedTime (`YYYYMMDDHHMMSS[.f*]Z`) in UTC.
pub(crate) fn generalized_time(content: &[u8]) -> Result<OffsetDateTime, Asn1Error> {
    let bad = || -> Asn1Error { "asn1: time did not serialize back to the original value".into() };
    let s = std::str::from_utf8(content).map_err(|_| bad())?;
    let s = s.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, Asn1Error> {
        whole.get(r).and_then(|v| v.parse().ok()).ok_or_else(bad)
    };
    let year = i32::try_from(num(0..4)?).map_err(|_| bad())?;
    let month = Month::try_from(u8::try_from(num(4..6)?).map_err(|_| bad())?).map_err(|_| bad())?;
    let to_u8 = |v: u32| u8::try_from(v).map_err(|_| bad());
    let date = Date::from_calendar_date(year, month, to_u8(num(6..8)?)?).map_err(|_| bad())?;
    let mut nanos = 0u32;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) || f.ends_with('0') {
            return Err(bad());
        }
        let padded = format!("{f:0<9}");
        nanos = padded.parse().map_err(|_| bad())?;
    }
    let time = Time::from_hms_nano(
        to_u8(num(8..10)?)?,
        to_u8(num(10..12)?)?,
        to_u8(num(12..14)?)?,
        nanos,
    )
    .map_err(|_| bad())?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

/// A UTCTime (`YYMMDDHHMMSSZ`) in UTC, years 1950–2049.
pub(crate) fn utc_time(content: &[u8]) -> Result<OffsetDateTime, Asn1Error> {
    let s = std::str::from_utf8(content).map_err(|_| "asn1: invalid UTCTime".to_string())?;
    let yy: i32 = s
        .get(0..2)
        .and_then(|v| v.parse().ok())
        .ok_or("asn1: invalid UTCTime")?;
    let century = if yy >= 50 { "19" } else { "20" };
    generalized_time(format!("{century}{s}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ber_indefinite_lengths_become_definite() {
        // SEQUENCE (indefinite) { INTEGER 5, [0] (indefinite) { OCTET STRING "a" } }
        let ber = [
            0x30, 0x80, 0x02, 0x01, 0x05, 0xa0, 0x80, 0x04, 0x01, b'a', 0, 0, 0, 0,
        ];
        let der = ber_to_der(&ber).unwrap();
        assert_eq!(der, [0x30, 0x08, 0x02, 0x01, 0x05, 0xa0, 0x03, 0x04, 0x01, b'a']);
    }

    #[test]
    fn long_form_lengths_are_minimised() {
        let ber = [0x04, 0x82, 0x00, 0x01, 0x07];
        assert_eq!(ber_to_der(&ber).unwrap(), [0x04, 0x01, 0x07]);
    }

    #[test]
    fn generalized_time_with_fraction() {
        let t = generalized_time(b"20240618062937.123Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_718_692_177);
        assert_eq!(t.millisecond(), 123);
        assert!(generalized_time(b"20240618062937").is_err());
    }

    #[test]
    fn integers() {
        assert_eq!(int_value(&[0x01, 0x00]).unwrap(), 256);
        assert_eq!(int_value(&[0xff]).unwrap(), -1);
        assert!(check_integer(&[0x00, 0x01]).is_err());
    }
}
