//! Client certificates (PROTOCOL.md §5.2): PEM and PKCS#12 parsing, thumbprints, and the signed
//! client assertion. Pure: the time is passed in.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use identity_core::{Error, Result, Secret, from_unix_seconds, unix_seconds};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use sha1::Digest as _;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The lifetime of a client assertion.
pub(crate) const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

/// The JWS algorithm of certificate assertions. Needs the `certificate` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256 and an `x5t#S256` (SHA-256) thumbprint: the default, as
    /// PROTOCOL.md recommends.
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and an `x5t` (SHA-1) thumbprint, as MSAL's sync path
    /// sends. Always used for ADFS.
    Rs256,
}

/// A certificate with its RSA private key, read from PEM or PKCS#12.
///
/// PEM files hold the certificate(s) and the key in any order; the key may be PKCS#8
/// (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`,
/// with the password). PKCS#12 files may use the OpenSSL 3 default encoding (AES-256-CBC with
/// PBKDF2) or the legacy one (3DES / RC2 with SHA-1). The certificate whose public key matches
/// the private key is the leaf; the others form the chain sent with
/// `send_certificate_chain`.
///
/// Needs the `certificate` feature.
///
/// ```no_run
/// use identity_service_principal::ClientCertificate;
/// let certificate = ClientCertificate::from_path("app.pfx", Some("password"))?;
/// println!("{}", certificate.thumbprint_sha1_hex());
/// # Ok::<(), identity_core::Error>(())
/// ```
#[derive(Clone)]
pub struct ClientCertificate {
    pss: rsa::pss::SigningKey<sha2::Sha256>,
    pkcs1: rsa::pkcs1v15::SigningKey<sha2::Sha256>,
    /// DER certificates, leaf first.
    chain: Vec<Vec<u8>>,
    sha1: [u8; 20],
    sha256: [u8; 32],
    subject: String,
    not_before: SystemTime,
    not_after: SystemTime,
}

fn config_error(message: impl Into<String>) -> Error {
    Error::invalid_configuration("", message)
}

fn deserialize_error(detail: impl fmt::Display) -> Error {
    config_error(format!(
        "Failed to deserialize certificate in PEM or PKCS12 format ({detail}). Pass a PEM file holding the certificate and its private key, or a PKCS#12 (.pfx/.p12) file and its password."
    ))
}

fn non_rsa_error(what: &str) -> Error {
    config_error(format!(
        "The certificate must have an RSA private key because client assertions are signed with RSA (PS256/RS256); this key is {what}. Create an RSA certificate, e.g. `openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 365 -subj /CN=my-app`."
    ))
}

