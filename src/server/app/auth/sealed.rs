//! Tokens kept for a session, sealed at rest. The session store (a table every replica reads)
//! holds the refresh token the portal uses to ask the provider again while a session lasts, and
//! the ID token it offers as `id_token_hint` at sign-out; a copy of that table, a backup or a
//! role that may read it must not be a way to act as the person at the provider. Each token is
//! sealed with ChaCha20-Poly1305 under a key derived (HKDF-SHA256) from the portal's sign-in
//! client secret, or from `LEASEGATE_SESSION_KEY` where that is set (so the client secret can be
//! rotated without ending every session's re-check); what it is for is bound in as associated
//! data, so a sealed refresh token cannot be passed off as an ID token. A token that no longer
//! opens (the key changed) reads as absent: the session then ends at its next re-check.

use base64::Engine as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Marks a sealed value (and its format).
const PREFIX: &str = "v1.";

pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

/// HKDF's output length for the AEAD key.
struct KeyLength;

impl ring::hkdf::KeyType for KeyLength {
    fn len(&self) -> usize {
        CHACHA20_POLY1305.key_len()
    }
}

impl Sealer {
    /// A sealer whose key is derived from `secret`.
    pub fn from_secret(secret: &str) -> Self {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"leasegate session tokens");
        let mut bytes = [0u8; 32];
        salt.extract(secret.as_bytes())
            .expand(&[b"v1"], KeyLength)
            .and_then(|okm| okm.fill(&mut bytes))
            .expect("HKDF gives 32 bytes");
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).expect("a 32-byte key");
        Self {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        }
    }

    /// `plain`, sealed for `purpose`.
    pub fn seal(&self, purpose: &str, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .expect("the system's random source");
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut data,
            )
            .expect("sealing fits in memory");
        let mut out = nonce.to_vec();
        out.extend(data);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
        )
    }

    /// What was sealed for `purpose`; `None` when it was sealed for another purpose, under
    /// another key, or changed.
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix(PREFIX)?)
            .ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let mut data = data.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::Sealer;

    #[test]
    fn a_sealed_token_opens_only_for_its_purpose_and_key() {
        let sealer = Sealer::from_secret("client-secret");
        let sealed = sealer.seal("refresh", "the-refresh-token");
        assert!(!sealed.contains("the-refresh-token"));
        assert_ne!(
            sealed,
            sealer.seal("refresh", "the-refresh-token"),
            "a fresh nonce"
        );
        assert_eq!(
            sealer.open("refresh", &sealed).as_deref(),
            Some("the-refresh-token")
        );
        assert_eq!(sealer.open("id_token", &sealed), None);
        assert_eq!(
            Sealer::from_secret("rotated").open("refresh", &sealed),
            None
        );
        let mut changed = sealed.clone();
        changed.pop();
        changed.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(sealer.open("refresh", &changed), None);
        assert_eq!(sealer.open("refresh", "the-refresh-token"), None);
    }
}
