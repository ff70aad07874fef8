//! The portal's English words for rules and outcomes, kept in one place so a German
//! translation can follow by adding a sibling of each function.

pub mod labels;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::access::{Access, EntitlementKind, GroupRole, SiteRole};
use crate::domain::approval::Outcome;
use crate::domain::audit::AuditAction;
use crate::domain::grant::GrantState;
use crate::domain::policy::{ApproverSource, Eligibility, Policy};
use crate::domain::request::RequestState;
use crate::domain::violation::Violation;
use crate::ui::components::pill::Status;

/// The pages' words in the person's language (English for now).
pub fn labels() -> &'static labels::Labels {
    &labels::EN
}

/// An instant as people read it: "2026-11-27 14:30 UTC".
pub fn at(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An instant in a zone `offset` minutes east of UTC: "2026-11-27 15:30 (UTC+01:00)", or
/// "2026-11-27 14:30 UTC" when the offset is zero.
pub fn at_offset(t: DateTime<Utc>, offset: i32) -> String {
    if offset == 0 {
        return at(t);
    }
    let local = t + chrono::TimeDelta::minutes(i64::from(offset));
    let sign = if offset > 0 { '+' } else { '-' };
    format!(
        "{} (UTC{sign}{:02}:{:02})",
        local.format("%Y-%m-%d %H:%M"),
        offset.abs() / 60,
        offset.abs() % 60
    )
}

/// How far an instant is from now: "in 2 h 5 min", "3 min ago", "now".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (t - now).num_seconds();
    let span = |s: i64| {
        let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
        match (d, h, m) {
            (0, 0, 0) => format!("{s} s"),
            (0, 0, m) if m < 10 && s % 60 != 0 => format!("{m} min {} s", s % 60),
            (0, 0, m) => format!("{m} min"),
            (0, h, 0) => format!("{h} h"),
            (0, h, m) => format!("{h} h {m} min"),
            (d, 0, _) => format!("{d} d"),
            (d, h, _) => format!("{d} d {h} h"),
        }
    };
    match seconds {
        0 => "now".into(),
        s if s > 0 => format!("in {}", span(s)),
        s => format!("{} ago", span(-s)),
    }
}

/// The account an engine event names: a directory's DN shortened to its name; a cloud
/// account's object id with the person's sign-in name before it.
fn account_words(details: &Value) -> String {
    let account = details["account"].as_str().unwrap_or_default();
    match details["upn"].as_str() {
        Some(upn) if !account.contains('=') => format!("{upn} ({account})"),
        _ => short_dn(account),
    }
}

fn target_words(details: &Value) -> String {
    short_dn(details["target"].as_str().unwrap_or_default())
}

/// " as Team (owner)" for access other than an AD group.
fn access_words(details: &Value) -> String {
    serde_json::from_value::<Access>(details["access"].clone())
        .map(|a| format!(" as {}", access_label(&a)))
        .unwrap_or_default()
}

/// What the system said, with its own ids: "; Teams membership id ...".
fn system_words(details: &Value) -> String {
    let system = &details["system"];
    let mut words = String::new();
    if let Some(id) = system["team_membership_id"].as_str() {
        words.push_str(&format!("; Teams membership {id}"));
    }
    if let Some(id) = system["pim_request_id"].as_str() {
        words.push_str(&format!("; PIM request {id}"));
    }
    if let Some(id) = system["pim_schedule_id"].as_str() {
        words.push_str(&format!(", schedule {id}"));
    }
    if let Some(status) = system["pim_status"].as_str() {
        words.push_str(&format!(", {status}"));
    }
    if let Some(end) = system["pim_ends_at"].as_str() {
        words.push_str(&format!(", ends {end} by Entra's own schedule"));
    }
    if let Some(id) = system["sharepoint_permission_id"].as_str() {
        words.push_str(&format!("; SharePoint library permission {id}"));
        if let Some(roles) = system["sharepoint_roles"].as_array() {
            let roles: Vec<&str> = roles.iter().filter_map(|r| r.as_str()).collect();
            words.push_str(&format!(" ({})", roles.join(", ")));
        }
    }
    if let Some(source) = system["jit_source"].as_str() {
        words.push_str(&format!("; JIT request opening the port to {source}"));
        if let Some(status) = system["jit_status"].as_str() {
            words.push_str(&format!(", {status}"));
        }
        if let Some(end) = system["jit_open_until"].as_str() {
            words.push_str(&format!(", closed by Azure at {end}"));
        }
    }
    words
}

