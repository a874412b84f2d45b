//! JSON Web Tokens as an API Gateway HTTP API JWT authorizer checks them: RSA signatures only
//! (RS256, RS384, RS512: "Currently, only RSA-based algorithms are supported", developer guide,
//! "Control access to HTTP APIs with JWT authorizers"), the key chosen by the header's `kid`,
//! then `iss`, `aud` (or `client_id` when there is no `aud`), `exp`, `nbf` and `iat`. Also the
//! local issuer's signing key (RS256) and its JWK.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// The algorithms API Gateway accepts for HTTP API JWT authorizers (RSA only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
}

impl Alg {
    /// The algorithm a JOSE header names (`RS256`, ...); `None` for any other.
    pub fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            _ => return None,
        })
    }

    fn verification(self) -> &'static signature::RsaParameters {
        match self {
            Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        }
    }
}

/// Why a token is refused. Every kind is answered with the same 401; the kind picks the
/// `error_description` of the `www-authenticate` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No token in the Authorization header.
    #[error("no token in the Authorization header")]
    Missing,
    /// Not a JWT.
    #[error("the token is not a JWT")]
    Malformed,
    /// An algorithm other than RS256, RS384, RS512.
    #[error("the token's algorithm is not one of RS256, RS384, RS512")]
    Algorithm,
    /// A `kid` that is not in the issuer's key set.
    #[error("the token's kid is not in the issuer's key set")]
    UnknownKey,
    /// An invalid signature.
    #[error("the token's signature is invalid")]
    Signature,
    /// Another issuer.
    #[error("the token does not have a valid issuer")]
    Issuer,
    /// None of the audiences.
    #[error("the token does not have a valid audience")]
    Audience,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before its `nbf` (or `iat`).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Critical extensions (`crit`), none of which this authorizer implements.
    #[error("the token's header lists critical extensions (crit), none of which this authorizer implements")]
    Critical,
    /// `nbf` or `iat` that is not a number.
    #[error("the token's nbf or iat claim is not a number")]
    TimeNotNumeric,
}

/// One RSA public key of a key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    /// The key's id, which tokens name in their header.
    pub kid: String,
    /// Modulus and exponent, big-endian without leading zeros.
    pub n: Vec<u8>,
    /// The exponent, big-endian without leading zeros.
    pub e: Vec<u8>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()
}

impl Jwk {
    /// The key as a JWK object of a key set (`kty`, `alg`, `use`, `kid`, `n`, `e`).
    pub fn to_json(&self) -> Value {
        json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": b64(&self.n), "e": b64(&self.e)})
    }

    /// The RSA signing keys of a JWKS document (`{"keys": [...]}`); other keys are skipped.
    pub fn set_from_json(jwks: &Value) -> Vec<Jwk> {
        let strip = |mut v: Vec<u8>| {
            let zeros = v.iter().take_while(|b| **b == 0).count();
            v.drain(..zeros);
            v
        };
        jwks["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|k| k["kty"] == "RSA" && k.get("use").is_none_or(|u| u == "sig"))
            .filter_map(|k| {
                Some(Jwk {
                    kid: k["kid"].as_str()?.to_string(),
                    n: strip(unb64(k["n"].as_str()?)?),
                    e: strip(unb64(k["e"].as_str()?)?),
                })
            })
            .collect()
    }
}

/// An RS256 signing key with its key id.
pub struct SigningKey {
    pair: RsaKeyPair,
    kid: String,
}

impl SigningKey {
    /// A fresh 2048-bit key.
    pub fn generate() -> anyhow::Result<SigningKey> {
        let pair =
            RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| anyhow::anyhow!("generating an RSA key failed"))?;
        Ok(SigningKey {
            pair,
            kid: uuid::Uuid::new_v4().to_string(),
        })
    }

    /// The signing key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK.
    pub fn jwk(&self) -> Jwk {
        let (n, e) = rsa_public_key_parts(self.pair.public_key().as_ref()).unwrap_or_default();
        Jwk {
            kid: self.kid.clone(),
            n,
            e,
        }
    }

    /// A compact JWS of `claims`, RS256, with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| anyhow::anyhow!("signing a token failed"))?;
        Ok(format!("{input}.{}", b64(&sig)))
    }
}

/// `n` and `e` of a DER `RSAPublicKey` (RFC 8017: `SEQUENCE { INTEGER n, INTEGER e }`).
fn rsa_public_key_parts(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    fn item(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&t, rest) = input.split_first()?;
        if t != tag {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n > 4 || rest.len() < n {
                return None;
            }
            (rest[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize), &rest[n..])
        };
        (rest.len() >= len).then(|| rest.split_at(len))
    }
    let integer = |v: &[u8]| v.iter().skip_while(|b| **b == 0).copied().collect::<Vec<u8>>();
    let (seq, _) = item(der, 0x30)?;
    let (n, rest) = item(seq, 0x02)?;
    let (e, _) = item(rest, 0x02)?;
    Some((integer(n), integer(e)))
}

