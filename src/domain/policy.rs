//! An entitlement's policy: who may ask, for how long, with what justification, and who
//! approves.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::violation::Violation;
use super::window::DurationRules;

/// The rules one or more catalog entries share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// How people see the policy named ("Manager approval").
    pub name: String,
    #[serde(default)]
    pub eligible: Eligibility,
    pub durations: DurationRules,
    #[serde(default)]
    pub justification: JustificationRule,
    #[serde(default)]
    pub ticket: TicketRule,
    /// In order; none means the request is approved as soon as it is submitted.
    #[serde(default)]
    pub stages: Vec<ApprovalStage>,
    /// Pending requests nobody decided on expire after this many days.
    #[serde(default = "Policy::default_pending_days")]
    pub pending_days: u32,
    /// How long before a lease ends its holder is mailed that it is ending (with a link to
    /// extend it); at most half the lease's length, so a short lease is not announced as ending
    /// the moment it starts. 0: no such mail.
    #[serde(default = "Policy::default_expiry_notice_minutes")]
    pub expiry_notice_minutes: u32,
    /// Approvers who have not decided this long after their stage began are reminded. 0: never.
    #[serde(default = "Policy::default_remind_after_minutes")]
    pub remind_after_minutes: u32,
    /// A stage nobody decided this long after it began is escalated once: `escalate_to` may
    /// decide it too. 0: never.
    #[serde(default = "Policy::default_escalate_after_minutes")]
    pub escalate_after_minutes: u32,
    #[serde(default)]
    pub escalate_to: EscalateTo,
    /// The Teams channel (a `LEASEGATE_TEAMS_WEBHOOK_<NAME>` setting) where new requests are
    /// posted as cards; none: the `approvals` channel, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams_channel: Option<String>,
    /// Break-glass: granted at once without approval (so no stages), with a required reason and
    /// a short maximum; security is alerted and an owner reviews every use afterwards.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub emergency: bool,
    /// What reconciliation does with access found in the target that no lease covers, or that
    /// a lease says was removed: `report` (the default) or `remove` (docs/reconciliation.md).
    #[serde(
        default,
        skip_serializing_if = "crate::domain::reconcile::Reconcile::is_report"
    )]
    pub reconcile: crate::domain::reconcile::Reconcile,
}

/// The longest lease an emergency policy may give.
pub const EMERGENCY_MAX_MINUTES: u32 = 240;

/// Who an escalated stage goes to, besides its approvers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalateTo {
    /// Each undecided approver's manager.
    #[default]
    Managers,
    /// Named people, by UPN.
    Users(Vec<String>),
}

impl Policy {
    fn default_pending_days() -> u32 {
        7
    }

    fn default_expiry_notice_minutes() -> u32 {
        24 * 60
    }

    fn default_remind_after_minutes() -> u32 {
        24 * 60
    }

    fn default_escalate_after_minutes() -> u32 {
        2 * 24 * 60
    }

    /// When the holder of a lease from `starts_at` to `ends_at` is told it is ending; `None`
    /// when the policy sends no such notice.
    pub fn expiry_notice_at(
        &self,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if self.expiry_notice_minutes == 0 {
            return None;
        }
        let lead = TimeDelta::minutes(i64::from(self.expiry_notice_minutes))
            .min((ends_at - starts_at) / 2);
        Some(ends_at - lead)
    }

    /// When a request submitted at `submitted_at` stops waiting for decisions.
    pub fn pending_deadline(&self, submitted_at: DateTime<Utc>) -> DateTime<Utc> {
        submitted_at + TimeDelta::days(i64::from(self.pending_days.max(1)))
    }

    pub fn auto_approves(&self) -> bool {
        self.stages.is_empty()
    }

    /// Checks the free-text parts of a request against the policy.
    pub fn check_texts(&self, justification: &str, ticket: &str) -> Vec<Violation> {
        let mut violations = Vec::new();
        violations.extend(self.justification.check(justification));
        violations.extend(self.ticket.check(ticket));
        violations
    }

