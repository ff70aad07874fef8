//! Signed checkpoints of the audit chain. The database chains the events (each hash covers the
//! previous one), which finds any change made below the table owner; the owner could still
//! rewrite the whole chain with fresh hashes. So the portal signs the chain's head now and then
//! with an Ed25519 key the database never sees (`LEASEGATE_AUDIT_KEY`, or the file named by
//! `LEASEGATE_AUDIT_KEY_FILE`: 32 bytes, base64), stores the signature (insert-only) and logs
//! it. The key has a lane of its own: never a `LEASEGATE_SECRET_*` variable nor a file in the
//! secrets directory, the two places a catalog's connectors may read secrets from, so no
//! catalog can hand it to a server of its choosing. Verification recomputes the chain and checks every checkpoint's
//! signature and that the chain still has the signed hash at the signed position.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use sqlx::PgPool;

use crate::server::db::audit;

/// The variables a signing key is read from: the key itself, or a file that holds it.
pub const KEY_ENV: &str = "LEASEGATE_AUDIT_KEY";
pub const KEY_FILE_ENV: &str = "LEASEGATE_AUDIT_KEY_FILE";
/// Where the key was read from before it had a lane of its own; refused now.
const OLD_KEY_ENV: &str = "LEASEGATE_SECRET_AUDIT_KEY";
const OLD_KEY_FILE: &str = "audit-signing-key";

pub struct SigningKey {
    pair: Ed25519KeyPair,
    /// The first eight bytes of the public key, hex: which key signed a checkpoint.
    pub key_id: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.key_id)
    }
}

impl SigningKey {
    /// A key from its 32-byte seed.
    pub fn from_seed(seed: &[u8]) -> Result<Self, String> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| "an audit signing key is 32 bytes".to_string())?;
        let key_id = pair.public_key().as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self { pair, key_id })
    }

    /// The key from its own settings: the variable, else the file it names; `None` when
    /// neither is set. The places connectors may read secrets from are refused, with what to do.
    pub fn load(secrets_dir: Option<&std::path::Path>) -> Result<Option<Self>, String> {
        let lane = format!(
            "the audit signing key must not be where a catalog's connectors can read secrets; \
             move it to {KEY_ENV}, or to a file outside the secrets directory named by \
             {KEY_FILE_ENV}"
        );
        if std::env::var_os(OLD_KEY_ENV).is_some() {
            return Err(format!("{OLD_KEY_ENV} is set: {lane}"));
        }
        if let Some(old) = secrets_dir
            .map(|d| d.join(OLD_KEY_FILE))
            .filter(|p| p.exists())
        {
            return Err(format!("{} exists: {lane}", old.display()));
        }
        let (encoded, from) = match (std::env::var(KEY_ENV), std::env::var(KEY_FILE_ENV)) {
            (Ok(_), Ok(_)) => {
                return Err(format!("set {KEY_ENV} or {KEY_FILE_ENV}, not both"));
            }
            (Ok(value), Err(_)) => (value, KEY_ENV.to_string()),
            (Err(_), Ok(file)) => {
                let path = std::path::Path::new(&file);
                let real = std::fs::canonicalize(path)
                    .map_err(|e| format!("{KEY_FILE_ENV}: cannot read {file}: {e}"))?;
                let inside = secrets_dir
                    .and_then(|d| std::fs::canonicalize(d).ok())
                    .is_some_and(|d| real.starts_with(d));
                if inside {
                    return Err(format!("{KEY_FILE_ENV} names {file}: {lane}"));
                }
                let text = std::fs::read_to_string(&real)
                    .map_err(|e| format!("{KEY_FILE_ENV}: cannot read {file}: {e}"))?;
                (text, format!("{KEY_FILE_ENV} ({file})"))
            }
            (Err(_), Err(_)) => return Ok(None),
        };
        let seed = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| format!("{from}: not base64"))?;
        Self::from_seed(&seed).map(Some)
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }
}

/// What is signed: a fixed label, the position and the hash.
fn message(position: i64, hash: &[u8]) -> Vec<u8> {
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    signed_text(position, &hex).into_bytes()
}