/// What a token must satisfy: the authorizer's issuer and audience, and the issuer's keys.
#[derive(Debug, Clone)]
pub struct Validator {
    /// The issuer tokens must name (`iss`).
    pub issuer: String,
    /// The audiences a token must name one of (`aud` or `client_id`).
    pub audience: Vec<String>,
    /// The issuer's RSA public keys.
    pub keys: Vec<Jwk>,
}

/// A token's parts once its header is read (before the signature is checked).
pub struct Parsed<'a> {
    /// The header's algorithm.
    pub alg: Alg,
    /// The header's key id, when it has one.
    pub kid: Option<String>,
    signing_input: &'a str,
    signature: Vec<u8>,
    claims: Map<String, Value>,
}

/// Splits and decodes a compact JWS; refuses any algorithm but RS256/RS384/RS512.
pub fn parse(token: &str) -> Result<Parsed<'_>, Rejection> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Rejection::Malformed);
    };
    let json = |part: &str| -> Option<Map<String, Value>> { serde_json::from_slice(&unb64(part)?).ok() };
    let header = json(h).ok_or(Rejection::Malformed)?;
    let claims = json(c).ok_or(Rejection::Malformed)?;
    // RFC 7515 §4.1.11: a recipient must refuse a token whose `crit` names an extension it does
    // not understand, and this one understands none.
    if header.contains_key("crit") {
        return Err(Rejection::Critical);
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Alg::parse)
        .ok_or(Rejection::Algorithm)?;
    let signature = unb64(s).ok_or(Rejection::Malformed)?;
    Ok(Parsed {
        alg,
        kid: header.get("kid").and_then(Value::as_str).map(str::to_string),
        signing_input: &token[..h.len() + 1 + c.len()],
        signature,
        claims,
    })
}

impl Validator {
    /// The token's claims when it passes every check at `now` (Unix seconds).
    pub fn validate(&self, token: &str, now: u64) -> Result<Map<String, Value>, Rejection> {
        let parsed = parse(token)?;
        let key = parsed
            .kid
            .as_deref()
            .and_then(|kid| self.keys.iter().find(|k| k.kid == kid))
            .ok_or(Rejection::UnknownKey)?;
        RsaPublicKeyComponents {
            n: &key.n[..],
            e: &key.e[..],
        }
        .verify(
            parsed.alg.verification(),
            parsed.signing_input.as_bytes(),
            &parsed.signature,
        )
        .map_err(|_| Rejection::Signature)?;
        self.check_claims(parsed.claims, now)
    }

    /// The claim checks after the signature: `iss`, audience, `exp`, `nbf`, `iat`.
    pub fn check_claims(&self, claims: Map<String, Value>, now: u64) -> Result<Map<String, Value>, Rejection> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(Rejection::Issuer);
        }
        // `aud` when present (a string or a list), else `client_id`.
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            Some(_) => vec![],
            None => claims.get("client_id").and_then(Value::as_str).into_iter().collect(),
        };
        if !audiences.iter().any(|a| self.audience.iter().any(|x| x == a)) {
            return Err(Rejection::Audience);
        }
        // `nbf` and `iat` are optional, but one that is there and is not a number is refused, not
        // taken as absent (a missing or non-numeric `exp` is refused as expired below).
        if ["nbf", "iat"]
            .iter()
            .any(|n| claims.get(*n).is_some_and(|v| !v.is_number()))
        {
            return Err(Rejection::TimeNotNumeric);
        }
        let time = |name: &str| claims.get(name).and_then(Value::as_f64);
        match time("exp") {
            Some(exp) if exp > now as f64 => {}
            _ => return Err(Rejection::Expired),
        }
        if time("nbf").is_some_and(|nbf| nbf > now as f64) || time("iat").is_some_and(|iat| iat > now as f64) {
            return Err(Rejection::NotYetValid);
        }
        Ok(claims)
    }
}

