//! JWTs: the emulator's own ES256 signing key (mint and verify), decoding of presented tokens and
//! RSA (RS256 / PS256) verification of client assertions.

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde_json::{Map, Value, json};

use crate::util;

/// A decoded (not yet verified) compact JWS.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub(crate) header: Map<String, Value>,
    pub(crate) claims: Map<String, Value>,
    /// `base64(header).base64(payload)` exactly as presented.
    pub(crate) signing_input: String,
    pub(crate) signature: Vec<u8>,
}

/// Decodes a compact JWS without checking its signature.
pub(crate) fn decode(token: &str) -> Option<Decoded> {
    let mut parts = token.trim().split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&util::b64url_decode(h)?).ok()?;
    let claims: Value = serde_json::from_slice(&util::b64url_decode(p)?).ok()?;
    let signature = if s.is_empty() {
        Vec::new()
    } else {
        util::b64url_decode(s)?
    };
    match (header, claims) {
        (Value::Object(header), Value::Object(claims)) => Some(Decoded {
            header,
            claims,
            signing_input: format!("{h}.{p}"),
            signature,
        }),
        _ => None,
    }
}

/// Verifies an RS256 or PS256 signature with a PKCS#1 RSA public key.
pub(crate) fn verify_rsa(alg: &str, public_key: &[u8], message: &[u8], sig: &[u8]) -> bool {
    let params: &dyn signature::VerificationAlgorithm = match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        _ => return false,
    };
    signature::UnparsedPublicKey::new(params, public_key)
        .verify(message, sig)
        .is_ok()
}

/// A numeric claim (integer, float or numeric string).
pub(crate) fn num_claim(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    match claims.get(name)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

/// A string claim.
pub(crate) fn str_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// The `aud` claim as a list (it may be a string or an array).
pub(crate) fn audiences(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The emulator's token-signing key: ECDSA P-256, `ES256`.
pub(crate) struct SigningKey {
    pair: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why a token the emulator issued did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnTokenError {
    Malformed,
    NotOurs,
    BadSignature,
    Expired { exp: i64, now: i64 },
    NotYetValid { nbf: i64, now: i64 },
}

impl SigningKey {
    /// Generates a fresh key.
    pub(crate) fn generate() -> Result<Self, String> {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|e| e.to_string())?;
        let pair =
            EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|e| e.to_string())?;
        let kid = util::b64url(&util::sha256(pair.public_key().as_ref())[..16]);
        Ok(Self { pair, kid, rng })
    }

    /// The key id written in every token header.
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as a compact JWS with header `{"typ":"JWT","alg":"ES256","kid":…}`.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "ES256", "kid": self.kid});
        let h = util::b64url(header.to_string().as_bytes());
        let p = util::b64url(claims.to_string().as_bytes());
        let input = format!("{h}.{p}");
        let sig = self
            .pair
            .sign(&self.rng, input.as_bytes())
            .map(|s| s.as_ref().to_vec())
            .unwrap_or_default();
        format!("{input}.{}", util::b64url(&sig))
    }

    /// Verifies a token this key signed; checks `exp` and `nbf` against `now` (no skew).
    pub(crate) fn verify(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Map<String, Value>, OwnTokenError> {
        let d = decode(token).ok_or(OwnTokenError::Malformed)?;
        self.verify_decoded(&d)?;
        check_times(&d.claims, now, 0)?;
        Ok(d.claims)
    }

    /// Whether the decoded token names this key and its signature is valid.
    pub(crate) fn verify_decoded(&self, d: &Decoded) -> Result<(), OwnTokenError> {
        if str_claim(&d.header, "alg") != Some("ES256")
            || str_claim(&d.header, "kid") != Some(self.kid.as_str())
        {
            return Err(OwnTokenError::NotOurs);
        }
        signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.pair.public_key().as_ref(),
        )
        .verify(d.signing_input.as_bytes(), &d.signature)
        .map_err(|_| OwnTokenError::BadSignature)
    }

    /// The public key as a JWK.
    pub(crate) fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC",
            "use": "sig",
            "alg": "ES256",
            "crv": "P-256",
            "kid": self.kid,
            "x": util::b64url(&point[1..33]),
            "y": util::b64url(&point[33..65]),
        })
    }
}

/// Checks `exp` (required) and `nbf` (optional) with `skew` seconds of tolerance.
pub(crate) fn check_times(
    claims: &Map<String, Value>,
    now: i64,
    skew: i64,
) -> Result<(), OwnTokenError> {
    let exp = num_claim(claims, "exp").ok_or(OwnTokenError::Malformed)?;
    if now >= exp + skew {
        return Err(OwnTokenError::Expired { exp, now });
    }
    if let Some(nbf) = num_claim(claims, "nbf")
        && nbf > now + skew
    {
        return Err(OwnTokenError::NotYetValid { nbf, now });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mint_and_verify() {
        let key = SigningKey::generate().unwrap();
        let token = key.sign(&json!({"aud": "x", "exp": 200, "nbf": 100}));
        assert_eq!(key.verify(&token, 150).unwrap()["aud"], "x");
        assert_eq!(
            key.verify(&token, 200),
            Err(OwnTokenError::Expired { exp: 200, now: 200 })
        );
        assert_eq!(
            key.verify(&token, 50),
            Err(OwnTokenError::NotYetValid { nbf: 100, now: 50 })
        );
        let other = SigningKey::generate().unwrap();
        assert_eq!(other.verify(&token, 150), Err(OwnTokenError::NotOurs));
        let mut tampered = token.clone();
        tampered.replace_range(token.len() - 3.., "AAA");
        assert_eq!(key.verify(&tampered, 150), Err(OwnTokenError::BadSignature));
        assert_eq!(key.verify("a.b", 150), Err(OwnTokenError::Malformed));
    }

    #[test]
    fn claims_helpers() {
        let c = json!({"exp": 1.5e9, "nbf": "10", "aud": ["a", "b"]});
        let c = c.as_object().unwrap();
        assert_eq!(num_claim(c, "exp"), Some(1_500_000_000));
        assert_eq!(num_claim(c, "nbf"), Some(10));
        assert_eq!(audiences(c), vec!["a", "b"]);
    }
}
