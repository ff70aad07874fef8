//! Checking an evidence file (`leasegate-evidence/1`, the JSON export) with nothing but the
//! file and, ideally, the auditor's own copy of the portal's public key:
//! `leasegate audit verify FILE [--key BASE64]`. The same checks as the Python and openssl
//! recipes in docs/evidence.md, in one command that needs no portal and no database.

use base64::Engine as _;
use serde_json::Value;

use crate::server::jobs::checkpoints::signed_text;

/// What a file proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proved {
    /// Events whose hash matches their hashed text, and whose fields are that text's.
    pub events: usize,
    /// Neighbouring positions whose link (`prev_hash` = the earlier `hash`) was checked.
    pub links: usize,
    /// Places where positions do not follow each other (a narrowed export has them by design).
    pub gaps: usize,
    /// The file starts at position 1, on SHA-256 of nothing.
    pub from_the_start: bool,
    pub checkpoint: Checkpoint,
}

/// What the file's signed checkpoint proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpoint {
    /// The file carries none (none was signed yet, or the portal has no signing key).
    Absent,
    /// Its signature verifies over its message with the key named.
    Verified {
        position: i64,
        /// The checkpoint's event is in the file, and has the signed hash.
        in_file: bool,
        /// The key was the one the auditor gave (not only the file's own copy).
        trusted_key: bool,
    },
}

impl std::fmt::Display for Proved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} events match their hashes and their hashed text",
            self.events
        )?;
        writeln!(
            f,
            "{} links between neighbouring events hold; {} gaps{}",
            self.links,
            self.gaps,
            if self.gaps > 0 {
                " (a narrowed export skips the events between)"
            } else {
                ""
            }
        )?;
        if self.from_the_start {
            writeln!(f, "the file starts the chain (position 1)")?;
        }
        match &self.checkpoint {
            Checkpoint::Absent => writeln!(
                f,
                "no signed checkpoint in the file: the chain is not tied to a signature"
            ),
            Checkpoint::Verified {
                position,
                in_file,
                trusted_key,
            } => {
                writeln!(
                    f,
                    "the checkpoint at position {position} is signed{}",
                    if *in_file {
                        ", and its event in this file has the signed hash"
                    } else {
                        " (its event is not in this file)"
                    }
                )?;
                if *trusted_key {
                    writeln!(f, "signed by the key you gave")
                } else {
                    writeln!(
                        f,
                        "checked with the key the file carries: give your own copy with --key, \
                         as the file cannot vouch for itself"
                    )
                }
            }
        }
    }
}