    /// Problems with the policy itself, for catalog validation and the admin page.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.durations.problems();
        if self.name.trim().is_empty() {
            problems.push("name must not be empty".to_string());
        }
        problems.extend(self.justification.problems());
        problems.extend(self.ticket.problems());
        for (i, stage) in self.stages.iter().enumerate() {
            if stage.required == 0 {
                problems.push(format!(
                    "stage {} must require at least one approval",
                    i + 1
                ));
            }
            if let ApproverSource::Users(users) = &stage.approvers
                && (users.len() as u64) < u64::from(stage.required)
            {
                problems.push(format!(
                    "stage {} requires {} approvals but lists only {} people",
                    i + 1,
                    stage.required,
                    users.len()
                ));
            }
            if stage.required > 1 && stage.approvers == ApproverSource::Manager {
                problems.push(format!(
                    "stage {} asks the manager for {} approvals; a person has one manager",
                    i + 1,
                    stage.required
                ));
            }
        }
        if self.pending_days == 0 || self.pending_days > 90 {
            problems.push("pending_days must lie between 1 and 90".to_string());
        }
        // Times past the request's deadline are allowed (the defaults are a day and two): a
        // request that lapses first is simply never reminded or escalated.
        for (name, minutes) in [
            ("remind_after_minutes", self.remind_after_minutes),
            ("escalate_after_minutes", self.escalate_after_minutes),
        ] {
            if minutes > 90 * 24 * 60 {
                problems.push(format!(
                    "{name} must be at most 129600 (90 days), or 0 (never)"
                ));
            }
        }
        if self.emergency {
            if !self.stages.is_empty() {
                problems.push(
                    "an emergency policy grants at once: it has no stages (owners review each use afterwards)"
                        .to_string(),
                );
            }
            if !self.justification.required {
                problems.push("an emergency policy requires a justification".to_string());
            }
            if self.durations.max_minutes > EMERGENCY_MAX_MINUTES {
                problems.push(format!(
                    "an emergency policy gives at most {EMERGENCY_MAX_MINUTES} minutes (max_minutes)"
                ));
            }
        }
        if let EscalateTo::Users(users) = &self.escalate_to
            && users.iter().all(|u| u.trim().is_empty())
        {
            problems.push("escalate_to lists nobody".to_string());
        }
        if self.expiry_notice_minutes > 7 * 24 * 60 {
            problems.push(
                "expiry_notice_minutes must lie between 0 (no notice) and 10080 (a week)"
                    .to_string(),
            );
        }
        problems
    }
}

/// Who may request an entitlement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Eligibility {
    #[default]
    Everyone,
    /// Members of this directory group (directly or through nested groups), by DN.
    Group(String),
    /// People whose directory `department` is this (compared without regard to case).
    Department(String),
}

/// What the portal knows of a requester when it checks eligibility.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequesterFacts {
    pub department: Option<String>,
    /// DNs of the groups the person belongs to, nested ones included.
    pub groups: Vec<String>,
}

impl Eligibility {
    pub fn admits(&self, who: &RequesterFacts) -> bool {
        match self {
            Eligibility::Everyone => true,
            Eligibility::Group(dn) => who.groups.iter().any(|g| same_dn(g, dn)),
            Eligibility::Department(d) => who
                .department
                .as_deref()
                .is_some_and(|mine| mine.trim().eq_ignore_ascii_case(d.trim())),
        }
    }
}

/// Directory names compare without regard to case or spaces after commas (as LDAP does for
/// the attribute types and the values AD uses).
pub fn same_dn(a: &str, b: &str) -> bool {
    normalise_dn(a) == normalise_dn(b)
}