/// The text a checkpoint's signature covers, from the position and the hash in hex (as the
/// evidence export states it, so anyone can check a signature).
pub fn signed_text(position: i64, hash_hex: &str) -> String {
    format!("leasegate audit checkpoint\n{position}\n{hash_hex}")
}

/// Signs the chain's head unless it is already signed; returns the position signed.
pub async fn sign_head(pool: &PgPool, key: &SigningKey) -> Result<Option<i64>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let (position, hash) = audit::head(&mut conn).await?;
    if position == 0 {
        return Ok(None);
    }
    let signature = key.pair.sign(&message(position, &hash));
    let stored =
        audit::insert_checkpoint(&mut conn, position, &hash, &key.key_id, signature.as_ref())
            .await?;
    if stored {
        let b64 = base64::engine::general_purpose::STANDARD;
        // Logged too: a copy outside the database, for whoever collects the logs.
        tracing::info!(
            position,
            hash = %b64.encode(&hash),
            key_id = %key.key_id,
            signature = %b64.encode(signature.as_ref()),
            "audit checkpoint"
        );
    }
    Ok(stored.then_some(position))
}

/// The trail checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The first position whose hash does not follow from the previous one.
    pub first_break: Option<i64>,
    pub checkpoints: usize,
    /// Checkpoints whose signature is not the key's, or whose position no longer has the
    /// signed hash: the chain was rewritten.
    pub mismatched: Vec<i64>,
    pub last_signed_at: Option<DateTime<Utc>>,
    /// The events were recomputed after this position (the last checkpoint that is signed by
    /// the key and still holds its hash); `None`: the whole chain was.
    pub checked_after: Option<i64>,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.first_break.is_none() && self.mismatched.is_empty()
    }
}

/// How much of the chain to recompute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// From the last good signed checkpoint on: every checkpoint's signature and hash are
    /// checked, and the events since the last of them recomputed. What the page and exports
    /// use, so a long trail is not recomputed on every look.
    SinceCheckpoint,
    /// Every event from the first.
    Whole,
}

pub async fn verify(
    pool: &PgPool,
    public_key: &[u8],
    scope: Scope,
) -> Result<Verification, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let key = UnparsedPublicKey::new(&ED25519, public_key);
    let checkpoints = audit::checkpoints(&mut conn).await?;
    let good = |c: &audit::Checkpoint| {
        key.verify(&message(c.position, &c.hash), &c.signature)
            .is_ok()
            && c.chain_hash.as_deref() == Some(c.hash.as_slice())
    };
    let mismatched: Vec<i64> = checkpoints
        .iter()
        .filter(|c| !good(c))
        .map(|c| c.position)
        .collect();
    let anchor = match scope {
        Scope::SinceCheckpoint => checkpoints.iter().rev().find(|c| good(c)),
        Scope::Whole => None,
    };
    let first_break = match anchor {
        Some(c) => audit::first_break_after(&mut conn, c.position, &c.hash).await?,
        None => audit::first_break(&mut conn).await?,
    };
    Ok(Verification {
        first_break,
        checkpoints: checkpoints.len(),
        mismatched,
        last_signed_at: checkpoints.iter().map(|c| c.signed_at).max(),
        checked_after: anchor.map(|c| c.position),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_message_and_key() {
        let key = SigningKey::from_seed(&[7u8; 32]).unwrap();
        let other = SigningKey::from_seed(&[8u8; 32]).unwrap();
        let msg = message(42, &[1, 2, 3]);
        let sig = key.pair.sign(&msg);
        let public = UnparsedPublicKey::new(&ED25519, key.public_key());
        assert!(public.verify(&msg, sig.as_ref()).is_ok());
        assert!(
            public
                .verify(&message(43, &[1, 2, 3]), sig.as_ref())
                .is_err()
        );
        let forged = other.pair.sign(&msg);
        assert!(public.verify(&msg, forged.as_ref()).is_err());
        assert_eq!(key.key_id.len(), 16);
        assert!(SigningKey::from_seed(&[1u8; 16]).is_err());
    }
}
