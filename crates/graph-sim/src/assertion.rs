//! Client assertions (`private_key_jwt`) at the simulated token endpoint, as Entra checks them
//! (`ENTRA:docs/identity-platform/certificate-credentials.md`; §1A and §11.3 of
//! `../shared/docs/microsoft-apis.md`): the certificate named by `x5t#S256` (or the older
//! `x5t`) must be registered on the app; the signature (PS256 or RS256) must verify with its
//! key; `aud` is the token URL, `iss` and `sub` the client id, the time range holds on the
//! simulator's clock, and a `jti` is accepted once.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// A certificate registered on an app: its thumbprints and RSA public key.
#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    pub thumbprint_s256: String,
    /// The older SHA-1 thumbprint (`x5t`), base64url.
    pub thumbprint_sha1: String,
    /// `RSAPublicKey` (PKCS#1) DER, as ring verifies with it.
    pub public_key: Vec<u8>,
}

impl Certificate {
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let der = CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()
            .and_then(Result::ok)
            .ok_or("no `BEGIN CERTIFICATE` block")?;
        let der: &[u8] = der.as_ref();
        let public_key = rsa_public_key(der).ok_or("not an X.509 certificate with an RSA key")?;
        Ok(Self {
            // Entra's `x5t#S256`: the base64url SHA-256 of the certificate's DER.
            thumbprint_s256: URL_SAFE_NO_PAD
                .encode(ring::digest::digest(&ring::digest::SHA256, der)),
            thumbprint_sha1: URL_SAFE_NO_PAD.encode(ring::digest::digest(
                &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
                der,
            )),
            public_key,
        })
    }
}

/// One DER element at the start of `input`: (tag, contents, rest).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut length = 0usize;
        for &b in &rest[..n] {
            length = (length << 8) | b as usize;
        }
        rest = &rest[n..];
        length
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// The `RSAPublicKey` inside a certificate: Certificate → tbsCertificate → (an optional
/// `[0]` version, serial, signature algorithm, issuer, validity, subject) →
/// subjectPublicKeyInfo → its BIT STRING.
fn rsa_public_key(certificate: &[u8]) -> Option<Vec<u8>> {
    let (_, certificate, _) = element(certificate)?;
    let (_, tbs, _) = element(certificate)?;
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for _ in 0..5 {
        rest = element(rest)?.2;
    }
    let (_, spki, _) = element(rest)?;
    let (_, _algorithm, rest) = element(spki)?;
    let (tag, bits, _) = element(rest)?;
    // A BIT STRING whose first byte counts the unused bits (0 here).
    (tag == 0x03 && bits.first() == Some(&0)).then(|| bits[1..].to_vec())
}

/// Why an assertion was refused: the AADSTS code, whether it is the client's fault (401) or
/// the request's (400), and the description.
pub(crate) struct Refused {
    pub code: u32,
    pub unauthorized: bool,
    pub description: String,
}

fn refused(code: u32, unauthorized: bool, description: impl Into<String>) -> Refused {
    Refused {
        code,
        unauthorized,
        description: description.into(),
    }
}

/// Checks an assertion for `client_id` against its certificates; `now` on the simulator's
/// clock, `token_url` as the client called it. Returns the `jti` to remember.
pub(crate) fn check(
    jwt: &str,
    client_id: &str,
    certificates: &[Certificate],
    token_url: &str,
    now: i64,
) -> Result<(String, i64), Refused> {
    let malformed = || refused(50027, false, "JWT token is invalid or malformed.");
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(malformed());
    }
    let decode = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (header, claims) = match (decode(parts[0]), decode(parts[1])) {
        (Some(h), Some(c)) => (h, c),
        _ => return Err(malformed()),
    };
    let certificate = certificates.iter().find(|c| {
        header["x5t#S256"].as_str() == Some(c.thumbprint_s256.as_str())
            || header["x5t"].as_str().is_some_and(|t| {
                t == c.thumbprint_sha1
                    || STANDARD
                        .decode(t)
                        .is_ok_and(|raw| URL_SAFE_NO_PAD.encode(raw) == c.thumbprint_sha1)
            })
    });
    let Some(certificate) = certificate else {
        return Err(refused(
            700027,
            true,
            "The certificate with identifier used to sign the client assertion is not registered on application.",
        ));
    };
    let algorithm: &dyn ring::signature::VerificationAlgorithm = match header["alg"].as_str() {
        Some("PS256") => &ring::signature::RSA_PSS_2048_8192_SHA256,
        Some("RS256") => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        other => {
            return Err(refused(
                5002738,
                true,
                format!("The client assertion's algorithm {other:?} is not supported."),
            ));
        }
    };
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).map_err(|_| malformed())?;
    ring::signature::UnparsedPublicKey::new(algorithm, &certificate.public_key)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .map_err(|_| {
            refused(
                700027,
                true,
                "Client assertion failed signature validation.",
            )
        })?;
    if claims["aud"].as_str() != Some(token_url) {
        return Err(refused(
            700212,
            true,
            format!(
                "No matching federated identity record found for presented assertion audience '{}'.",
                claims["aud"].as_str().unwrap_or("")
            ),
        ));
    }
    if claims["iss"].as_str().map(str::to_lowercase).as_deref() != Some(client_id)
        || claims["sub"].as_str().map(str::to_lowercase).as_deref() != Some(client_id)
    {
        return Err(refused(
            700021,
            true,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    let nbf = claims["nbf"].as_i64().unwrap_or(i64::MIN);
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if now >= exp || now + 300 < nbf {
        return Err(refused(
            700024,
            false,
            "Client assertion is not within its valid time range.",
        ));
    }
    let jti = claims["jti"].as_str().unwrap_or_default().to_string();
    if jti.is_empty() {
        return Err(malformed());
    }
    Ok((jti, exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_short_and_long() {
        assert_eq!(
            element(&[0x30, 0x02, 1, 2, 9]),
            Some((0x30, &[1u8, 2][..], &[9u8][..]))
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        let (_, contents, rest) = element(&long).unwrap();
        assert_eq!(contents.len(), 0x80);
        assert!(rest.is_empty());
        assert_eq!(element(&[0x30, 0x05, 1]), None, "truncated");
    }
}