/// A DN in one spelling: lower case, no spaces after separators, and escapes in one form
/// (`\2C` and `\,` are the same comma; `\41` is just `a`).
pub fn normalise_dn(dn: &str) -> String {
    const SPECIAL: &[char] = &[',', '+', '"', '\\', '<', '>', ';', '=', '#'];
    let bytes = dn.as_bytes();
    let mut out = String::with_capacity(dn.len());
    let mut i = 0;
    let mut after_separator = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' && i + 1 < bytes.len() {
            // Hex pairs may spell one multi-byte character: collect them all first.
            let mut decoded = Vec::new();
            while i + 2 < bytes.len() && bytes[i] == b'\\' {
                match hex_pair(bytes.get(i + 1).copied(), bytes.get(i + 2).copied()) {
                    Some(b) => {
                        decoded.push(b);
                        i += 3;
                    }
                    None => break,
                }
            }
            if decoded.is_empty() {
                // An escaped special character, written as itself.
                let ch = dn[i + 1..].chars().next().unwrap_or('\\');
                push_value_char(&mut out, ch, true);
                i += 1 + ch.len_utf8();
            } else {
                for ch in String::from_utf8_lossy(&decoded).chars() {
                    push_value_char(&mut out, ch, SPECIAL.contains(&ch) || ch == ' ');
                }
            }
            after_separator = false;
            continue;
        }
        let ch = dn[i..].chars().next().unwrap_or(' ');
        i += ch.len_utf8();
        if ch == ' ' && after_separator {
            continue;
        }
        after_separator = ch == ',' || ch == '+';
        out.extend(ch.to_lowercase());
    }
    out
}

fn hex_pair(a: Option<u8>, b: Option<u8>) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(a?)? * 16 + digit(b?)?) as u8)
}

fn push_value_char(out: &mut String, ch: char, escaped: bool) {
    if escaped && (ch == ' ' || "\\,+\"<>;=#".contains(ch)) {
        out.push('\\');
    }
    out.extend(ch.to_lowercase());
}

/// Longest text a justification may hold; longer input is refused, never cut.
pub const MAX_JUSTIFICATION_CHARS: u32 = 2000;
pub const MAX_TICKET_CHARS: u32 = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JustificationRule {
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default = "JustificationRule::default_min")]
    pub min_chars: u32,
}

fn yes() -> bool {
    true
}

impl JustificationRule {
    fn default_min() -> u32 {
        10
    }

    pub fn check(&self, text: &str) -> Option<Violation> {
        let length = text.trim().chars().count() as u32;
        if length > MAX_JUSTIFICATION_CHARS {
            Some(Violation::JustificationTooLong {
                max_chars: MAX_JUSTIFICATION_CHARS,
            })
        } else if length == 0 && self.required {
            Some(Violation::JustificationRequired)
        } else if length > 0 && length < self.min_chars {
            Some(Violation::JustificationTooShort {
                min_chars: self.min_chars,
            })
        } else {
            None
        }
    }

    fn problems(&self) -> Vec<String> {
        if self.min_chars > MAX_JUSTIFICATION_CHARS {
            vec![format!(
                "justification.min_chars must not exceed {MAX_JUSTIFICATION_CHARS}"
            )]
        } else {
            Vec::new()
        }
    }
}

impl Default for JustificationRule {
    fn default() -> Self {
        Self {
            required: true,
            min_chars: Self::default_min(),
        }
    }
}

/// A change or incident ticket the request must cite.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketRule {
    #[serde(default)]
    pub required: bool,
    /// A regular expression the whole ticket number must match, e.g. `(INC|CHG)[0-9]{7}`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Shown to the person, e.g. "INC or CHG followed by 7 digits".
    #[serde(default)]
    pub hint: Option<String>,
}

impl TicketRule {
    fn anchored(&self) -> Option<Result<regex_lite::Regex, regex_lite::Error>> {
        self.pattern
            .as_ref()
            .map(|p| regex_lite::Regex::new(&format!("^(?:{p})$")))
    }

    pub fn check(&self, ticket: &str) -> Option<Violation> {
        let ticket = ticket.trim();
        if ticket.chars().count() as u32 > MAX_TICKET_CHARS {
            return Some(Violation::TicketTooLong {
                max_chars: MAX_TICKET_CHARS,
            });
        }
        if ticket.is_empty() {
            return self.required.then_some(Violation::TicketRequired);
        }
        match self.anchored() {
            Some(Ok(re)) if !re.is_match(ticket) => Some(Violation::TicketMalformed {
                hint: self
                    .hint
                    .clone()
                    .or_else(|| self.pattern.clone())
                    .unwrap_or_default(),
            }),
            _ => None,
        }
    }