/// A claim's value as API Gateway renders it in `requestContext.authorizer.jwt.claims`: strings
/// as they are, numbers and booleans as text, lists as `[a b]`, objects as JSON.
pub fn render_claim(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(render_claim).collect::<Vec<_>>().join(" ")),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The token of an `Authorization` value: the value itself, or what follows `Bearer `.
pub fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = match value.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => value[7..].trim_start(),
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn claims(extra: Value) -> Value {
        let mut c = json!({
            "iss": "http://127.0.0.1:1", "sub": "alice", "client_id": "local-client", "exp": NOW + 60, "iat": NOW - 1
        });
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c
    }

    fn setup() -> (SigningKey, Validator) {
        let key = SigningKey::generate().unwrap();
        let v = Validator {
            issuer: "http://127.0.0.1:1".into(),
            audience: vec!["local-client".into()],
            keys: vec![key.jwk()],
        };
        (key, v)
    }

    /// A token with any header and claims, and a signature that is just bytes.
    fn hand_made(header: Value, claims: &Value, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes()),
            b64(sig)
        )
    }

    #[test]
    fn a_signed_token_passes_and_keeps_its_claims() {
        let (key, v) = setup();
        let token = key.sign(&claims(json!({"scope": "a b"}))).unwrap();
        let c = v.validate(&token, NOW).unwrap();
        assert_eq!(c["sub"], "alice");
        // The JWK round-trips through JSON.
        let jwks = json!({"keys": [key.jwk().to_json(), {"kty": "EC", "kid": "x"}]});
        assert_eq!(Jwk::set_from_json(&jwks), vec![key.jwk()]);
    }

    #[test]
    fn every_check_refuses_with_its_own_reason() {
        let (key, v) = setup();
        let sign = |extra: Value| key.sign(&claims(extra)).unwrap();
        assert_eq!(
            v.validate(&sign(json!({"iss": "http://other"})), NOW),
            Err(Rejection::Issuer)
        );
        assert_eq!(
            v.validate(&sign(json!({"client_id": "x"})), NOW),
            Err(Rejection::Audience)
        );
        // `aud` wins over `client_id`.
        assert_eq!(v.validate(&sign(json!({"aud": "x"})), NOW), Err(Rejection::Audience));
        assert!(
            v.validate(&sign(json!({"aud": ["y", "local-client"], "client_id": "x"})), NOW)
                .is_ok()
        );
        assert_eq!(v.validate(&sign(json!({"exp": NOW})), NOW), Err(Rejection::Expired));
        assert_eq!(v.validate(&sign(json!({"exp": null})), NOW), Err(Rejection::Expired));
        assert_eq!(
            v.validate(&sign(json!({"nbf": NOW + 5})), NOW),
            Err(Rejection::NotYetValid)
        );
        assert_eq!(
            v.validate(&sign(json!({"iat": NOW + 5})), NOW),
            Err(Rejection::NotYetValid)
        );
        for bad in [json!({"nbf": "soon"}), json!({"iat": null}), json!({"nbf": [1]})] {
            assert_eq!(
                v.validate(&sign(bad.clone()), NOW),
                Err(Rejection::TimeNotNumeric),
                "{bad}"
            );
        }
        // An unknown critical extension, whatever the rest (refused before the signature is read).
        let crit = hand_made(
            json!({"alg": "RS256", "kid": key.kid(), "crit": ["exp"], "exp": NOW + 60}),
            &claims(json!({})),
            b"any",
        );
        assert_eq!(v.validate(&crit, NOW), Err(Rejection::Critical));
        // Another key with the same kid: a bad signature.
        let other = SigningKey::generate().unwrap();
        let forged = other.sign(&claims(json!({}))).unwrap();
        assert_eq!(v.validate(&forged, NOW), Err(Rejection::UnknownKey));
        let (h, rest) = forged.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let good = key.sign(&claims(json!({}))).unwrap();
        let (gh, grest) = good.split_once('.').unwrap();
        let (gc, _) = grest.split_once('.').unwrap();
        assert_eq!(v.validate(&format!("{gh}.{gc}.{s}"), NOW), Err(Rejection::Signature));
        assert!(h.len() > 10);
        // A changed claim breaks the signature.
        let tampered = format!(
            "{gh}.{}.{}",
            b64(claims(json!({"sub": "bob"})).to_string().as_bytes()),
            &good[good.rfind('.').unwrap() + 1..]
        );
        assert_eq!(v.validate(&tampered, NOW), Err(Rejection::Signature));
    }

    #[test]
    fn only_rsa_algorithms_are_accepted() {
        let (key, v) = setup();
        let c = claims(json!({}));
        let none = hand_made(json!({"alg": "none", "kid": key.kid()}), &c, b"");
        assert_eq!(v.validate(&none, NOW), Err(Rejection::Algorithm));
        let hs = hand_made(json!({"alg": "HS256", "kid": key.kid()}), &c, &[1; 32]);
        assert_eq!(v.validate(&hs, NOW), Err(Rejection::Algorithm));
        let es = hand_made(json!({"alg": "ES256", "kid": key.kid()}), &c, &[1; 64]);
        assert_eq!(v.validate(&es, NOW), Err(Rejection::Algorithm));
        // An RS384 header over an RS256 signature does not verify.
        let good = key.sign(&c).unwrap();
        let sig = &good[good.rfind('.').unwrap() + 1..];
        let rs384 = format!(
            "{}.{}.{sig}",
            b64(json!({"alg": "RS384", "kid": key.kid()}).to_string().as_bytes()),
            b64(c.to_string().as_bytes())
        );
        assert_eq!(v.validate(&rs384, NOW), Err(Rejection::Signature));
        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.e30"] {
            assert!(v.validate(junk, NOW).is_err(), "{junk}");
        }
    }

    #[test]
    fn bearer_prefix_and_claim_rendering() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc"), Some("abc"));
        assert_eq!(bearer_token("abc"), Some("abc"));
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("  "), None);
        assert_eq!(render_claim(&json!("x")), "x");
        assert_eq!(render_claim(&json!(1_800_000_000)), "1800000000");
        assert_eq!(render_claim(&json!(true)), "true");
        assert_eq!(render_claim(&json!(["admin", "users"])), "[admin users]");
    }
}