/// Checks an evidence file's text; `trusted_key` is the portal's public key (raw 32 bytes) as
/// the auditor keeps it. Every problem found is returned, not only the first.
pub fn verify(text: &str, trusted_key: Option<&[u8]>) -> Result<Proved, Vec<String>> {
    let mut problems = Vec::new();
    let document: Value =
        serde_json::from_str(text).map_err(|e| vec![format!("the file is not JSON: {e}")])?;
    if document["format"] != "leasegate-evidence/1" {
        return Err(vec![format!(
            "not a Leasegate evidence file (format {})",
            document["format"]
        )]);
    }
    let Some(events) = document["events"].as_array() else {
        return Err(vec!["the file has no list of events".into()]);
    };
    let empty = hex(&sha256(b""));
    let mut proved = Proved {
        events: 0,
        links: 0,
        gaps: 0,
        from_the_start: false,
        checkpoint: Checkpoint::Absent,
    };
    let mut previous: Option<(i64, String)> = None;
    let mut hashes = std::collections::BTreeMap::new();
    for (index, event) in events.iter().enumerate() {
        let position = event["position"].as_i64().unwrap_or(-1);
        let at = format!("event {position} (number {} in the file)", index + 1);
        let (Some(prev_hash), Some(hash), Some(canonical)) = (
            event["prev_hash"].as_str(),
            event["hash"].as_str(),
            event["canonical"].as_str(),
        ) else {
            problems.push(format!("{at}: prev_hash, hash or canonical is missing"));
            continue;
        };
        let Some(prev_bytes) = unhex(prev_hash) else {
            problems.push(format!("{at}: prev_hash is not hex"));
            continue;
        };
        let mut hashed = prev_bytes;
        hashed.extend_from_slice(canonical.as_bytes());
        let mut good = hex(&sha256(&hashed)) == hash;
        if !good {
            problems.push(format!("{at} does not match its hash"));
        }
        match serde_json::from_str::<serde_json::Map<String, Value>>(canonical) {
            Ok(fields) => {
                for (field, value) in &fields {
                    if &event[field] != value {
                        good = false;
                        problems.push(format!("{at}: {field} differs from what was hashed"));
                    }
                }
            }
            Err(_) => {
                good = false;
                problems.push(format!("{at}: its hashed text is not a JSON object"));
            }
        }
        if position == 1 {
            if prev_hash == empty {
                proved.from_the_start = true;
            } else {
                problems.push(format!("{at} does not start the chain"));
            }
        }
        match &previous {
            Some((before, _)) if position <= *before => {
                problems.push(format!("{at} is out of order (after position {before})"));
            }
            Some((before, before_hash)) if position == before + 1 => {
                if prev_hash == before_hash {
                    proved.links += 1;
                } else {
                    problems.push(format!("{at} does not follow event {before}"));
                }
            }
            Some(_) => proved.gaps += 1,
            None => {}
        }
        if good {
            proved.events += 1;
        }
        hashes.insert(position, hash.to_string());
        previous = Some((position, hash.to_string()));
    }

    let chain = &document["chain"];
    let checkpoint = &chain["latest_checkpoint"];
    if !checkpoint.is_null() {
        match check_checkpoint(checkpoint, &chain["public_key"], trusted_key, &hashes) {
            Ok(found) => proved.checkpoint = found,
            Err(problem) => problems.push(problem),
        }
    } else if let Some(key) = trusted_key
        && chain["public_key"].as_str() != Some(&base64_of(key))
        && !chain["public_key"].is_null()
    {
        problems.push("the file names another public key than the one you gave".into());
    }
    if problems.is_empty() {
        Ok(proved)
    } else {
        Err(problems)
    }
}

fn check_checkpoint(
    checkpoint: &Value,
    file_key: &Value,
    trusted_key: Option<&[u8]>,
    hashes: &std::collections::BTreeMap<i64, String>,
) -> Result<Checkpoint, String> {
    let (Some(position), Some(hash), Some(message), Some(signature)) = (
        checkpoint["position"].as_i64(),
        checkpoint["hash"].as_str(),
        checkpoint["signed_message"].as_str(),
        checkpoint["signature"].as_str(),
    ) else {
        return Err("the checkpoint lacks its position, hash, message or signature".into());
    };
    if message != signed_text(position, hash) {
        return Err("the checkpoint is not what was signed".into());
    }
    let in_file = match hashes.get(&position) {
        Some(found) if found == hash => true,
        Some(_) => return Err("the checkpoint is not this chain's".into()),
        None => false,
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let file_key = file_key.as_str().and_then(|k| b64.decode(k).ok());
    let key = match (trusted_key, &file_key) {
        (Some(trusted), Some(file)) if trusted != file.as_slice() => {
            return Err("the file names another public key than the one you gave".into());
        }
        (Some(trusted), _) => trusted.to_vec(),
        (None, Some(file)) => file.clone(),
        (None, None) => {
            return Err("the checkpoint's signature cannot be checked: no public key".into());
        }
    };
    let signature = b64
        .decode(signature)
        .map_err(|_| "the checkpoint's signature is not base64".to_string())?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &key)
        .verify(message.as_bytes(), &signature)
        .map_err(|_| "the checkpoint's signature does not verify".to_string())?;
    Ok(Checkpoint::Verified {
        position,
        in_file,
        trusted_key: trusted_key.is_some(),
    })
}

/// A public key as given on the command line: base64 of the raw 32 bytes (as the file and the
/// portal's logs print it).
pub fn parse_key(text: &str) -> Result<Vec<u8>, String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| "the key is not base64".to_string())?;
    if key.len() != 32 {
        return Err(format!(
            "an Ed25519 public key has 32 bytes, this one {}",
            key.len()
        ));
    }
    Ok(key)
}

fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A two-event chain from the start, as the export writes it, signed at position 2.
    fn file(seed: u8) -> (Value, Vec<u8>) {
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
        let mut events = Vec::new();
        let mut prev = sha256(b"");
        for (position, action) in [(1, "request.submitted"), (2, "request.approved")] {
            let canonical = json!({ "position": position, "action": action }).to_string();
            let mut hashed = prev.clone();
            hashed.extend_from_slice(canonical.as_bytes());
            let hash = sha256(&hashed);
            events.push(json!({
                "position": position, "action": action, "canonical": canonical,
                "prev_hash": hex(&prev), "hash": hex(&hash), "subject": "Adele Vance",
            }));
            prev = hash;
        }
        let message = signed_text(2, &hex(&prev));
        let signature = pair.sign(message.as_bytes());
        let public = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec();
        let document = json!({
            "format": "leasegate-evidence/1",
            "events": events,
            "chain": {
                "public_key": base64_of(&public),
                "latest_checkpoint": {
                    "position": 2, "hash": hex(&prev), "signed_message": message,
                    "signature": base64_of(signature.as_ref()),
                },
            },
        });
        (document, public)
    }

    fn refused(document: &Value, key: Option<&[u8]>) -> Vec<String> {
        verify(&document.to_string(), key).expect_err("a changed file passed")
    }

    #[test]
    fn a_whole_signed_file_proves_itself_and_its_key() {
        let (document, key) = file(1);
        let proved = verify(&document.to_string(), Some(&key)).unwrap();
        assert_eq!(
            proved,
            Proved {
                events: 2,
                links: 1,
                gaps: 0,
                from_the_start: true,
                checkpoint: Checkpoint::Verified {
                    position: 2,
                    in_file: true,
                    trusted_key: true
                },
            }
        );
        let without = verify(&document.to_string(), None).unwrap();
        assert_eq!(
            without.checkpoint,
            Checkpoint::Verified {
                position: 2,
                in_file: true,
                trusted_key: false
            }
        );
        assert!(
            without
                .to_string()
                .contains("give your own copy with --key")
        );
    }

    #[test]
    fn every_change_is_named() {
        let (original, key) = file(1);
        let mut changed = original.clone();
        changed["events"][0]["action"] = json!("request.cancelled");
        assert_eq!(
            refused(&changed, Some(&key)),
            ["event 1 (number 1 in the file): action differs from what was hashed"]
        );
        let mut changed = original.clone();
        let text = changed["events"][1]["canonical"]
            .as_str()
            .unwrap()
            .to_string();
        changed["events"][1]["canonical"] = json!(text.replace("approved", "denied"));
        let problems = refused(&changed, Some(&key));
        assert!(
            problems.contains(&"event 2 (number 2 in the file) does not match its hash".into()),
            "{problems:?}"
        );
        // A dropped event between two others: the link breaks only when they were neighbours;
        // here the first is dropped, so the file no longer starts the chain but still checks.
        let mut narrowed = original.clone();
        narrowed["events"].as_array_mut().unwrap().remove(0);
        let proved = verify(&narrowed.to_string(), Some(&key)).unwrap();
        assert!(!proved.from_the_start);
        assert_eq!(proved.events, 1);
        // Another key than the auditor's.
        let (_, other) = file(2);
        assert_eq!(
            refused(&original, Some(&other)),
            ["the file names another public key than the one you gave"]
        );
        // A checkpoint moved to another position no longer matches its signature's message.
        let mut moved = original.clone();
        moved["chain"]["latest_checkpoint"]["signed_message"] = json!(signed_text(
            1,
            original["chain"]["latest_checkpoint"]["hash"]
                .as_str()
                .unwrap()
        ));
        assert_eq!(
            refused(&moved, Some(&key)),
            ["the checkpoint is not what was signed"]
        );
        let mut forged = original.clone();
        forged["chain"]["latest_checkpoint"]["signature"] = json!(base64_of(&[0u8; 64]));
        assert_eq!(
            refused(&forged, Some(&key)),
            ["the checkpoint's signature does not verify"]
        );
        assert!(verify("{", None).is_err());
        assert!(verify(r#"{"format":"other"}"#, None).is_err());
    }

    #[test]
    fn keys_are_read_as_the_file_prints_them() {
        let (_, key) = file(3);
        assert_eq!(parse_key(&base64_of(&key)).unwrap(), key);
        assert!(parse_key("not base64!").is_err());
        assert!(
            parse_key(&base64_of(&[1, 2, 3]))
                .unwrap_err()
                .contains("32 bytes")
        );
    }
}