/// "AD group", "Team (owner)", "Entra role (/)": what an entry gives, in a few words.
pub fn access_label(access: &Access) -> String {
    let kind = kind_label(access.kind());
    match access {
        Access::PimGroup { role } | Access::Team { role } => {
            format!("{kind} ({})", group_role_label(*role))
        }
        Access::SharepointSite { role } => format!(
            "{kind} ({})",
            match role {
                SiteRole::Visitor => "visitor, can read",
                SiteRole::Member => "member, can edit",
                SiteRole::Owner => "owner, full control",
            }
        ),
        Access::EntraRole { directory_scope } if directory_scope != "/" => {
            format!("{kind} in {directory_scope}")
        }
        Access::AzureVmPort { port, .. } => format!("{kind} {port}"),
        _ => kind.to_string(),
    }
}

/// The kind of access an entry gives.
pub fn kind_label(kind: EntitlementKind) -> &'static str {
    match kind {
        EntitlementKind::AdGroup => "AD group",
        EntitlementKind::EntraGroup => "Entra ID group",
        EntitlementKind::PimGroup => "Entra group through PIM",
        EntitlementKind::EntraRole => "Entra ID role",
        EntitlementKind::Team => "Team",
        EntitlementKind::SharepointSite => "SharePoint site",
        EntitlementKind::AzureVmPort => "Azure VM port",
        EntitlementKind::Bundle => "Bundle",
    }
}

pub fn group_role_label(role: GroupRole) -> &'static str {
    match role {
        GroupRole::Member => "member",
        GroupRole::Owner => "owner",
    }
}

/// "Active", "Pending", ... for what a state pill shows.
pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::Request(state) => match state {
            RequestState::Pending => "Pending",
            RequestState::Approved => "Approved",
            RequestState::Denied => "Denied",
            RequestState::Cancelled => "Cancelled",
            RequestState::Expired => "Expired",
        },
        Status::Grant(state) => match state {
            GrantState::Scheduled => "Scheduled",
            GrantState::Active => "Active",
            GrantState::Revoking => "Removing",
            GrantState::Revoked => "Removed",
            GrantState::Failed => "Failed",
        },
        Status::Decision(Outcome::Approve) => "Approved",
        Status::Decision(Outcome::Deny) => "Denied",
        Status::Overdue => "Overdue",
    }
}

/// "Step 1 of 2 · 1 of 2 approvals".
pub fn approval_progress(step: usize, steps: usize, approvals: i64, required: u32) -> String {
    format!("Step {step} of {steps} · {approvals} of {required} approvals")
}

/// Who approves, in a few words, for the catalog list.
pub fn approval_summary(policy: &Policy) -> String {
    if policy.emergency {
        return "Emergency: granted at once, reviewed afterwards".into();
    }
    if policy.stages.is_empty() {
        return "No approval needed".into();
    }
    let steps: Vec<String> = policy
        .stages
        .iter()
        .map(|s| approvers(&s.approvers, s.required))
        .collect();
    steps.join(", then ")
}

fn approvers(source: &ApproverSource, required: u32) -> String {
    match source {
        ApproverSource::Manager => "your manager".into(),
        ApproverSource::Owners if required == 1 => "one of its owners".into(),
        ApproverSource::Owners => format!("{required} of its owners"),
        ApproverSource::Group(dn) if required == 1 => format!("a member of {}", short_dn(dn)),
        ApproverSource::Group(dn) => format!("{required} members of {}", short_dn(dn)),
        ApproverSource::Users(users) if required == 1 && users.len() == 1 => users[0].clone(),
        ApproverSource::Users(users) => format!("{required} of {}", users.join(", ")),
    }
}

