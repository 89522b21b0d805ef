//! A minimal DER writer and a bounded DER reader.
//!
//! Everything this module signs is assembled from byte strings directly: it
//! is the fastest way to build a TBSCertificate per signing job, and it keeps
//! the exact bytes under control (what is signed is what is sent).

use const_oid::ObjectIdentifier;
use time::OffsetDateTime;

pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
pub(crate) const ENUMERATED: u8 = 0x0a;
pub(crate) const UTF8_STRING: u8 = 0x0c;
pub(crate) const PRINTABLE_STRING: u8 = 0x13;
pub(crate) const IA5_STRING: u8 = 0x16;
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;

/// Context-specific constructed tag `[n]`.
pub(crate) const fn ctx(n: u8) -> u8 {
    0xa0 | n
}

/// Context-specific primitive tag `[n]`.
pub(crate) const fn ctx_prim(n: u8) -> u8 {
    0x80 | n
}

/// Appends the DER length octets of `len` to `out`.
pub(crate) fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

/// A TLV with one content slice.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// A TLV whose content is the concatenation of `parts`.
pub(crate) fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    push_len(&mut out, len);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// `SEQUENCE { parts… }`.
pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    cons(SEQUENCE, parts)
}

/// An OBJECT IDENTIFIER.
pub(crate) fn oid(o: &ObjectIdentifier) -> Vec<u8> {
    tlv(OID, o.as_bytes())
}

/// `AlgorithmIdentifier { oid, NULL }`.
pub(crate) fn alg_null(o: &ObjectIdentifier) -> Vec<u8> {
    seq(&[&oid(o), &[NULL, 0]])
}

/// `AlgorithmIdentifier { oid }` without parameters.
pub(crate) fn alg_absent(o: &ObjectIdentifier) -> Vec<u8> {
    seq(&[&oid(o)])
}

/// The magnitude of a big-endian unsigned number without leading zero bytes.
pub(crate) fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(skip..).unwrap_or_default()
}

/// A non-negative INTEGER from a big-endian magnitude.
pub(crate) fn uint(magnitude: &[u8]) -> Vec<u8> {
    let m = strip_zeros(magnitude);
    let mut content = Vec::with_capacity(m.len() + 1);
    if m.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(m);
    tlv(INTEGER, &content)
}

/// A small non-negative INTEGER.
pub(crate) fn small_uint(n: u64) -> Vec<u8> {
    uint(&n.to_be_bytes())
}

/// An OCTET STRING.
pub(crate) fn octets(content: &[u8]) -> Vec<u8> {
    tlv(OCTET_STRING, content)
}

/// A BIT STRING with no unused bits.
pub(crate) fn bits(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(BIT_STRING);
    push_len(&mut out, content.len() + 1);
    out.push(0);
    out.extend_from_slice(content);
    out
}

/// A named-bit BIT STRING with exactly the bits `set` (DER: no trailing zero bits).
pub(crate) fn named_bits(set: &[u8]) -> Vec<u8> {
    let Some(&max) = set.iter().max() else {
        return vec![BIT_STRING, 1, 0];
    };
    let mut bytes = vec![0u8; usize::from(max / 8) + 1];
    for &bit in set {
        if let Some(b) = bytes.get_mut(usize::from(bit / 8)) {
            *b |= 0x80 >> (bit % 8);
        }
    }
    let unused = 7 - (max % 8);
    let mut content = vec![unused];
    content.extend_from_slice(&bytes);
    tlv(BIT_STRING, &content)
}

/// `BOOLEAN TRUE`.
pub(crate) const TRUE: [u8; 3] = [BOOLEAN, 1, 0xff];

/// A GeneralizedTime, whole seconds, UTC.
pub(crate) fn generalized_time(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    tlv(GENERALIZED_TIME, s.as_bytes())
}

/// An X.509 `Time`: UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5).
pub(crate) fn x509_time(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    if (1950..2050).contains(&t.year()) {
        let s = format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}Z",
            t.year() % 100,
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        tlv(UTC_TIME, s.as_bytes())
    } else {
        generalized_time(t)
    }
}

