//! PEM decoding and the little DER reading the emulator needs: an X.509 certificate's validity and
//! RSA public key, so that client assertions can be verified against registered certificates.

use crate::util;

/// A registered certificate, parsed.
#[derive(Debug, Clone)]
pub(crate) struct ParsedCertificate {
    /// The DER bytes.
    pub(crate) der: Vec<u8>,
    /// SHA-1 of the DER (the `x5t` thumbprint).
    pub(crate) sha1: Vec<u8>,
    /// SHA-256 of the DER (the `x5t#S256` thumbprint).
    pub(crate) sha256: Vec<u8>,
    /// PKCS#1 `RSAPublicKey` DER, when the key is RSA.
    pub(crate) rsa_public_key: Option<Vec<u8>>,
    /// `notBefore`, Unix seconds.
    pub(crate) not_before: i64,
    /// `notAfter`, Unix seconds.
    pub(crate) not_after: i64,
}

/// Every PEM block in `text` with the given label, decoded.
pub(crate) fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else { break };
        let body: String = after[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Some(der) = util::b64_decode(&body) {
            out.push(der);
        }
        rest = &after[stop + end.len()..];
    }
    out
}

/// Reads one DER TLV: (tag, content, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn parse_time(tag: u8, content: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(content).ok()?;
    let s = s.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = s.get(0..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| -> Option<u32> { rest.get(r)?.parse().ok() };
    let (month, day, hour, minute) = (num(0..2)?, num(2..4)?, num(4..6)?, num(6..8)?);
    let second = num(8..10).unwrap_or(0);
    Some(
        util::days_from_civil(year, month, day) * 86_400
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second),
    )
}

/// Parses a DER certificate.
pub(crate) fn parse_certificate(der: &[u8]) -> Option<ParsedCertificate> {
    let (tag, cert, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, tbs, _) = tlv(cert)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = tbs;
    let (mut tag, mut content, mut next) = tlv(rest)?;
    if tag == 0xa0 {
        rest = next;
        (tag, content, next) = tlv(rest)?;
    }
    // serial
    if tag != 0x02 {
        return None;
    }
    let _ = content;
    let (_sig_alg_tag, _, next) = tlv(next)?;
    let (_issuer_tag, _, next) = tlv(next)?;
    let (validity_tag, validity, next) = tlv(next)?;
    if validity_tag != 0x30 {
        return None;
    }
    let (t1, c1, vrest) = tlv(validity)?;
    let (t2, c2, _) = tlv(vrest)?;
    let not_before = parse_time(t1, c1)?;
    let not_after = parse_time(t2, c2)?;
    let (_subject_tag, _, next) = tlv(next)?;
    let (spki_tag, spki, _) = tlv(next)?;
    if spki_tag != 0x30 {
        return None;
    }
    let (_, alg, spki_rest) = tlv(spki)?;
    let (_, oid, _) = tlv(alg)?;
    let (bits_tag, bits, _) = tlv(spki_rest)?;
    let rsa_public_key =
        if oid == RSA_ENCRYPTION_OID && bits_tag == 0x03 && bits.first() == Some(&0) {
            Some(bits[1..].to_vec())
        } else {
            None
        };
    Some(ParsedCertificate {
        der: der.to_vec(),
        sha1: util::sha1(der),
        sha256: util::sha256(der),
        rsa_public_key,
        not_before,
        not_after,
    })
}

/// Parses certificate bytes given as PEM (first `CERTIFICATE` block) or DER.
pub(crate) fn parse_certificate_bytes(bytes: &[u8]) -> Option<ParsedCertificate> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && text.contains("-----BEGIN")
    {
        let der = pem_blocks(text, "CERTIFICATE").into_iter().next()?;
        return parse_certificate(&der);
    }
    parse_certificate(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_well_known_certificate() {
        let cert = parse_certificate_bytes(crate::DEFAULT_APP_CERTIFICATE_PEM.as_bytes()).unwrap();
        assert!(cert.rsa_public_key.is_some());
        assert!(cert.not_after > cert.not_before + 86_400 * 365 * 50);
        assert_eq!(util::hex(&cert.sha1).len(), 40);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_certificate_bytes(b"not a certificate").is_none());
        assert!(
            parse_certificate_bytes(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
            )
            .is_none()
        );
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(parse_time(0x18, b"20231114221320Z"), Some(1_700_000_000));
    }
}