/// The first RDN's value, unescaped: `CN=O'Brien\, Jane,OU=...` reads "O'Brien, Jane".
pub fn short_dn(dn: &str) -> String {
    let Some((_, rest)) = dn.split_once('=') else {
        return dn.to_string();
    };
    let mut bytes = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ',' | '+' => break,
            '\\' => {
                let high = chars.next();
                match (high, high.and_then(|_| chars.peek().copied())) {
                    (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                        chars.next();
                        let pair: String = [h, l].iter().collect();
                        bytes.push(u8::from_str_radix(&pair, 16).unwrap_or(b'?'));
                    }
                    (Some(h), _) => {
                        let mut buf = [0; 4];
                        bytes.extend_from_slice(h.encode_utf8(&mut buf).as_bytes());
                    }
                    (None, _) => {}
                }
            }
            _ => {
                let mut buf = [0; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).trim().to_string()
}

/// The policy in plain sentences, for the entitlement page.
pub fn policy_in_words(policy: &Policy, owners: &[String]) -> Vec<String> {
    let mut rules = Vec::new();
    rules.push(match &policy.eligible {
        Eligibility::Everyone => "Anyone in the organisation may ask for it.".to_string(),
        Eligibility::Group(dn) => format!("Only members of {} may ask for it.", short_dn(dn)),
        Eligibility::Department(d) => format!("Only people in the {d} department may ask for it."),
    });
    rules.push(format!(
        "You can hold it for up to {}; the usual request is {}.",
        minutes(policy.durations.max_minutes),
        minutes(policy.durations.default_minutes)
    ));
    if policy.durations.max_start_delay_minutes > 0 {
        rules.push(format!(
            "It can start up to {} from now.",
            minutes(policy.durations.max_start_delay_minutes)
        ));
    }
    if policy.emergency {
        rules.push(
            "Emergency access (break-glass): granted at once, without approval. Security is told \
             the moment you take it, and an owner of this entry reviews every use afterwards."
                .to_string(),
        );
    }
    if policy.stages.is_empty() {
        rules.push("It is granted as soon as you ask: no approval is needed.".into());
    } else {
        for (i, stage) in policy.stages.iter().enumerate() {
            let who = approvers(&stage.approvers, stage.required);
            rules.push(if policy.stages.len() == 1 {
                format!("Approved by {who}.")
            } else {
                format!(
                    "Step {} of {}: approved by {who}.",
                    i + 1,
                    policy.stages.len()
                )
            });
        }
        if policy
            .stages
            .iter()
            .any(|s| s.approvers == ApproverSource::Owners)
            && !owners.is_empty()
        {
            rules.push(format!("Owners: {}.", owners.join(", ")));
        }
        rules.push(format!(
            "A request nobody decides on within {} days expires.",
            policy.pending_days
        ));
    }
    if policy.justification.required {
        rules.push(format!(
            "Say why you need it (at least {} characters).",
            policy.justification.min_chars
        ));
    }
    if policy.ticket.required {
        rules.push(match &policy.ticket.hint {
            Some(hint) => format!("Cite a ticket: {hint}."),
            None => "Cite a ticket number.".into(),
        });
    }
    rules
}

pub fn hint_already_holds(until: DateTime<Utc>) -> String {
    format!(
        "Already holds this until {} UTC; approving extends it.",
        until.format("%Y-%m-%d %H:%M")
    )
}

pub fn hint_nested(group_dn: &str) -> String {
    format!("Already has it through group {}.", short_dn(group_dn))
}

/// Where a VM port would be opened to.
pub fn hint_source(source: &str) -> String {
    format!("Opens the port to {source} only.")
}

pub fn hint_recent(count: i64) -> String {
    if count == 1 {
        "Requested once before in the last 30 days.".into()
    } else {
        format!("Requested {count} times in the last 30 days.")
    }
}

pub const HINT_DIRECTORY_UNAVAILABLE: &str =
    "Nested group membership could not be checked: the directory did not answer.";

/// Why a lease ended, in words.
/// "7c81… in contoso-cloud, b0c8… in contoso-ad": a contractor's accounts in an event.
fn accounts(details: &Value) -> String {
    let listed: Vec<String> = details["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{} in {}",
                a["id"].as_str().unwrap_or("?"),
                a["connector"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if listed.is_empty() {
        "none".into()
    } else {
        listed.join(", ")
    }
}

/// A contractor's identity, in a few words, by its stored state.
pub fn contractor_standing(state: &str) -> &'static str {
    match state {
        "requested" => "Waiting for approval",
        "closed" => "Not approved",
        "making" => "Being made",
        "active" => "Active",
        "ended" => "Ended, disabled",
        "deleted" => "Deleted",
        _ => "Unknown",
    }
}

pub fn revoke_reason(reason: &str) -> String {
    match reason {
        "expired" => "its end came".into(),
        "returned" => "given back".into(),
        "revoked" => "revoked by an administrator".into(),
        "offboarding" => "the holder left".into(),
        other => other.into(),
    }
}

/// What a people sync pass did, in words: "complete pass: 7 people read, 1 new, 1 left (2
/// leases ended)".
pub fn people_sync_result(result: &Value) -> String {
    let n = |key: &str| result[key].as_u64().unwrap_or(0);
    let mut parts = vec![format!(
        "{}: {} read",
        if result["complete"] == true {
            "complete pass"
        } else {
            "changes"
        },
        n("read")
    )];
    for (key, words) in [
        ("created", "new"),
        ("changed", "changed"),
        ("gone", "deleted at the source"),
        ("left", "left"),
        ("returned", "back"),
    ] {
        if n(key) > 0 {
            parts.push(format!("{} {words}", n(key)));
        }
    }
    if n("leases_ended") > 0 || n("requests_withdrawn") > 0 || n("approvals_rerouted") > 0 {
        parts.push(format!(
            "{} leases ended, {} requests withdrawn, {} approvals passed on",
            n("leases_ended"),
            n("requests_withdrawn"),
            n("approvals_rerouted")
        ));
    }
    parts.join(", ")
}

/// One line per audit event, for the governance trail.
pub fn event_summary(action: AuditAction, details: &Value) -> String {
    let text = |key: &str| {
        details
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let time = |key: &str| {
        let raw = text(key);
        raw.parse::<DateTime<Utc>>().map(at).unwrap_or(raw)
    };
    use AuditAction as A;
    match action {
        A::RequestSubmitted => {
            let mut line = format!(
                "Requested {} for {}: \"{}\"",
                text("entitlement"),
                text("for"),
                text("justification")
            );
            if !text("ticket").is_empty() {
                line.push_str(&format!(" (ticket {})", text("ticket")));
            }
            line
        }
        A::DecisionApproved => format!("Approved step {}", details["stage"]),
        A::DecisionDenied => format!("Denied at step {}", details["stage"]),
        A::RequestApproved => "Request approved".into(),
        A::RequestDenied => "Request denied".into(),
        A::RequestCancelled => "Request cancelled".into(),
        A::RequestExpired => "Request expired: nobody decided in time".into(),
        A::RequestWindowPassed => {
            "Approved after the requested window had ended: nothing was granted".into()
        }
        A::RequestNothingToGrant => format!("Approved, nothing to grant: {}", text("reason")),
        A::GrantCreated => format!("Lease created until {}", time("ends_at")),
        A::GrantExtended => format!("Lease extended to {}", time("to")),
        A::GrantProvisioned => format!(
            "Added {} to {}{} in {}{}",
            account_words(details),
            target_words(details),
            access_words(details),
            text("connector"),
            system_words(details)
        ),
        A::GrantRevoked => format!(
            "Removed {} from {}{} ({}) and verified absent in {}",
            account_words(details),
            target_words(details),
            access_words(details),
            text("reason"),
            text("connector")
        ),
        A::GrantReturned => "Given back early".into(),
        A::GrantOverdue => format!("OVERDUE: still present after its end ({})", text("error")),
        A::GrantEndTold => format!(
            "Told {} the lease's new end, {}{}",
            text("connector"),
            time("ends_at"),
            system_words(details)
        ),
        A::GrantRetrying => format!("Attempt failed, retrying: {}", text("error")),
        A::GrantFailed => format!("Could not be granted: {}", text("error")),
        A::GrantEndedUnprovisioned => {
            "Ended before the access was ever added: nothing to remove".into()
        }
        A::GrantAccountMissing => format!(
            "NEEDS A PERSON: the account {} is gone from {}, so the removal cannot be done or \
             verified",
            short_dn(&text("account")),
            text("connector")
        ),
        A::GrantTargetMissing => format!(
            "NEEDS A PERSON: the group {} is gone from {}, so the removal cannot be done or \
             verified",
            short_dn(&text("target")),
            text("connector")
        ),
        A::GrantRemovalResolved => {
            format!(
                "Removal closed by a person, not verified: \"{}\"",
                text("note")
            )
        }
        A::CatalogLoaded => format!(
            "Catalog loaded from {} ({} entitlements)",
            text("origin"),
            details["entitlements"]
        ),
        A::CatalogEntitlementEnabled => format!("Entry {} offered again", text("key")),
        A::CatalogEntitlementDisabled => format!("Entry {} taken out of the catalog", text("key")),
        A::CatalogEntitlementChanged => format!("Entry {} changed", text("key")),
        A::CatalogPolicyChanged => format!("Policy {} changed", text("key")),
        A::CatalogChangeProposed => format!(
            "Proposed a change to {} {}; it waits for a second administrator",
            text("kind"),
            text("key")
        ),
        A::CatalogChangeApproved => format!(
            "Approved {}'s change to {} {}",
            text("author"),
            text("kind"),
            text("key")
        ),
        A::CatalogChangeRejected => format!(
            "Rejected the change to {} {}: \"{}\"",
            text("kind"),
            text("key"),
            text("comment")
        ),
        A::PrincipalDisabled => format!(
            "Signed out and barred: the account {} in {} is {}",
            short_dn(&text("account")),
            text("connector"),
            text("why")
        ),
        A::PrincipalEnabled if details["returned"] == true => format!(
            "Back: every account is enabled again ({}); nothing they held is given back",
            text("connector")
        ),
        A::PrincipalEnabled => format!("The account in {} is enabled again", text("connector")),
        A::PersonChanged => {
            let change = |key: &str, what: &str| {
                let pair = details[key].as_array()?;
                let word = |v: &Value| v.as_str().unwrap_or("none").to_string();
                Some(format!(
                    "{what} {} → {}",
                    word(pair.first()?),
                    word(pair.get(1)?)
                ))
            };
            let changes: Vec<String> = [
                change("department", "department"),
                change("job_title", "job title"),
                change("manager", "manager"),
            ]
            .into_iter()
            .flatten()
            .collect();
            format!("{} says: {}", text("connector"), changes.join("; "))
        }
        A::PersonLeft => format!(
            "Left: the account {} in {} is {}; every lease ends now",
            short_dn(&text("account")),
            text("connector"),
            text("why")
        ),
        A::GrantOffboarded => format!(
            "Removal ordered now: the holder left ({} in {})",
            text("why"),
            text("connector")
        ),
        A::RequestWithdrawn => format!(
            "Withdrawn: {} left ({} in {})",
            text("who"),
            text("why"),
            text("connector")
        ),
        A::ApprovalRerouted => match details["to"].as_str() {
            Some(to) => format!(
                "Step {}: {} left; {to} decides in their place",
                details["stage"],
                text("from")
            ),
            None => format!(
                "Step {}: {} left; nobody could take their place (their manager is unknown, \
                 gone, or part of the request)",
                details["stage"],
                text("from")
            ),
        },
        A::RequestEscalated => {
            let added: Vec<&str> = details["added"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            if added.is_empty() {
                format!(
                    "Step {}: nobody decided in time, and no backup was found (managers unknown)",
                    details["stage"]
                )
            } else {
                format!(
                    "Step {}: nobody decided in time; escalated to {}",
                    details["stage"],
                    added.join(", ")
                )
            }
        }
        A::RequestDelegated => format!(
            "Step {}: {} is away until {}; {} decides too",
            details["stage"],
            text("from"),
            time("until"),
            text("to")
        ),
        A::DelegationCreated => format!(
            "{} named {} deputy from {} to {}",
            text("who"),
            text("deputy"),
            time("starts_at"),
            time("ends_at")
        ),
        A::DelegationEnded => format!("{} ended the delegation to {}", text("who"), text("deputy")),
        A::BreakGlassUsed => format!(
            "Emergency access taken by {} until {}: {}",
            text("who"),
            time("ends_at"),
            text("justification")
        ),
        A::BreakGlassReviewed => format!(
            "Emergency use reviewed by {}: {} ({})",
            text("by"),
            match details["verdict"].as_str() {
                Some("justified") => "justified",
                _ => "not justified",
            },
            text("note")
        ),
        A::GrantShortened => format!(
            "Ends earlier, at {}: {} (the bundle of the role they left)",
            time("to"),
            text("why")
        ),
        A::RequestAutomaticRefused => format!(
            "Not requested for {} ({}): {}",
            text("who"),
            text("why"),
            text("reason")
        ),
        A::ContractorRequested => format!(
            "Identity asked for {} ({}) until {}, with {}",
            text("name"),
            text("email"),
            time("ends_at"),
            text("bundle")
        ),
        A::ContractorMade => format!(
            "Identity made: {} ({}) in {}",
            text("upn"),
            text("object_id"),
            text("connector")
        ),
        A::ContractorEndingSoon => format!(
            "The sponsor was told the identity ends at {}",
            time("ends_at")
        ),
        A::ContractorEnded => format!(
            "Identity ended: access removed, accounts disabled ({}); deleted after {}",
            accounts(details),
            time("delete_after")
        ),
        A::ContractorDeleted => format!("Identity deleted: accounts {}", accounts(details)),
        A::ContractorExtended => format!("Identity extended until {}", time("ends_at")),
        A::ContractorPasswordIssued => format!(
            "A first password was issued for the account in {} (not recorded)",
            text("connector")
        ),
        A::ContractorSponsorChanged => format!(
            "Sponsor {} left; {} sponsors from now on",
            text("from"),
            text("to")
        ),
        A::PeopleSyncRefused => format!(
            "People sync of {} refused: {} people would leave at once (at most {} allowed)",
            text("connector"),
            details["leavers"],
            details["max_leavers"]
        ),
        A::PrincipalRolesChanged => {
            let roles = |key: &str| match details[key].as_array() {
                Some(list) if !list.is_empty() => list
                    .iter()
                    .filter_map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => "none".to_string(),
            };
            format!(
                "Portal roles changed at the identity provider: {} → {}",
                roles("before"),
                roles("after")
            )
        }
    }
}

/// What a catalog change would mean, for the administrator who approves it.
pub fn impact_auto_approved(people: i64, requests: i64) -> String {
    format!(
        "{} ({}) in the last 30 days would have been granted this with nobody approving.",
        count(people, "person", "people"),
        count(requests, "request", "requests")
    )
}

pub fn impact_needs_approval(people: i64, requests: i64) -> String {
    format!(
        "{} ({}) in the last 30 days were granted this without approval; they would have \
         needed it.",
        count(people, "person", "people"),
        count(requests, "request", "requests")
    )
}

fn count(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn impact_approval(before: &Policy, after: &Policy) -> String {
    format!(
        "Approval: {} → {}.",
        approval_summary(before),
        approval_summary(after)
    )
}

pub fn impact_longest(before: u32, after: u32) -> String {
    format!("Longest lease: {} → {}.", minutes(before), minutes(after))
}

pub fn impact_owners(added: &[String], removed: &[String]) -> String {
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_string()
        } else {
            l.join(", ")
        }
    };
    format!("Owners added: {}; removed: {}.", list(added), list(removed))
}

pub fn impact_entries(keys: &[String]) -> String {
    if keys.is_empty() {
        "No offered entry uses this policy.".to_string()
    } else {
        format!("Applies to: {}.", keys.join(", "))
    }
}

/// Minutes in words: "45 minutes", "2 hours", "1 day 4 hours", "1 week".
pub fn minutes(m: u32) -> String {
    fn unit(n: u32, one: &str, many: &str) -> String {
        format!("{n} {}", if n == 1 { one } else { many })
    }
    if m == 0 {
        return "0 minutes".to_string();
    }
    let (weeks, rest) = (m / 10080, m % 10080);
    let (days, rest) = (rest / 1440, rest % 1440);
    let (hours, mins) = (rest / 60, rest % 60);
    let mut parts = Vec::new();
    if weeks > 0 {
        parts.push(unit(weeks, "week", "weeks"));
    }
    if days > 0 {
        parts.push(unit(days, "day", "days"));
    }
    if hours > 0 {
        parts.push(unit(hours, "hour", "hours"));
    }
    if mins > 0 {
        parts.push(unit(mins, "minute", "minutes"));
    }
    parts.join(" ")
}

/// What a broken rule means, for the person who broke it.
pub fn violation(v: &Violation) -> String {
    match v {
        Violation::StartInPast => {
            "The start time is in the past. Choose now or a later time.".into()
        }
        Violation::StartTooLate { max_delay_minutes } => format!(
            "Access can start at most {} from now.",
            minutes(*max_delay_minutes)
        ),
        Violation::StartLaterNotAllowed => {
            "This access can only start now; it cannot be scheduled for later.".into()
        }
        Violation::TooShort { min_minutes } => {
            format!("Ask for at least {}.", minutes(*min_minutes))
        }
        Violation::TooLong { max_minutes } => {
            format!(
                "This access can be held for at most {}.",
                minutes(*max_minutes)
            )
        }
        Violation::EndBeforeStart => "The end must be after the start.".into(),
        Violation::NotEligible => "You are not eligible to request this access.".into(),
        Violation::JustificationRequired => "Say why you need this access.".into(),
        Violation::JustificationTooShort { min_chars } => {
            format!("Give a reason of at least {min_chars} characters.")
        }
        Violation::JustificationTooLong { max_chars } => {
            format!("Keep the reason under {max_chars} characters.")
        }
        Violation::TicketRequired => "A ticket number is required for this access.".into(),
        Violation::TicketMalformed { hint } => {
            format!("That is not a valid ticket number (expected: {hint}).")
        }
        Violation::TicketTooLong { max_chars } => {
            format!("A ticket number has at most {max_chars} characters.")
        }
        Violation::NotEnoughApprovers {
            stage,
            required,
            available,
        } => format!(
            "This request cannot be approved: approval step {stage} needs {required} approver(s) \
             other than you, and only {available} can decide. Contact the entitlement's owners."
        ),
        Violation::AlreadyCovered { until } => format!(
            "You already hold this access until {} (UTC); there is nothing to extend.",
            until.format("%Y-%m-%d %H:%M")
        ),
        Violation::LaterThanLiveGrant { until } => format!(
            "You hold this access until {} (UTC). Ask for a window that continues it, or ask \
             again once it has ended.",
            until.format("%Y-%m-%d %H:%M")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_of_groups() {
        assert_eq!(short_dn("CN=SQL Admins,OU=Groups,DC=x"), "SQL Admins");
        assert_eq!(short_dn(r"CN=O'Brien\, Jane,OU=People"), "O'Brien, Jane");
        assert_eq!(short_dn(r"cn=O'Brien\2C Jane,ou=People"), "O'Brien, Jane");
        assert_eq!(short_dn(r"cn=Ren\C3\A9e,ou=x"), "Renée");
        assert_eq!(short_dn("no equals sign"), "no equals sign");
    }

    #[test]
    fn relative_times() {
        let now: DateTime<Utc> = "2026-11-27T12:00:00Z".parse().unwrap();
        let later = |s: i64| now + chrono::TimeDelta::seconds(s);
        assert_eq!(relative(now, now), "now");
        assert_eq!(relative(later(45), now), "in 45 s");
        assert_eq!(relative(later(150), now), "in 2 min 30 s");
        assert_eq!(relative(later(1500), now), "in 25 min");
        assert_eq!(relative(later(7500), now), "in 2 h 5 min");
        assert_eq!(relative(later(-180), now), "3 min ago");
        assert_eq!(relative(later(90_000), now), "in 1 d 1 h");
        assert_eq!(at(now), "2026-11-27 12:00 UTC");
        assert_eq!(at_offset(now, 60), "2026-11-27 13:00 (UTC+01:00)");
        assert_eq!(at_offset(now, -330), "2026-11-27 06:30 (UTC-05:30)");
        assert_eq!(at_offset(now, 0), "2026-11-27 12:00 UTC");
    }

    #[test]
    fn minutes_in_words() {
        assert_eq!(minutes(1), "1 minute");
        assert_eq!(minutes(45), "45 minutes");
        assert_eq!(minutes(120), "2 hours");
        assert_eq!(minutes(1440 + 240), "1 day 4 hours");
        assert_eq!(minutes(10080), "1 week");
        assert_eq!(minutes(61), "1 hour 1 minute");
    }

    #[test]
    fn every_violation_names_its_limit() {
        assert!(violation(&Violation::TooLong { max_minutes: 480 }).contains("8 hours"));
        assert!(
            violation(&Violation::TicketMalformed {
                hint: "CHG and 7 digits".into()
            })
            .contains("CHG and 7 digits")
        );
    }
}