/// One decoded TLV.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) content: &'a [u8],
    pub(crate) full: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over the content.
    pub(crate) fn reader(&self) -> Reader<'a> {
        Reader::new(self.content)
    }
}

/// A bounded DER reader: single-byte tags, definite lengths only.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next tag without consuming it.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Reads any TLV.
    pub(crate) fn any(&mut self) -> Result<Tlv<'a>, String> {
        let data = self.data;
        let (&tag, rest) = data.split_first().ok_or("unexpected end of data")?;
        if tag & 0x1f == 0x1f {
            return Err("multi-byte tags are not supported".into());
        }
        let (&first, mut rest) = rest.split_first().ok_or("truncated length")?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return Err("indefinite length is not DER".into());
            }
            if n > 4 || rest.len() < n {
                return Err("bad length".into());
            }
            let (bytes, after) = rest.split_at(n);
            rest = after;
            let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            if len < 0x80 || bytes.first() == Some(&0) {
                return Err("non-minimal length".into());
            }
            len
        };
        if rest.len() < len {
            return Err("length exceeds the data".into());
        }
        let (content, after) = rest.split_at(len);
        let header = data.len() - rest.len();
        let full = data.get(..header + len).ok_or("length exceeds the data")?;
        self.data = after;
        Ok(Tlv { content, full })
    }

    /// Reads a TLV that must have tag `tag`.
    pub(crate) fn expect(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, String> {
        match self.peek_tag() {
            Some(t) if t == tag => self.any(),
            Some(t) => Err(format!("{what}: expected tag 0x{tag:02x}, found 0x{t:02x}")),
            None => Err(format!("{what}: missing")),
        }
    }

    /// Reads a TLV with tag `tag` if it comes next.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, String> {
        if self.peek_tag() == Some(tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads an OBJECT IDENTIFIER.
    pub(crate) fn oid(&mut self, what: &str) -> Result<ObjectIdentifier, String> {
        let t = self.expect(OID, what)?;
        ObjectIdentifier::from_bytes(t.content).map_err(|e| format!("{what}: {e}"))
    }

    /// Reads an INTEGER's content octets, checking they are minimal.
    pub(crate) fn integer(&mut self, what: &str) -> Result<&'a [u8], String> {
        let t = self.expect(INTEGER, what)?;
        check_integer(t.content).map_err(|e| format!("{what}: {e}"))?;
        Ok(t.content)
    }

    /// Fails unless everything was read.
    pub(crate) fn finish(&self, what: &str) -> Result<(), String> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(format!("{what}: trailing data"))
        }
    }
}

/// Checks INTEGER content octets are non-empty and minimally encoded.
pub(crate) fn check_integer(content: &[u8]) -> Result<(), String> {
    match content {
        [] => Err("empty INTEGER".into()),
        [0, b, ..] if b & 0x80 == 0 => Err("non-minimal INTEGER".into()),
        [0xff, b, ..] if b & 0x80 != 0 => Err("non-minimal INTEGER".into()),
        _ => Ok(()),
    }
}

/// Reads exactly one TLV spanning all of `der`.
pub(crate) fn single<'a>(der: &'a [u8], tag: u8, what: &str) -> Result<Tlv<'a>, String> {
    let mut r = Reader::new(der);
    let t = r.expect(tag, what)?;
    r.finish(what)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(uint(&[0x00, 0x80]), [2, 2, 0, 0x80]);
        assert_eq!(uint(&[]), [2, 1, 0]);
        assert_eq!(small_uint(1), [2, 1, 1]);
        assert_eq!(named_bits(&[0]), [3, 2, 7, 0x80]);
        assert_eq!(named_bits(&[5, 6]), [3, 2, 1, 0x06]);
        assert_eq!(named_bits(&[15]), [3, 3, 0, 0, 1]);
        let long = tlv(OCTET_STRING, &[0; 300]);
        assert_eq!(long.get(..4), Some(&[4, 0x82, 1, 44][..]));
        let mut r = Reader::new(&long);
        assert_eq!(r.any().map(|t| t.content.len()), Ok(300));
        assert!(Reader::new(&[4, 0x81, 5]).any().is_err());
        assert!(Reader::new(&[4, 0x80]).any().is_err());
    }
}