impl ClientCertificate {
    /// Reads a PEM or PKCS#12 file.
    pub fn from_path(path: impl AsRef<Path>, password: Option<&str>) -> Result<Self> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|e| {
            config_error(format!(
                "Cannot read the certificate file '{}': {e}. Check AZURE_CLIENT_CERTIFICATE_PATH or the path given to the builder.",
                path.display()
            ))
        })?;
        Self::from_bytes(&data, password)
    }

    /// Parses PEM (detected by `-----BEGIN`) or PKCS#12 bytes.
    pub fn from_bytes(data: &[u8], password: Option<&str>) -> Result<Self> {
        let is_pem = data.windows(10).any(|w| w == b"-----BEGIN");
        let (key, certs) = if is_pem {
            parse_pem(data, password)?
        } else {
            parse_pkcs12(data, password.unwrap_or(""))?
        };
        Self::assemble(key, certs)
    }

    fn assemble(key: rsa::PrivateKey, certs: Vec<Vec<u8>>) -> Result<Self> {
        if certs.is_empty() {
            return Err(config_error(
                "The certificate must include its certificate (no CERTIFICATE found beside the private key).",
            ));
        }
        let public = key.to_public_key();
        let leaf_index = certs
            .iter()
            .position(|der| {
                x509_parser::parse_x509_certificate(der)
                    .ok()
                    .and_then(|(_, c)| rsa::PublicKey::from_public_key_der(c.public_key().raw).ok())
                    .is_some_and(|p| p == public)
            })
            .ok_or_else(|| {
                config_error(
                    "The private key does not match any certificate in the file: put the certificate and its own private key together.",
                )
            })?;
        let mut chain = certs;
        let leaf = chain.remove(leaf_index);
        chain.insert(0, leaf);
        let (_, parsed) = x509_parser::parse_x509_certificate(&chain[0])
            .map_err(|e| deserialize_error(format!("invalid certificate: {e}")))?;
        let validity = parsed.validity();
        let subject = parsed.subject().to_string();
        let not_before = from_unix_seconds(validity.not_before.timestamp());
        let not_after = from_unix_seconds(validity.not_after.timestamp());
        Ok(Self {
            pss: rsa::pss::SigningKey::new(key.clone()),
            pkcs1: rsa::pkcs1v15::SigningKey::new(key),
            sha1: sha1::Sha1::digest(&chain[0]).into(),
            sha256: sha2::Sha256::digest(&chain[0]).into(),
            chain,
            subject,
            not_before,
            not_after,
        })
    }

    /// The SHA-1 thumbprint of the leaf, upper-case hex (as the Azure portal shows it).
    pub fn thumbprint_sha1_hex(&self) -> String {
        hex(&self.sha1)
    }

    /// The SHA-256 thumbprint of the leaf, upper-case hex.
    pub fn thumbprint_sha256_hex(&self) -> String {
        hex(&self.sha256)
    }

    /// The leaf's subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The end of the leaf's validity.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The start of the leaf's validity.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// The certificates (DER), leaf first.
    pub fn chain_der(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// Logs a warning when the leaf is not valid at `now` (Microsoft Entra ID decides whether to
    /// accept it).
    pub(crate) fn warn_if_not_valid(&self, credential: &str, now: SystemTime) {
        if now > self.not_after {
            tracing::warn!(
                "{credential}: the certificate '{}' (thumbprint {}) expired at {} (Unix time); Microsoft Entra ID will likely reject it. Upload a new certificate to the app registration.",
                self.subject,
                self.thumbprint_sha1_hex(),
                unix_seconds(self.not_after)
            );
        } else if now < self.not_before {
            tracing::warn!(
                "{credential}: the certificate '{}' (thumbprint {}) is not valid before {} (Unix time).",
                self.subject,
                self.thumbprint_sha1_hex(),
                unix_seconds(self.not_before)
            );
        }
    }

    /// A signed client assertion for `audience` (the token endpoint): header `alg`, `typ`, the
    /// thumbprint and optionally `x5c`; claims `aud`, `iss`, `sub`, `jti`, `nbf`, `iat`, `exp`
    /// (`now` + 600 s). Returns it with its expiry.
    pub(crate) fn assertion(
        &self,
        audience: &str,
        client_id: &str,
        now: SystemTime,
        algorithm: AssertionAlgorithm,
        send_chain: bool,
    ) -> Result<(Secret, SystemTime)> {
        let mut header = serde_json::Map::new();
        let (alg, thumb_name, thumb) = match algorithm {
            AssertionAlgorithm::Ps256 => ("PS256", "x5t#S256", URL_SAFE_NO_PAD.encode(self.sha256)),
            AssertionAlgorithm::Rs256 => ("RS256", "x5t", URL_SAFE_NO_PAD.encode(self.sha1)),
        };
        header.insert("alg".into(), alg.into());
        header.insert("typ".into(), "JWT".into());
        header.insert(thumb_name.into(), thumb.into());
        if send_chain {
            let x5c: Vec<serde_json::Value> = self
                .chain
                .iter()
                .map(|der| STANDARD.encode(der).into())
                .collect();
            header.insert("x5c".into(), x5c.into());
        }
        let iat = unix_seconds(now);
        let exp = now + ASSERTION_LIFETIME;
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid_v4()?,
            "nbf": iat,
            "iat": iat,
            "exp": unix_seconds(exp),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut rng = getrandom::SysRng;
        let signature = match algorithm {
            AssertionAlgorithm::Ps256 => self
                .pss
                .try_sign_with_rng(&mut rng, signing_input.as_bytes())
                .map(|s| s.to_vec()),
            AssertionAlgorithm::Rs256 => self
                .pkcs1
                .try_sign_with_rng(&mut rng, signing_input.as_bytes())
                .map(|s| s.to_vec()),
        }
        .map_err(|e| {
            Error::authentication("", format!("Signing the client assertion failed: {e}"))
        })?;
        Ok((
            Secret::new(format!(
                "{signing_input}.{}",
                URL_SAFE_NO_PAD.encode(signature)
            )),
            exp,
        ))
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.subject)
            .field("thumbprint_sha1", &self.thumbprint_sha1_hex())
            .field("chain_len", &self.chain.len())
            .field("not_after", &unix_seconds(self.not_after))
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A random (version 4) UUID.
pub(crate) fn uuid_v4() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| Error::authentication("", format!("No randomness available: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b).to_ascii_lowercase();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// The RSA key of a PKCS#8 DER, with a clear error for other algorithms.
fn rsa_from_pkcs8(der: &[u8]) -> Result<rsa::PrivateKey> {
    let info = rsa::pkcs8::PrivateKeyInfoRef::try_from(der)
        .map_err(|e| deserialize_error(format!("invalid PKCS#8 private key: {e}")))?;
    let oid = info.algorithm.oid.to_string();
    if oid != RSA_ENCRYPTION_OID {
        let what = match oid.as_str() {
            "1.2.840.10045.2.1" => "an elliptic-curve (EC) key".to_owned(),
            "1.3.101.112" => "an Ed25519 key".to_owned(),
            "1.2.840.113549.1.1.10" => "an RSA-PSS-only key".to_owned(),
            other => format!("a key of algorithm {other}"),
        };
        return Err(non_rsa_error(&what));
    }
    rsa::PrivateKey::from_pkcs8_der(der)
        .map_err(|e| deserialize_error(format!("invalid RSA private key: {e}")))
}

/// The most PBKDF2 iterations an encrypted PEM key may ask for (p12-keystore bounds PKCS#12
/// files the same way; OpenSSL's default is 2048).
const MAX_PBKDF2_ITERATIONS: u32 = 1_000_000;
/// The most memory (128·N·r·p bytes) scrypt may ask for (OpenSSL's `-scrypt` default: 16 MiB).
const MAX_SCRYPT_BYTES: u64 = 256 * 1024 * 1024;

/// Refuses key-derivation parameters that would take minutes or more memory than the machine
/// has, before deriving anything: a crafted key file used to make the process try to allocate
/// a petabyte (scrypt N = 2^40) and abort, or spin for minutes (PBKDF2, 10^8 iterations).
fn check_kdf_cost(scheme: &rsa::pkcs8::pkcs5::EncryptionScheme) -> Result<()> {
    use rsa::pkcs8::pkcs5::pbes2::Kdf;
    let Some(params) = scheme.pbes2() else {
        return Ok(());
    };
    let excess = match &params.kdf {
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => Some(format!(
            "{} PBKDF2 iterations (at most {MAX_PBKDF2_ITERATIONS} are accepted)",
            p.iteration_count
        )),
        Kdf::Scrypt(s) => {
            let bytes = 128u64
                .saturating_mul(s.cost_parameter)
                .saturating_mul(u64::from(s.block_size))
                .saturating_mul(u64::from(s.parallelization));
            (bytes > MAX_SCRYPT_BYTES).then(|| {
                format!(
                    "scrypt with N={}, r={}, p={} ({bytes} bytes of work memory; at most {MAX_SCRYPT_BYTES} are accepted)",
                    s.cost_parameter, s.block_size, s.parallelization
                )
            })
        }
        _ => None,
    };
    match excess {
        Some(what) => Err(config_error(format!(
            "The encrypted PEM private key asks for {what}. Re-encrypt it with the defaults: `openssl pkcs8 -topk8 -in key.pem -out key-pkcs8.pem`."
        ))),
        None => Ok(()),
    }
}

fn parse_pem(data: &[u8], password: Option<&str>) -> Result<(rsa::PrivateKey, Vec<Vec<u8>>)> {
    let blocks = pem::parse_many(data).map_err(|e| deserialize_error(format!("PEM: {e}")))?;
    let mut certs = Vec::new();
    let mut key = None;
    for block in &blocks {
        let parsed = match block.tag() {
            "CERTIFICATE" => {
                certs.push(block.contents().to_vec());
                continue;
            }
            "PRIVATE KEY" => rsa_from_pkcs8(block.contents())?,
            "RSA PRIVATE KEY" => {
                if block
                    .headers()
                    .get("Proc-Type")
                    .is_some_and(|v| v.contains("ENCRYPTED"))
                {
                    return Err(config_error(
                        "The PEM private key is encrypted in the legacy OpenSSL format (Proc-Type: 4,ENCRYPTED), which is not supported. Convert it to PKCS#8: `openssl pkcs8 -topk8 -in key.pem -out key-pkcs8.pem` (add -nocrypt for no password).",
                    ));
                }
                rsa::PrivateKey::from_pkcs1_der(block.contents())
                    .map_err(|e| deserialize_error(format!("invalid RSA private key: {e}")))?
            }
            "ENCRYPTED PRIVATE KEY" => {
                let Some(password) = password.filter(|p| !p.is_empty()) else {
                    return Err(config_error(
                        "The PEM private key is encrypted (ENCRYPTED PRIVATE KEY) and no password was given: pass the password (AZURE_CLIENT_CERTIFICATE_PASSWORD), or decrypt the key with `openssl pkey -in key.pem -out key-plain.pem`.",
                    ));
                };
                let info = rsa::pkcs8::EncryptedPrivateKeyInfoRef::try_from(block.contents())
                    .map_err(|e| deserialize_error(format!("invalid encrypted PKCS#8 key: {e}")))?;
                check_kdf_cost(&info.encryption_algorithm)?;
                let der = info
                    .decrypt(password)
                    .map_err(|_| {
                        config_error(
                            "The encrypted PEM private key could not be decrypted: the password is wrong (or the encryption scheme is not supported).",
                        )
                    })?;
                rsa_from_pkcs8(der.as_bytes())?
            }
            "EC PRIVATE KEY" => return Err(non_rsa_error("an elliptic-curve (EC) key")),
            "DSA PRIVATE KEY" => return Err(non_rsa_error("a DSA key")),
            _ => continue,
        };
        if key.is_some() {
            return Err(config_error(
                "The PEM file holds more than one private key: keep only the certificate's own key.",
            ));
        }
        key = Some(parsed);
    }
    let key = key.ok_or_else(|| {
        config_error(
            "The PEM file holds no private key: it must contain the certificate and its private key (PRIVATE KEY or RSA PRIVATE KEY).",
        )
    })?;
    Ok((key, certs))
}

fn parse_pkcs12(data: &[u8], password: &str) -> Result<(rsa::PrivateKey, Vec<Vec<u8>>)> {
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(data, password).map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => config_error(
            "The PKCS#12 certificate could not be opened: the password is wrong (integrity check failed). Pass the right password (AZURE_CLIENT_CERTIFICATE_PASSWORD).",
        ),
        p12_keystore::error::Error::UnsupportedEncryptionScheme
        | p12_keystore::error::Error::UnsupportedMacAlgorithm => config_error(format!(
            "The PKCS#12 certificate uses an encryption this crate does not read ({e}). Re-export it with `openssl pkcs12 -export` (AES-256-CBC with PBKDF2)."
        )),
        other => deserialize_error(format!("PKCS#12: {other}")),
    })?;
    let key_bag = archive.keys.first().ok_or_else(|| {
        config_error(
            "The certificate must include its private key: the PKCS#12 file holds none. Export it with the key (`openssl pkcs12 -export -inkey key.pem -in cert.pem`).",
        )
    })?;
    let key = rsa_from_pkcs8(key_bag.key.as_der())?;
    let certs = archive
        .certs
        .iter()
        .map(|bag| bag.cert.as_der().to_vec())
        .collect();
    Ok((key, certs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn uuids_are_v4() {
        let a = uuid_v4().unwrap();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(a, uuid_v4().unwrap());
    }

    #[test]
    fn garbage_and_partial_inputs() {
        let e = ClientCertificate::from_bytes(b"not a certificate at all", None).unwrap_err();
        assert!(
            e.message()
                .starts_with("Failed to deserialize certificate in PEM or PKCS12 format"),
            "{e}"
        );
        let e = ClientCertificate::from_bytes(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            None,
        )
        .unwrap_err();
        assert!(e.message().contains("no private key"), "{e}");
        let e = ClientCertificate::from_bytes(
            b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
            None,
        )
        .unwrap_err();
        assert!(
            e.message()
                .starts_with("The certificate must have an RSA private key"),
            "{e}"
        );
        let e = ClientCertificate::from_path("/nonexistent/sp/cert.pem", None).unwrap_err();
        assert!(
            e.message()
                .starts_with("Cannot read the certificate file '/nonexistent/sp/cert.pem'")
        );
    }

    const DEFAULT_APP_PEM: &[u8] =
        include_bytes!("../../identity-emulator/testdata/default-app.pem");

    fn decode(segment: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn assertion_format_and_signatures() {
        use rsa::signature::Verifier as _;
        let cert = ClientCertificate::from_bytes(DEFAULT_APP_PEM, None).unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let aud = "https://login.microsoftonline.com/t/oauth2/v2.0/token";
        let (jwt, exp) = cert
            .assertion(aud, "cid", now, AssertionAlgorithm::Ps256, false)
            .unwrap();
        assert_eq!(exp, now + Duration::from_secs(600));
        let parts: Vec<&str> = jwt.secret().split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(!jwt.secret().contains('='), "segments are unpadded");
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(
            header["x5t#S256"],
            URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&cert.chain_der()[0]))
        );
        assert!(header.get("x5t").is_none() && header.get("x5c").is_none());
        let claims = decode(parts[1]);
        assert_eq!(claims["aud"], aud);
        assert_eq!(claims["iss"], "cid");
        assert_eq!(claims["sub"], "cid");
        assert_eq!(claims["nbf"], 1_700_000_000);
        assert_eq!(claims["iat"], 1_700_000_000);
        assert_eq!(claims["exp"], 1_700_000_600);
        assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
        // The signature verifies with the certificate's public key.
        let (_, x509) = x509_parser::parse_x509_certificate(&cert.chain_der()[0]).unwrap();
        let public = rsa::PublicKey::from_public_key_der(x509.public_key().raw).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        rsa::pss::VerifyingKey::<sha2::Sha256>::new(public.clone())
            .verify(
                input.as_bytes(),
                &rsa::pss::Signature::try_from(sig.as_slice()).unwrap(),
            )
            .unwrap();
        // RS256 with x5t (SHA-1) and the chain.
        let (jwt, _) = cert
            .assertion(aud, "cid", now, AssertionAlgorithm::Rs256, true)
            .unwrap();
        let parts: Vec<&str> = jwt.secret().split('.').collect();
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(
            header["x5t"],
            URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&cert.chain_der()[0]))
        );
        assert_eq!(header["x5c"][0], STANDARD.encode(&cert.chain_der()[0]));
        let input = format!("{}.{}", parts[0], parts[1]);
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public)
            .verify(
                input.as_bytes(),
                &rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap(),
            )
            .unwrap();
        // Two assertions never share a jti.
        let (a, _) = cert
            .assertion(aud, "cid", now, AssertionAlgorithm::Ps256, false)
            .unwrap();
        let (b, _) = cert
            .assertion(aud, "cid", now, AssertionAlgorithm::Ps256, false)
            .unwrap();
        assert_ne!(
            decode(a.secret().split('.').nth(1).unwrap())["jti"],
            decode(b.secret().split('.').nth(1).unwrap())["jti"]
        );
        // Debug shows the thumbprint, never the key.
        let dbg = format!("{cert:?}");
        assert!(dbg.contains(&cert.thumbprint_sha1_hex()));
        assert!(!dbg.contains("PRIVATE"));
    }

    #[test]
    fn jwt_header_helpers() {
        // The thumbprint encodings: unpadded base64url.
        assert_eq!(URL_SAFE_NO_PAD.encode([0xfb, 0xff]), "-_8");
        assert_eq!(hex(&[0x0a, 0xbc]), "0ABC");
    }
}
