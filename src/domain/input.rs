//! What people type, parsed once at the edge. A service that takes one of these types knows its
//! shape is right: trimmed, free of control characters, within its length, and (for sign-in
//! names) case-folded, so a comparison of two parsed names needs no `to_lowercase` of its own.

use serde::{Deserialize, Serialize};

use crate::domain::problem::Problem;

/// Trimmed text with no control characters (NUL among them, which PostgreSQL cannot store);
/// `multiline` keeps line breaks and tabs. Every text a form sends goes through here, through
/// these types or `api::text_line` / `api::text_block`.
pub fn clean(text: &str, multiline: bool) -> Result<&str, Problem> {
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(Problem::ControlCharacters);
    }
    Ok(text.trim())
}

/// An id sent as text (a request's, a lease's...): malformed is bad input, not a server error.
pub fn identifier(text: &str) -> Result<uuid::Uuid, Problem> {
    uuid::Uuid::parse_str(text.trim()).map_err(|_| Problem::NotAnIdentifier)
}

/// A sign-in name (user principal name) as the portal compares it: trimmed and lower-cased.
/// Entra and AD compare them without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Upn(String);

impl Upn {
    pub const MAX_CHARS: usize = 256;

    pub fn parse(text: &str) -> Result<Self, Problem> {
        let text = clean(text, false)?;
        let shaped = text.chars().count() <= Self::MAX_CHARS
            && text
                .split_once('@')
                .is_some_and(|(name, domain)| !name.is_empty() && !domain.is_empty())
            && !text.contains(char::is_whitespace);
        if !shaped {
            return Err(Problem::NotASignInName);
        }
        Ok(Self(text.to_lowercase()))
    }

    /// A name a directory holds for one of its people (a mover's, read back from the
    /// portal's own records), case-folded but not judged: the directory decides its shape.
    pub fn from_directory(name: &str) -> Self {
        Self(name.trim().to_lowercase())
    }

    /// An optional field: empty means none.
    pub fn parse_optional(text: &str) -> Result<Option<Self>, Problem> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        Self::parse(text).map(Some)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Upn {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).map_err(|_| format!("{text:?} is not a sign-in name"))
    }
}

impl From<Upn> for String {
    fn from(upn: Upn) -> Self {
        upn.0
    }
}

impl std::fmt::Display for Upn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Upn {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// A catalog entry's key as a form names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntitlementKey(String);

impl EntitlementKey {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(text: &str) -> Result<Self, Problem> {
        let text = clean(text, false)?;
        if text.is_empty() || text.chars().count() > Self::MAX_CHARS {
            return Err(Problem::ChooseEntitlement);
        }
        Ok(Self(text.to_string()))
    }

    /// A key read from the catalog itself (a lease's or a bundle's), which the catalog checked
    /// when it was loaded.
    pub fn from_catalog(key: String) -> Self {
        Self(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why someone asks, as they wrote it: line breaks kept. How long it must be is the policy's
/// rule ([`crate::domain::policy::Policy::check_texts`]); this is only its shape.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Justification(String);

impl Justification {
    pub fn parse(text: &str) -> Result<Self, Problem> {
        Ok(Self(clean(text, true)?.to_string()))
    }

    /// A reason the portal gives for a request it makes itself (a joiner's or mover's bundle).
    pub fn by_portal(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A change or incident ticket reference, one line; empty when none was given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ticket(String);

impl Ticket {
    pub fn parse(text: &str) -> Result<Self, Problem> {
        Ok(Self(clean(text, false)?.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The reference, or `None` when none was given.
    pub fn given(&self) -> Option<&str> {
        Some(self.0.as_str()).filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_name_is_folded_once() {
        let upn = Upn::parse("  Adele.Vance@Contoso.TEST ").unwrap();
        assert_eq!(upn.as_str(), "adele.vance@contoso.test");
        assert_eq!(upn, Upn::parse("adele.vance@contoso.test").unwrap());
        for bad in ["adele", "@contoso.test", "adele@", "a b@contoso.test", ""] {
            assert_eq!(Upn::parse(bad), Err(Problem::NotASignInName), "{bad:?}");
        }
        assert_eq!(
            Upn::parse(&format!("{}@contoso.test", "a".repeat(250))),
            Err(Problem::NotASignInName)
        );
        assert_eq!(
            Upn::parse("adele\0@contoso.test"),
            Err(Problem::ControlCharacters)
        );
        assert_eq!(Upn::parse_optional("   "), Ok(None));
    }

    #[test]
    fn a_sign_in_name_from_json_is_checked_too() {
        let upn: Upn = serde_json::from_str("\"Pat@Contoso.test\"").unwrap();
        assert_eq!(upn.as_str(), "pat@contoso.test");
        assert!(serde_json::from_str::<Upn>("\"nobody\"").is_err());
    }

    #[test]
    fn texts_keep_their_shape_and_lose_control_characters() {
        assert_eq!(
            Justification::parse(" quarter close\nline two ")
                .unwrap()
                .as_str(),
            "quarter close\nline two"
        );
        assert_eq!(
            Justification::parse("because\0"),
            Err(Problem::ControlCharacters)
        );
        assert_eq!(Ticket::parse("CHG\u{7}1"), Err(Problem::ControlCharacters));
        assert_eq!(Ticket::parse("  ").unwrap().given(), None);
        assert_eq!(Ticket::parse(" CHG-1 ").unwrap().given(), Some("CHG-1"));
        assert_eq!(EntitlementKey::parse(""), Err(Problem::ChooseEntitlement));
        assert_eq!(
            EntitlementKey::parse(&"k".repeat(101)),
            Err(Problem::ChooseEntitlement)
        );
        assert_eq!(EntitlementKey::parse(" sql ").unwrap().as_str(), "sql");
    }
}
