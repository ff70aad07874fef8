//! Certificate credentials (`private_key_jwt`): instead of a client secret, the connector
//! proves who it is with a short-lived JWT signed by the private key of a certificate
//! registered on the app (`ENTRA:docs/identity-platform/certificate-credentials.md`; §1A of
//! `../shared/docs/microsoft-apis.md`). Header `PS256` with `x5t#S256`, the SHA-256 thumbprint
//! of the certificate; claims `aud` = the token URL, `iss` = `sub` = the client id, a new
//! `jti` each time, valid for ten minutes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use rustls_pki_types::pem::{PemObject as _, SectionKind};
use serde_json::json;

/// How long an assertion is valid (Entra sets no bound; its docs suggest 5 to 10 minutes).
const LIFETIME_SECONDS: i64 = 600;

/// The sections of a PEM text (certificates, keys), in order, as `rustls-pki-types` reads them.
pub fn pem_sections(text: &str) -> Result<Vec<(SectionKind, Vec<u8>)>, String> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(text.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate bundle is not PEM: {e}"))
}

/// The base64url SHA-256 thumbprint of a certificate's DER, as `x5t#S256` carries it.
pub fn thumbprint_s256(certificate_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, certificate_der))
}

/// A certificate's private key and thumbprint, read from one PEM bundle.
pub struct ClientCertificate {
    key: RsaKeyPair,
    thumbprint: String,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// From a PEM bundle holding the RSA private key (PKCS#8, `BEGIN PRIVATE KEY`) and its
    /// certificate (`BEGIN CERTIFICATE`).
    pub fn from_pem(bundle: &str) -> Result<Self, String> {
        let sections = pem_sections(bundle)?;
        let key = sections
            .iter()
            .find(|(kind, _)| *kind == SectionKind::PrivateKey)
            .ok_or("the certificate bundle has no `BEGIN PRIVATE KEY` block (an RSA key in PKCS#8; convert with `openssl pkcs8 -topk8 -nocrypt`)")?;
        let certificate = sections
            .iter()
            .find(|(kind, _)| *kind == SectionKind::Certificate)
            .ok_or("the certificate bundle has no `BEGIN CERTIFICATE` block")?;
        let key = RsaKeyPair::from_pkcs8(&key.1)
            .map_err(|e| format!("the private key is not an RSA key of 2048 bits or more: {e}"))?;
        Ok(Self {
            key,
            thumbprint: thumbprint_s256(&certificate.1),
        })
    }

    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A signed client assertion for `token_url`, valid from `now` (Unix seconds).
    pub fn assertion(&self, client_id: &str, token_url: &str, now: i64) -> Result<String, String> {
        let header = json!({ "alg": "PS256", "typ": "JWT", "x5t#S256": self.thumbprint });
        let claims = json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + LIFETIME_SECONDS,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PSS_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "the private key could not sign the client assertion".to_string())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_sections_are_read_in_order() {
        let text = "junk\n-----BEGIN PRIVATE KEY-----\nAAEC\nAw==\n-----END PRIVATE KEY-----\n\
                    -----BEGIN CERTIFICATE-----\nBAU=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            pem_sections(text).unwrap(),
            vec![
                (SectionKind::PrivateKey, vec![0, 1, 2, 3]),
                (SectionKind::Certificate, vec![4, 5]),
            ]
        );
        assert!(ClientCertificate::from_pem(text).is_err(), "not a key");
        assert!(
            ClientCertificate::from_pem(
                "-----BEGIN CERTIFICATE-----\nBAU=\n-----END CERTIFICATE-----"
            )
            .unwrap_err()
            .contains("PRIVATE KEY")
        );
    }
}