    fn problems(&self) -> Vec<String> {
        match self.anchored() {
            Some(Err(e)) => vec![format!("ticket.pattern is not a valid pattern: {e}")],
            _ => Vec::new(),
        }
    }
}

/// One step of approval: who may decide, and how many of them must approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalStage {
    pub approvers: ApproverSource,
    #[serde(default = "one")]
    pub required: u32,
}

fn one() -> u32 {
    1
}

/// Where a stage's approvers come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApproverSource {
    /// The beneficiary's manager in the directory.
    Manager,
    /// The entitlement's owners, as listed in the catalog.
    Owners,
    /// Members of a directory group, by DN.
    Group(String),
    /// Named people, by UPN.
    Users(Vec<String>),
}

/// Removes the people who may not decide (the requester and the beneficiary), lower-cases,
/// sorts and de-duplicates; then checks the stage can still reach its quorum.
pub fn eligible_approvers(
    stage_index: u32,
    stage: &ApprovalStage,
    candidates: &[String],
    requester_upn: &str,
    beneficiary_upn: &str,
) -> Result<Vec<String>, Violation> {
    let excluded = [requester_upn.to_lowercase(), beneficiary_upn.to_lowercase()];
    let mut approvers: Vec<String> = candidates
        .iter()
        .map(|c| c.trim().to_lowercase())
        .filter(|c| !c.is_empty() && !excluded.contains(c))
        .collect();
    approvers.sort();
    approvers.dedup();
    if (approvers.len() as u64) < u64::from(stage.required) {
        return Err(Violation::NotEnoughApprovers {
            stage: stage_index + 1,
            required: stage.required,
            available: approvers.len() as u32,
        });
    }
    Ok(approvers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eligibility() {
        let finance = RequesterFacts {
            department: Some(" Finance ".into()),
            groups: vec!["CN=Staff,OU=Groups,DC=contoso,DC=test".into()],
        };
        assert!(Eligibility::Everyone.admits(&RequesterFacts::default()));
        assert!(Eligibility::Department("finance".into()).admits(&finance));
        assert!(!Eligibility::Department("IT".into()).admits(&finance));
        assert!(!Eligibility::Department("IT".into()).admits(&RequesterFacts::default()));
        assert!(
            Eligibility::Group("cn=staff, ou=groups, dc=contoso, dc=test".into()).admits(&finance)
        );
        assert!(!Eligibility::Group("CN=Admins,DC=contoso,DC=test".into()).admits(&finance));
    }

    #[test]
    fn dn_comparison_keeps_escapes() {
        assert!(same_dn(
            r"CN=O'Brien\, Jane,OU=People,DC=x",
            r"cn=o'brien\, jane, ou=people,dc=X"
        ));
        // The escaped comma is part of the value: "O'Brien\, Jane" is not "O'Brien" + "Jane".
        assert!(!same_dn(r"CN=O'Brien\, Jane,DC=x", r"CN=O'Brien,Jane,DC=x"));
        // OpenLDAP answers with hex escapes.
        assert!(same_dn(
            r"cn=O'Brien\2C Jane,ou=People",
            r"CN=O'Brien\, Jane,OU=People"
        ));
        assert!(same_dn(r"cn=\41nna,ou=x", "cn=anna,ou=x"));
        assert!(same_dn(r"cn=Ren\C3\A9,ou=x", "cn=René,ou=x"));
    }

    #[test]
    fn justification_rules() {
        let rule = JustificationRule::default();
        assert_eq!(rule.check("   "), Some(Violation::JustificationRequired));
        assert_eq!(
            rule.check("too short"),
            Some(Violation::JustificationTooShort { min_chars: 10 })
        );
        assert_eq!(rule.check("Patch night for SQL cluster"), None);
        assert_eq!(
            rule.check(&"x".repeat(2001)),
            Some(Violation::JustificationTooLong { max_chars: 2000 })
        );
        let optional = JustificationRule {
            required: false,
            min_chars: 10,
        };
        assert_eq!(optional.check(""), None);
        assert!(optional.check("short").is_some());
    }

    #[test]
    fn ticket_rules() {
        let rule = TicketRule {
            required: true,
            pattern: Some("(INC|CHG)[0-9]{7}".into()),
            hint: Some("INC or CHG and 7 digits".into()),
        };
        assert_eq!(rule.check(""), Some(Violation::TicketRequired));
        assert_eq!(rule.check("CHG0012345"), None);
        assert_eq!(rule.check(" INC0000001 "), None);
        // Anchored: a valid number inside other text does not pass.
        assert!(matches!(
            rule.check("see CHG0012345"),
            Some(Violation::TicketMalformed { .. })
        ));
        assert!(matches!(
            rule.check("CHG00123456"),
            Some(Violation::TicketTooLong { .. }) | Some(Violation::TicketMalformed { .. })
        ));
        assert_eq!(
            rule.check(&"1".repeat(65)),
            Some(Violation::TicketTooLong { max_chars: 64 })
        );
        let free = TicketRule::default();
        assert_eq!(free.check(""), None);
        assert_eq!(free.check("anything"), None);
    }

    #[test]
    fn eligible_approvers_exclude_the_parties() {
        let stage = ApprovalStage {
            approvers: ApproverSource::Owners,
            required: 2,
        };
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = eligible_approvers(
            0,
            &stage,
            &list(&["B@x.test", "a@x.test", "b@x.test", "req@x.test"]),
            "REQ@x.test",
            "req@x.test",
        )
        .unwrap();
        assert_eq!(ok, list(&["a@x.test", "b@x.test"]));
        let err = eligible_approvers(
            1,
            &stage,
            &list(&["a@x.test", "me@x.test"]),
            "boss@x.test",
            "me@x.test",
        );
        assert_eq!(
            err,
            Err(Violation::NotEnoughApprovers {
                stage: 2,
                required: 2,
                available: 1
            })
        );
    }

    #[test]
    fn policy_problems() {
        let mut policy = Policy {
            name: "Test".into(),
            eligible: Eligibility::Everyone,
            durations: DurationRules {
                default_minutes: 60,
                max_minutes: 120,
                min_minutes: 1,
                presets_minutes: vec![],
                max_start_delay_minutes: 0,
            },
            justification: JustificationRule::default(),
            ticket: TicketRule {
                required: false,
                pattern: Some("(unclosed".into()),
                hint: None,
            },
            stages: vec![
                ApprovalStage {
                    approvers: ApproverSource::Users(vec!["a@x".into()]),
                    required: 2,
                },
                ApprovalStage {
                    approvers: ApproverSource::Manager,
                    required: 0,
                },
            ],
            pending_days: 0,
            expiry_notice_minutes: 20_000,
            remind_after_minutes: 60,
            escalate_after_minutes: 200_000,
            escalate_to: EscalateTo::Users(vec![]),
            teams_channel: None,
            emergency: true,
            reconcile: Default::default(),
        };
        // The 7 above, and an emergency policy with stages.
        assert_eq!(policy.problems().len(), 8, "{:?}", policy.problems());
        policy.ticket.pattern = None;
        policy.stages.clear();
        policy.pending_days = 7;
        policy.expiry_notice_minutes = 60;
        policy.escalate_to = EscalateTo::Managers;
        policy.emergency = false;
        policy.escalate_after_minutes = 120;
        assert!(policy.problems().is_empty());
        assert!(policy.auto_approves());
    }

    #[test]
    fn expiry_notice_is_at_most_half_the_lease() {
        let policy: Policy = serde_json::from_value(serde_json::json!({
            "name": "P",
            "durations": { "default_minutes": 60, "max_minutes": 600 },
        }))
        .unwrap();
        assert_eq!(policy.expiry_notice_minutes, 24 * 60, "a day by default");
        let start = DateTime::parse_from_rfc3339("2026-11-29T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let week = start + TimeDelta::days(7);
        assert_eq!(
            policy.expiry_notice_at(start, week),
            Some(week - TimeDelta::days(1))
        );
        let hour = start + TimeDelta::hours(1);
        assert_eq!(
            policy.expiry_notice_at(start, hour),
            Some(start + TimeDelta::minutes(30))
        );
        let off = Policy {
            expiry_notice_minutes: 0,
            ..policy
        };
        assert_eq!(off.expiry_notice_at(start, week), None);
    }
}
