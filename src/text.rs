//! The portal's words for rules and outcomes, in English and German, kept in one place.
//!
//! Each public function speaks the language of the current page or server function
//! ([`lang::current`]) and is a thin wrapper over an `_in` sibling that takes the language, so
//! the German can be tested without a page. The computation is written once; only the words
//! differ, chosen by [`pick_in`].
//!
//! The German is formal ("Sie", "Ihr") and uses the mails' vocabulary: Anfrage, Zugriff,
//! genehmigen/ablehnen, genehmigende Person, Vertretung, Verantwortliche (an entry's owners),
//! Eintrag, Richtlinie, Paket (a bundle), Notfallzugriff. Times read "27.11.2026, 14:30 UTC";
//! a time from now reads "in 2 Std. 5 Min.", "vor 3 Min.", "in 1 Tag 1 Std.", "vor 3 Tagen"
//! (seconds "Sek.", minutes "Min.", hours "Std.", days written out in the dative that "in"
//! and "vor" take). Durations are written out: "1 Tag 4 Stunden". Product names (Entra ID,
//! AD, Teams, SharePoint, Azure, PIM) and UTC stay as they are.

pub mod labels;
mod labels_de;
pub mod lang;
pub mod problem;

pub use self::problem::{notice, problem};

use crate::domain::contractor::ContractorState;
use chrono::{DateTime, Utc};
use serde_json::Value;

use self::lang::Language;
use crate::domain::access::{Access, EntitlementKind, GroupRole, SiteRole};
use crate::domain::approval::{DecisionRefused, Outcome};
use crate::domain::audit::AuditAction;
use crate::domain::change::ChangeKind;
use crate::domain::grant::GrantState;
use crate::domain::network::PrefixProblem;
use crate::domain::policy::{ApproverSource, Eligibility, Policy};
use crate::domain::reconcile::{Closure, FindingKind};
use crate::domain::request::RequestState;
use crate::domain::status::Status;
use crate::domain::violation::Violation;

/// The pages' words in the language of the current page (see [`lang`]).
pub fn labels() -> &'static labels::Labels {
    match lang::current() {
        Language::English => &labels::EN,
        Language::German => &labels_de::DE,
    }
}

/// `en` or `de` by `language`: [`lang::pick`] for a language given rather than the current one.
pub fn pick_in<T>(language: Language, en: T, de: T) -> T {
    match language {
        Language::English => en,
        Language::German => de,
    }
}

/// A count and its noun, singular or plural: "1 minute", "2 minutes".
fn count(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// An instant as people read it: "2026-11-27 14:30 UTC", "27.11.2026, 14:30 UTC".
pub fn at(t: DateTime<Utc>) -> String {
    at_in(lang::current(), t)
}

fn at_in(language: Language, t: DateTime<Utc>) -> String {
    format!("{} UTC", date_time(language, t))
}

/// The date and the time of day, without a zone: "2026-11-27 14:30", "27.11.2026, 14:30".
fn date_time(language: Language, t: DateTime<Utc>) -> String {
    t.format(pick_in(language, "%Y-%m-%d %H:%M", "%d.%m.%Y, %H:%M"))
        .to_string()
}

/// An instant in a zone `offset` minutes east of UTC: "2026-11-27 15:30 (UTC+01:00)", or
/// "2026-11-27 14:30 UTC" when the offset is zero ("27.11.2026, 15:30 (UTC+01:00)" in German).
pub fn at_offset(t: DateTime<Utc>, offset: i32) -> String {
    at_offset_in(lang::current(), t, offset)
}

fn at_offset_in(language: Language, t: DateTime<Utc>, offset: i32) -> String {
    if offset == 0 {
        return at_in(language, t);
    }
    let local = t + chrono::TimeDelta::minutes(i64::from(offset));
    let sign = if offset > 0 { '+' } else { '-' };
    format!(
        "{} (UTC{sign}{:02}:{:02})",
        date_time(language, local),
        offset.abs() / 60,
        offset.abs() % 60
    )
}

/// How far an instant is from now: "in 2 h 5 min", "3 min ago", "now"; in German "in 2 Std.
/// 5 Min.", "vor 3 Min.", "jetzt".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    relative_in(lang::current(), t, now)
}

fn relative_in(language: Language, t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (t - now).num_seconds();
    let (sec, min, hour) = pick_in(language, ("s", "min", "h"), ("Sek.", "Min.", "Std."));
    // German writes days out, in the dative of "in 3 Tagen" and "vor 3 Tagen".
    let day = |d: i64| match language {
        Language::English => format!("{d} d"),
        Language::German => count(d, "Tag", "Tagen"),
    };
    let span = |s: i64| {
        let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
        match (d, h, m) {
            (0, 0, 0) => format!("{s} {sec}"),
            (0, 0, m) if m < 10 && s % 60 != 0 => format!("{m} {min} {} {sec}", s % 60),
            (0, 0, m) => format!("{m} {min}"),
            (0, h, 0) => format!("{h} {hour}"),
            (0, h, m) => format!("{h} {hour} {m} {min}"),
            (d, 0, _) => day(d),
            (d, h, _) => format!("{} {h} {hour}", day(d)),
        }
    };
    match seconds {
        0 => pick_in(language, "now", "jetzt").into(),
        s if s > 0 => format!("in {}", span(s)),
        s => pick_in(
            language,
            format!("{} ago", span(-s)),
            format!("vor {}", span(-s)),
        ),
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
fn access_words(language: Language, details: &Value) -> String {
    serde_json::from_value::<Access>(details["access"].clone())
        .map(|a| {
            format!(
                " {} {}",
                pick_in(language, "as", "als"),
                access_label_in(language, &a)
            )
        })
        .unwrap_or_default()
}

/// What the system said, with its own ids: "; Teams membership id ...".
fn system_words(language: Language, details: &Value) -> String {
    let say = |en: String, de: String| pick_in(language, en, de);
    let system = &details["system"];
    let mut words = String::new();
    if let Some(id) = system["team_membership_id"].as_str() {
        words.push_str(&say(
            format!("; Teams membership {id}"),
            format!("; Teams-Mitgliedschaft {id}"),
        ));
    }
    if let Some(id) = system["pim_request_id"].as_str() {
        words.push_str(&say(
            format!("; PIM request {id}"),
            format!("; PIM-Anfrage {id}"),
        ));
    }
    if let Some(id) = system["pim_schedule_id"].as_str() {
        words.push_str(&say(format!(", schedule {id}"), format!(", Zeitplan {id}")));
    }
    if let Some(status) = system["pim_status"].as_str() {
        words.push_str(&format!(", {status}"));
    }
    if let Some(end) = system["pim_ends_at"].as_str() {
        words.push_str(&say(
            format!(", ends {end} by Entra's own schedule"),
            format!(", endet {end} nach dem Zeitplan von Entra"),
        ));
    }
    if let Some(id) = system["sharepoint_permission_id"].as_str() {
        words.push_str(&say(
            format!("; SharePoint library permission {id}"),
            format!("; SharePoint-Bibliotheksberechtigung {id}"),
        ));
        if let Some(roles) = system["sharepoint_roles"].as_array() {
            let roles: Vec<&str> = roles.iter().filter_map(|r| r.as_str()).collect();
            words.push_str(&format!(" ({})", roles.join(", ")));
        }
    }
    if let Some(source) = system["jit_source"].as_str() {
        words.push_str(&say(
            format!("; JIT request opening the port to {source}"),
            format!("; JIT-Anfrage, die den Port für {source} öffnet"),
        ));
        if let Some(status) = system["jit_status"].as_str() {
            words.push_str(&format!(", {status}"));
        }
        if let Some(end) = system["jit_open_until"].as_str() {
            words.push_str(&say(
                format!(", closed by Azure at {end}"),
                format!(", von Azure geschlossen um {end}"),
            ));
        }
    }
    words
}

/// "AD group", "Team (owner)", "Entra role (/)": what an entry gives, in a few words.
pub fn access_label(access: &Access) -> String {
    access_label_in(lang::current(), access)
}

fn access_label_in(language: Language, access: &Access) -> String {
    let kind = kind_label_in(language, access.kind());
    match access {
        Access::PimGroup { role } | Access::Team { role } => {
            format!("{kind} ({})", group_role_label_in(language, *role))
        }
        Access::SharepointSite { role } => {
            let (en, de) = match role {
                SiteRole::Visitor => ("visitor, can read", "Besucher, kann lesen"),
                SiteRole::Member => ("member, can edit", "Mitglied, kann bearbeiten"),
                SiteRole::Owner => ("owner, full control", "Besitzer, Vollzugriff"),
            };
            format!("{kind} ({})", pick_in(language, en, de))
        }
        Access::EntraRole { directory_scope } if directory_scope != "/" => {
            format!("{kind} in {directory_scope}")
        }
        Access::AzureVmPort { port, .. } => format!("{kind} {port}"),
        _ => kind.to_string(),
    }
}

/// The kind of access an entry gives.
pub fn kind_label(kind: EntitlementKind) -> &'static str {
    kind_label_in(lang::current(), kind)
}

fn kind_label_in(language: Language, kind: EntitlementKind) -> &'static str {
    let (en, de) = match kind {
        EntitlementKind::AdGroup => ("AD group", "AD-Gruppe"),
        EntitlementKind::EntraGroup => ("Entra ID group", "Entra-ID-Gruppe"),
        EntitlementKind::PimGroup => ("Entra group through PIM", "Entra-Gruppe über PIM"),
        EntitlementKind::EntraRole => ("Entra ID role", "Entra-ID-Rolle"),
        EntitlementKind::Team => ("Team", "Team"),
        EntitlementKind::SharepointSite => ("SharePoint site", "SharePoint-Website"),
        EntitlementKind::AzureVmPort => ("Azure VM port", "Azure-VM-Port"),
        EntitlementKind::Bundle => ("Bundle", "Paket"),
    };
    pick_in(language, en, de)
}

pub fn group_role_label(role: GroupRole) -> &'static str {
    group_role_label_in(lang::current(), role)
}

fn group_role_label_in(language: Language, role: GroupRole) -> &'static str {
    let (en, de) = match role {
        GroupRole::Member => ("member", "Mitglied"),
        GroupRole::Owner => ("owner", "Besitzer"),
    };
    pick_in(language, en, de)
}

/// "Active", "Pending", ... for what a state pill shows.
pub fn status_label(status: Status) -> &'static str {
    status_label_in(lang::current(), status)
}

fn status_label_in(language: Language, status: Status) -> &'static str {
    let (en, de) = match status {
        Status::Request(state) => match state {
            RequestState::Pending => ("Pending", "Ausstehend"),
            RequestState::Approved => ("Approved", "Genehmigt"),
            RequestState::Denied => ("Denied", "Abgelehnt"),
            RequestState::Cancelled => ("Cancelled", "Zurückgezogen"),
            RequestState::Expired => ("Expired", "Verfallen"),
        },
        Status::Grant(state) => match state {
            GrantState::Scheduled => ("Scheduled", "Geplant"),
            GrantState::Active => ("Active", "Aktiv"),
            GrantState::Revoking => ("Removing", "Wird entfernt"),
            GrantState::Revoked => ("Removed", "Entfernt"),
            GrantState::Failed => ("Failed", "Fehlgeschlagen"),
        },
        Status::Decision(Outcome::Approve) => ("Approved", "Genehmigt"),
        Status::Decision(Outcome::Deny) => ("Denied", "Abgelehnt"),
        Status::Overdue => ("Overdue", "Überfällig"),
    };
    pick_in(language, en, de)
}

/// "Step 1 of 2 · 1 of 2 approvals".
pub fn approval_progress(step: usize, steps: usize, approvals: i64, required: u32) -> String {
    approval_progress_in(lang::current(), step, steps, approvals, required)
}

fn approval_progress_in(
    language: Language,
    step: usize,
    steps: usize,
    approvals: i64,
    required: u32,
) -> String {
    match language {
        Language::English => {
            format!("Step {step} of {steps} · {approvals} of {required} approvals")
        }
        Language::German => {
            format!("Schritt {step} von {steps} · {approvals} von {required} Genehmigungen")
        }
    }
}

/// Who approves, in a few words, for the catalog list.
pub fn approval_summary(policy: &Policy) -> String {
    approval_summary_in(lang::current(), policy)
}

fn approval_summary_in(language: Language, policy: &Policy) -> String {
    if policy.emergency {
        return pick_in(
            language,
            "Emergency: granted at once, reviewed afterwards",
            "Notfall: sofort erteilt, nachträglich geprüft",
        )
        .into();
    }
    if policy.stages.is_empty() {
        return pick_in(language, "No approval needed", "Keine Genehmigung nötig").into();
    }
    let steps: Vec<String> = policy
        .stages
        .iter()
        .map(|s| approvers(language, &s.approvers, s.required))
        .collect();
    steps.join(pick_in(language, ", then ", ", danach "))
}

/// Who approves a step; the German reads the same as subject and after "durch".
fn approvers(language: Language, source: &ApproverSource, required: u32) -> String {
    let say = |en: String, de: String| pick_in(language, en, de);
    match source {
        ApproverSource::Manager => say("your manager".into(), "Ihre Führungskraft".into()),
        ApproverSource::Owners if required == 1 => say(
            "one of its owners".into(),
            "eine verantwortliche Person des Eintrags".into(),
        ),
        ApproverSource::Owners => say(
            format!("{required} of its owners"),
            format!("{required} verantwortliche Personen des Eintrags"),
        ),
        ApproverSource::Group(dn) if required == 1 => say(
            format!("a member of {}", short_dn(dn)),
            format!("ein Mitglied von {}", short_dn(dn)),
        ),
        ApproverSource::Group(dn) => say(
            format!("{required} members of {}", short_dn(dn)),
            format!("{required} Mitglieder von {}", short_dn(dn)),
        ),
        ApproverSource::Users(users) if required == 1 && users.len() == 1 => users[0].clone(),
        ApproverSource::Users(users) => say(
            format!("{required} of {}", users.join(", ")),
            format!("{required} von {}", users.join(", ")),
        ),
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
    policy_in_words_in(lang::current(), policy, owners)
}

fn policy_in_words_in(language: Language, policy: &Policy, owners: &[String]) -> Vec<String> {
    let say = |en: String, de: String| pick_in(language, en, de);
    let minutes = |m: u32| minutes_in(language, m);
    let mut rules = Vec::new();
    rules.push(match &policy.eligible {
        Eligibility::Everyone => say(
            "Anyone in the organisation may ask for it.".into(),
            "Jede Person in der Organisation kann diesen Zugriff beantragen.".into(),
        ),
        Eligibility::Group(dn) => say(
            format!("Only members of {} may ask for it.", short_dn(dn)),
            format!(
                "Nur Mitglieder von {} können diesen Zugriff beantragen.",
                short_dn(dn)
            ),
        ),
        Eligibility::Department(d) => say(
            format!("Only people in the {d} department may ask for it."),
            format!("Nur Personen aus der Abteilung {d} können diesen Zugriff beantragen."),
        ),
    });
    let (max, usual) = (
        minutes(policy.durations.max_minutes),
        minutes(policy.durations.default_minutes),
    );
    rules.push(say(
        format!("You can hold it for up to {max}; the usual request is {usual}."),
        format!("Sie erhalten ihn für höchstens {max}; üblich sind {usual}."),
    ));
    if policy.durations.max_start_delay_minutes > 0 {
        let delay = minutes(policy.durations.max_start_delay_minutes);
        rules.push(say(
            format!("It can start up to {delay} from now."),
            format!("Der Beginn kann bis zu {delay} in der Zukunft liegen."),
        ));
    }
    if policy.emergency {
        rules.push(say(
            "Emergency access (break-glass): granted at once, without approval. Security is told \
             the moment you take it, and an owner of this entry reviews every use afterwards."
                .into(),
            "Notfallzugriff (Break-Glass): sofort erteilt, ohne Genehmigung. Die IT-Sicherheit \
             wird informiert, sobald Sie ihn nehmen, und eine verantwortliche Person des \
             Eintrags prüft jede Nutzung nachträglich."
                .into(),
        ));
    }
    if policy.stages.is_empty() {
        rules.push(say(
            "It is granted as soon as you ask: no approval is needed.".into(),
            "Er wird erteilt, sobald Sie ihn beantragen: Eine Genehmigung ist nicht nötig.".into(),
        ));
    } else {
        let steps = policy.stages.len();
        for (i, stage) in policy.stages.iter().enumerate() {
            let who = approvers(language, &stage.approvers, stage.required);
            rules.push(if steps == 1 {
                say(
                    format!("Approved by {who}."),
                    format!("Genehmigung durch {who}."),
                )
            } else {
                say(
                    format!("Step {} of {steps}: approved by {who}.", i + 1),
                    format!("Schritt {} von {steps}: Genehmigung durch {who}.", i + 1),
                )
            });
        }
        if policy
            .stages
            .iter()
            .any(|s| s.approvers == ApproverSource::Owners)
            && !owners.is_empty()
        {
            let owners = owners.join(", ");
            rules.push(say(
                format!("Owners: {owners}."),
                format!("Verantwortliche: {owners}."),
            ));
        }
        let days = policy.pending_days;
        rules.push(say(
            format!("A request nobody decides on within {days} days expires."),
            format!(
                "Eine Anfrage, über die nicht innerhalb von {} entschieden wird, verfällt.",
                count(i64::from(days), "Tag", "Tagen")
            ),
        ));
    }
    if policy.justification.required {
        let chars = policy.justification.min_chars;
        rules.push(say(
            format!("Say why you need it (at least {chars} characters)."),
            format!("Begründen Sie, wozu Sie ihn benötigen (mindestens {chars} Zeichen)."),
        ));
    }
    if policy.ticket.required {
        rules.push(match &policy.ticket.hint {
            Some(hint) => say(
                format!("Cite a ticket: {hint}."),
                format!("Geben Sie ein Ticket an: {hint}."),
            ),
            None => say(
                "Cite a ticket number.".into(),
                "Geben Sie eine Ticketnummer an.".into(),
            ),
        });
    }
    rules
}

pub fn hint_already_holds(until: DateTime<Utc>) -> String {
    hint_already_holds_in(lang::current(), until)
}

fn hint_already_holds_in(language: Language, until: DateTime<Utc>) -> String {
    let until = at_in(language, until);
    pick_in(
        language,
        format!("Already holds this until {until}; approving extends it."),
        format!("Hat diesen Zugriff bereits bis {until}; eine Genehmigung verlängert ihn."),
    )
}

pub fn hint_nested(group_dn: &str) -> String {
    hint_nested_in(lang::current(), group_dn)
}

fn hint_nested_in(language: Language, group_dn: &str) -> String {
    let group = short_dn(group_dn);
    pick_in(
        language,
        format!("Already has it through group {group}."),
        format!("Hat ihn bereits über die Gruppe {group}."),
    )
}

/// Where a VM port would be opened to.
pub fn hint_source(source: &str) -> String {
    hint_source_in(lang::current(), source)
}

fn hint_source_in(language: Language, source: &str) -> String {
    pick_in(
        language,
        format!("Opens the port to {source} only."),
        format!("Öffnet den Port nur für {source}."),
    )
}

pub fn hint_recent(count: i64) -> String {
    hint_recent_in(lang::current(), count)
}

fn hint_recent_in(language: Language, count: i64) -> String {
    match (language, count) {
        (Language::English, 1) => "Requested once before in the last 30 days.".into(),
        (Language::English, _) => format!("Requested {count} times in the last 30 days."),
        (Language::German, 1) => "In den letzten 30 Tagen bereits einmal beantragt.".into(),
        (Language::German, _) => format!("In den letzten 30 Tagen {count}-mal beantragt."),
    }
}

/// That nested group membership could not be checked because the directory did not answer.
/// A value rather than a string, so that its `to_string()` reads in the current language.
pub const HINT_DIRECTORY_UNAVAILABLE: DirectoryUnavailable = DirectoryUnavailable;

/// See [`HINT_DIRECTORY_UNAVAILABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryUnavailable;

impl std::fmt::Display for DirectoryUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(hint_directory_unavailable_in(lang::current()))
    }
}

fn hint_directory_unavailable_in(language: Language) -> &'static str {
    pick_in(
        language,
        "Nested group membership could not be checked: the directory did not answer.",
        "Verschachtelte Gruppenmitgliedschaften konnten nicht geprüft werden: Das Verzeichnis \
         hat nicht geantwortet.",
    )
}

/// "7c81… in contoso-cloud, b0c8… in contoso-ad": a contractor's accounts in an event.
fn accounts(language: Language, details: &Value) -> String {
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
        pick_in(language, "none", "keine").into()
    } else {
        listed.join(", ")
    }
}

/// What a catalog change changes: "Entry" or "Policy".
pub fn change_kind(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Entitlement => lang::pick("Entry", "Eintrag"),
        ChangeKind::Policy => lang::pick("Policy", "Richtlinie"),
    }
}

/// Who did what an event records: a person's name as it is, the portal's own parts in words.
pub fn actor(label: &str) -> String {
    actor_in(lang::current(), label)
}

pub fn actor_in(language: Language, label: &str) -> String {
    let (en, de) = match label {
        "engine" => ("Engine", "Engine"),
        "people sync" => ("People sync", "Personenabgleich"),
        "policy" => ("Policy", "Richtlinie"),
        "delegation" => ("Delegation", "Vertretungsregel"),
        "account watch" => ("Account watch", "Kontoüberwachung"),
        "identity provider" => ("Identity provider", "Identitätsanbieter"),
        "joiner/mover" => ("Joiner/mover rules", "Eintritts-/Wechselregeln"),
        "escalation" => ("Escalation", "Eskalation"),
        "contractors" => ("Contractor lifecycle", "Lebenszyklus Externer"),
        "catalog" => ("Catalog", "Katalog"),
        _ => return label.to_string(),
    };
    pick_in(language, en, de).to_string()
}

/// A contractor's identity, in a few words, by its stored state.
pub fn contractor_standing(state: ContractorState) -> &'static str {
    contractor_standing_in(lang::current(), state)
}

fn contractor_standing_in(language: Language, state: ContractorState) -> &'static str {
    let (en, de) = match state {
        ContractorState::Requested => ("Waiting for approval", "Wartet auf Genehmigung"),
        ContractorState::Closed => ("Not approved", "Nicht genehmigt"),
        ContractorState::Making => ("Being made", "Wird angelegt"),
        ContractorState::Stopped => (
            "Stopped: an administrator must look",
            "Angehalten: die Administration muss prüfen",
        ),
        ContractorState::Active => ("Active", "Aktiv"),
        ContractorState::Ended => ("Ended, disabled", "Beendet, deaktiviert"),
        ContractorState::Deleted => ("Deleted", "Gelöscht"),
    };
    pick_in(language, en, de)
}

/// What a sponsor is told of an onboarding that stopped on someone else's account.
pub fn contractor_stopped() -> &'static str {
    lang::pick(
        "An account this identity would use already exists and was not made by the portal for \
         this person, so nothing was made. The administrators have been told and will settle it.",
        "Ein Konto, das diese Identität nutzen würde, besteht bereits und wurde nicht vom Portal \
         für diese Person angelegt; daher wurde nichts angelegt. Die Administration wurde \
         informiert und klärt es.",
    )
}

/// Why a lease ended, in words.
pub fn revoke_reason(reason: &str) -> String {
    revoke_reason_in(lang::current(), reason)
}

fn revoke_reason_in(language: Language, reason: &str) -> String {
    let (en, de) = match reason {
        "expired" => ("its end came", "Ende erreicht"),
        "returned" => ("given back", "zurückgegeben"),
        "revoked" => (
            "revoked by an administrator",
            "von der Administration entzogen",
        ),
        "offboarding" => (
            "the holder left",
            "die berechtigte Person ist ausgeschieden",
        ),
        other => (other, other),
    };
    pick_in(language, en, de).into()
}

/// A code the engine stores in an event's details (an account's state, a change's kind), as
/// the trail shows it: English shows the code itself, German its word.
fn stored_word(language: Language, code: &str) -> String {
    match language {
        Language::English => code.into(),
        Language::German => {
            let word = match code {
                "disabled" => "deaktiviert",
                "deleted" => "gelöscht",
                "expired" => "abgelaufen",
                "entitlement" => "Eintrag",
                "policy" => "Richtlinie",
                "keep" => "behalten",
                "remove" => "entfernen",
                "kept" => "behalten",
                "removed" => "entfernt",
                "gone" => "bereits weg",
                "remove_failed" => "nicht entfernt",
                "owners" => "Verantwortlichen",
                "managers" => "Vorgesetzten",
                "complete" => "vollständig",
                "deadline" => "zur Frist",
                other => other,
            };
            word.into()
        }
    }
}

/// What a people sync pass did, in words: "complete pass: 7 people read, 1 new, 1 left (2
/// leases ended)".
pub fn people_sync_result(result: &Value) -> String {
    people_sync_result_in(lang::current(), result)
}

fn people_sync_result_in(language: Language, result: &Value) -> String {
    let n = |key: &str| result[key].as_u64().unwrap_or(0);
    let (complete, changes, read) = pick_in(
        language,
        ("complete pass", "changes", "read"),
        ("vollständiger Abgleich", "Änderungen", "gelesen"),
    );
    let mut parts = vec![format!(
        "{}: {} {read}",
        if result["complete"] == true {
            complete
        } else {
            changes
        },
        n("read")
    )];
    let words = pick_in(
        language,
        ["new", "changed", "deleted at the source", "left", "back"],
        [
            "neu",
            "geändert",
            "an der Quelle gelöscht",
            "ausgeschieden",
            "zurück",
        ],
    );
    for (key, words) in ["created", "changed", "gone", "left", "returned"]
        .into_iter()
        .zip(words)
    {
        if n(key) > 0 {
            parts.push(format!("{} {words}", n(key)));
        }
    }
    let (leases, requests, approvals) = (
        n("leases_ended"),
        n("requests_withdrawn"),
        n("approvals_rerouted"),
    );
    if leases > 0 || requests > 0 || approvals > 0 {
        let german =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        parts.push(match language {
            Language::English => format!(
                "{leases} leases ended, {requests} requests withdrawn, {approvals} approvals \
                 passed on"
            ),
            Language::German => format!(
                "{} beendet, {} zurückgezogen, {} übergeben",
                german(leases, "Zugriff", "Zugriffe"),
                german(requests, "Anfrage", "Anfragen"),
                german(approvals, "Genehmigung", "Genehmigungen")
            ),
        });
    }
    parts.join(", ")
}

/// The words for a family of audit actions (see [`AuditAction::group`]), as the governance
/// search offers them.
pub fn action_group(group: &str) -> String {
    action_group_in(lang::current(), group)
}

fn action_group_in(language: Language, group: &str) -> String {
    let (en, de) = match group {
        "request" => ("Requests", "Anfragen"),
        "decision" => ("Approvers' decisions", "Entscheidungen der Genehmigenden"),
        "grant" => (
            "Access given and removed",
            "Vergebene und entzogene Zugriffe",
        ),
        "catalog" => ("Catalog changes", "Katalogänderungen"),
        "principal" => ("Portal accounts and roles", "Portalkonten und Rollen"),
        "person" => (
            "Joiners, movers and leavers",
            "Eintritte, Wechsel und Austritte",
        ),
        "people_sync" => ("People sync", "Personenabgleich"),
        "reconcile" => ("Reconciliation", "Abgleich der Zielsysteme"),
        "review" => ("Access reviews", "Zugriffsprüfungen"),
        "contractor" => ("External people", "Externe"),
        "delegation" => ("Deputies", "Vertretungen"),
        "break_glass" => ("Emergency access", "Notfallzugriffe"),
        "evidence" => ("Evidence exports", "Nachweis-Exporte"),
        "lab" => ("Lab switches", "Laborschalter"),
        other => return other.to_string(),
    };
    pick_in(language, en, de).to_string()
}

/// One line for an audit event stored under the name `action`: its words, or, for an action
/// written by a newer version than this one, its plain name.
pub fn event_line_in(language: Language, action: &str, details: &Value) -> String {
    AuditAction::parse(action)
        .map(|action| event_summary_in(language, action, details))
        .unwrap_or_else(|| action.to_string())
}

/// One line per audit event, for the governance trail, in the current language.
pub fn event_line(action: &str, details: &Value) -> String {
    event_line_in(lang::current(), action, details)
}

/// What a kind of reconciliation finding is called.
pub fn finding_kind_in(language: Language, kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Shadow => pick_in(language, "Shadow access", "Schattenzugriff"),
        FindingKind::DriftPresent => pick_in(
            language,
            "Still there after its removal",
            "Nach der Entfernung noch vorhanden",
        ),
        FindingKind::DriftAbsent => pick_in(
            language,
            "Missing though a lease says added",
            "Fehlt, obwohl ein Zugriff es vorsieht",
        ),
    }
}

/// Why a reconciliation finding was closed, in words.
pub fn closure_in(language: Language, closure: Closure) -> &'static str {
    match closure {
        Closure::Gone => pick_in(language, "gone by itself", "von selbst verschwunden"),
        Closure::Removed => pick_in(language, "removed by the portal", "vom Portal entfernt"),
        Closure::Declared => pick_in(
            language,
            "declared a standing holder",
            "als ständiger Inhaber erklärt",
        ),
        Closure::Covered => pick_in(
            language,
            "a lease covers it now",
            "jetzt durch einen Zugriff gedeckt",
        ),
    }
}

pub fn event_summary_in(language: Language, action: AuditAction, details: &Value) -> String {
    let say = |en: String, de: String| pick_in(language, en, de);
    let text = |key: &str| {
        details
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let time = |key: &str| {
        let raw = text(key);
        raw.parse::<DateTime<Utc>>()
            .map(|t| at_in(language, t))
            .unwrap_or(raw)
    };
    let stored = |key: &str| stored_word(language, &text(key));
    let none = pick_in(language, "none", "keine");
    // An account a finding names: how the target calls it, else its reference.
    let account = || {
        let label = text("label");
        if label.is_empty() {
            text("account")
        } else {
            label
        }
    };
    use AuditAction as A;
    match action {
        A::RequestSubmitted => {
            let mut line = say(
                format!(
                    "Requested {} for {}: \"{}\"",
                    text("entitlement"),
                    text("for"),
                    text("justification")
                ),
                format!(
                    "{} für {} beantragt: „{}“",
                    text("entitlement"),
                    text("for"),
                    text("justification")
                ),
            );
            if !text("ticket").is_empty() {
                line.push_str(&format!(
                    " ({} {})",
                    pick_in(language, "ticket", "Ticket"),
                    text("ticket")
                ));
            }
            line
        }
        A::DecisionApproved => say(
            format!("Approved step {}", details["stage"]),
            format!("Schritt {} genehmigt", details["stage"]),
        ),
        A::DecisionDenied => say(
            format!("Denied at step {}", details["stage"]),
            format!("In Schritt {} abgelehnt", details["stage"]),
        ),
        A::RequestApproved => say("Request approved".into(), "Anfrage genehmigt".into()),
        A::RequestDenied => say("Request denied".into(), "Anfrage abgelehnt".into()),
        A::RequestCancelled => say("Request cancelled".into(), "Anfrage zurückgezogen".into()),
        A::RequestExpired => say(
            "Request expired: nobody decided in time".into(),
            "Anfrage verfallen: Niemand hat rechtzeitig entschieden".into(),
        ),
        A::RequestWindowPassed => say(
            "Approved after the requested window had ended: nothing was granted".into(),
            "Genehmigt, nachdem der beantragte Zeitraum bereits geendet hatte: Es wurde nichts \
             erteilt"
                .into(),
        ),
        A::RequestNothingToGrant => say(
            format!("Approved, nothing to grant: {}", text("reason")),
            format!("Genehmigt, nichts zu erteilen: {}", text("reason")),
        ),
        A::GrantCreated => say(
            format!("Lease created until {}", time("ends_at")),
            format!("Zugriff angelegt, gültig bis {}", time("ends_at")),
        ),
        A::GrantExtended => say(
            format!("Lease extended to {}", time("to")),
            format!("Zugriff verlängert bis {}", time("to")),
        ),
        A::GrantProvisioned => {
            let (account, target, access, system) = (
                account_words(details),
                target_words(details),
                access_words(language, details),
                system_words(language, details),
            );
            let connector = text("connector");
            say(
                format!("Added {account} to {target}{access} in {connector}{system}"),
                format!("{account} zu {target}{access} in {connector} hinzugefügt{system}"),
            )
        }
        A::GrantRevoked => {
            let (account, target, access) = (
                account_words(details),
                target_words(details),
                access_words(language, details),
            );
            let connector = text("connector");
            say(
                format!(
                    "Removed {account} from {target}{access} ({}) and verified absent in \
                     {connector}",
                    text("reason")
                ),
                format!(
                    "{account} aus {target}{access} entfernt ({}); in {connector} als entfernt \
                     bestätigt",
                    revoke_reason_in(language, &text("reason"))
                ),
            )
        }
        A::GrantReturned => say("Given back early".into(), "Vorzeitig zurückgegeben".into()),
        A::GrantOverdue => say(
            format!("OVERDUE: still present after its end ({})", text("error")),
            format!(
                "ÜBERFÄLLIG: nach dem Ende noch vorhanden ({})",
                text("error")
            ),
        ),
        A::GrantEndTold => say(
            format!(
                "Told {} the lease's new end, {}{}",
                text("connector"),
                time("ends_at"),
                system_words(language, details)
            ),
            format!(
                "{} über das neue Ende des Zugriffs informiert: {}{}",
                text("connector"),
                time("ends_at"),
                system_words(language, details)
            ),
        ),
        A::GrantRetrying => say(
            format!("Attempt failed, retrying: {}", text("error")),
            format!("Versuch fehlgeschlagen, wird wiederholt: {}", text("error")),
        ),
        A::GrantFailed => say(
            format!("Could not be granted: {}", text("error")),
            format!("Konnte nicht erteilt werden: {}", text("error")),
        ),
        A::GrantEndedUnprovisioned => say(
            "Ended before the access was ever added: nothing to remove".into(),
            "Beendet, bevor der Zugriff hinzugefügt wurde: nichts zu entfernen".into(),
        ),
        A::GrantAccountMissing => say(
            format!(
                "NEEDS A PERSON: the account {} is gone from {}, so the removal cannot be done or \
                 verified",
                short_dn(&text("account")),
                text("connector")
            ),
            format!(
                "MANUELLES EINGREIFEN NÖTIG: Das Konto {} ist in {} nicht mehr vorhanden, daher \
                 kann die Entfernung weder ausgeführt noch überprüft werden",
                short_dn(&text("account")),
                text("connector")
            ),
        ),
        A::GrantTargetMissing => say(
            format!(
                "NEEDS A PERSON: the group {} is gone from {}, so the removal cannot be done or \
                 verified",
                short_dn(&text("target")),
                text("connector")
            ),
            format!(
                "MANUELLES EINGREIFEN NÖTIG: Die Gruppe {} ist in {} nicht mehr vorhanden, daher \
                 kann die Entfernung weder ausgeführt noch überprüft werden",
                short_dn(&text("target")),
                text("connector")
            ),
        ),
        A::GrantRemovalResolved => say(
            format!(
                "Removal closed by a person, not verified: \"{}\"",
                text("note")
            ),
            format!(
                "Entfernung von einer Person abgeschlossen, nicht überprüft: „{}“",
                text("note")
            ),
        ),
        A::CatalogLoaded => say(
            format!(
                "Catalog loaded from {} ({} entitlements)",
                text("origin"),
                details["entitlements"]
            ),
            format!(
                "Katalog aus {} geladen ({} Einträge)",
                text("origin"),
                details["entitlements"]
            ),
        ),
        A::CatalogEntitlementEnabled => say(
            format!("Entry {} offered again", text("key")),
            format!("Eintrag {} wieder angeboten", text("key")),
        ),
        A::CatalogEntitlementDisabled => say(
            format!("Entry {} taken out of the catalog", text("key")),
            format!("Eintrag {} aus dem Katalog genommen", text("key")),
        ),
        A::CatalogEntitlementChanged => say(
            format!("Entry {} changed", text("key")),
            format!("Eintrag {} geändert", text("key")),
        ),
        A::CatalogPolicyChanged => say(
            format!("Policy {} changed", text("key")),
            format!("Richtlinie {} geändert", text("key")),
        ),
        A::CatalogChangeProposed => say(
            format!(
                "Proposed a change to {} {}; it waits for a second administrator",
                text("kind"),
                text("key")
            ),
            format!(
                "Änderung an {} {} vorgeschlagen; sie wartet auf eine zweite Person aus der \
                 Administration",
                stored("kind"),
                text("key")
            ),
        ),
        A::CatalogChangeApproved => say(
            format!(
                "Approved {}'s change to {} {}",
                text("author"),
                text("kind"),
                text("key")
            ),
            format!(
                "Änderung von {} an {} {} genehmigt",
                text("author"),
                stored("kind"),
                text("key")
            ),
        ),
        A::CatalogChangeRejected => say(
            format!(
                "Rejected the change to {} {}: \"{}\"",
                text("kind"),
                text("key"),
                text("comment")
            ),
            format!(
                "Änderung an {} {} abgelehnt: „{}“",
                stored("kind"),
                text("key"),
                text("comment")
            ),
        ),
        A::PrincipalDisabled => say(
            format!(
                "Signed out and barred: the account {} in {} is {}",
                short_dn(&text("account")),
                text("connector"),
                text("why")
            ),
            format!(
                "Abgemeldet und gesperrt: Das Konto {} in {} ist {}",
                short_dn(&text("account")),
                text("connector"),
                stored("why")
            ),
        ),
        A::PrincipalEnabled if details["returned"] == true => say(
            format!(
                "Back: every account is enabled again ({}); nothing they held is given back",
                text("connector")
            ),
            format!(
                "Zurück: Alle Konten sind wieder aktiviert ({}); frühere Zugriffe werden nicht \
                 wiederhergestellt",
                text("connector")
            ),
        ),
        A::PrincipalEnabled => say(
            format!("The account in {} is enabled again", text("connector")),
            format!("Das Konto in {} ist wieder aktiviert", text("connector")),
        ),
        A::PersonChanged => {
            let change = |key: &str, what: &str| {
                let pair = details[key].as_array()?;
                let word = |v: &Value| v.as_str().unwrap_or(none).to_string();
                Some(format!(
                    "{what} {} → {}",
                    word(pair.first()?),
                    word(pair.get(1)?)
                ))
            };
            let changes: Vec<String> = [
                change("department", pick_in(language, "department", "Abteilung")),
                change("job_title", pick_in(language, "job title", "Position")),
                change("manager", pick_in(language, "manager", "Führungskraft")),
            ]
            .into_iter()
            .flatten()
            .collect();
            say(
                format!("{} says: {}", text("connector"), changes.join("; ")),
                format!("{} meldet: {}", text("connector"), changes.join("; ")),
            )
        }
        A::PersonLeft => say(
            format!(
                "Left: the account {} in {} is {}; every lease ends now",
                short_dn(&text("account")),
                text("connector"),
                text("why")
            ),
            format!(
                "Ausgeschieden: Das Konto {} in {} ist {}; alle Zugriffe enden jetzt",
                short_dn(&text("account")),
                text("connector"),
                stored("why")
            ),
        ),
        A::GrantOffboarded => say(
            format!(
                "Removal ordered now: the holder left ({} in {})",
                text("why"),
                text("connector")
            ),
            format!(
                "Entfernung sofort angeordnet: Die berechtigte Person ist ausgeschieden ({} in {})",
                stored("why"),
                text("connector")
            ),
        ),
        A::RequestWithdrawn => say(
            format!(
                "Withdrawn: {} left ({} in {})",
                text("who"),
                text("why"),
                text("connector")
            ),
            format!(
                "Zurückgezogen: {} ist ausgeschieden ({} in {})",
                text("who"),
                stored("why"),
                text("connector")
            ),
        ),
        A::ApprovalRerouted => match details["to"].as_str() {
            Some(to) => say(
                format!(
                    "Step {}: {} left; {to} decides in their place",
                    details["stage"],
                    text("from")
                ),
                format!(
                    "Schritt {}: {} ist ausgeschieden; stattdessen entscheidet {to}",
                    details["stage"],
                    text("from")
                ),
            ),
            None => say(
                format!(
                    "Step {}: {} left; nobody could take their place (their manager is unknown, \
                     gone, or part of the request)",
                    details["stage"],
                    text("from")
                ),
                format!(
                    "Schritt {}: {} ist ausgeschieden; niemand konnte übernehmen (die \
                     Führungskraft ist unbekannt, ausgeschieden oder an der Anfrage beteiligt)",
                    details["stage"],
                    text("from")
                ),
            ),
        },
        A::RequestEscalated => {
            let added: Vec<&str> = details["added"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            if added.is_empty() {
                say(
                    format!(
                        "Step {}: nobody decided in time, and no backup was found (managers \
                         unknown)",
                        details["stage"]
                    ),
                    format!(
                        "Schritt {}: Niemand hat rechtzeitig entschieden, und es wurde keine \
                         Ersatzperson gefunden (Führungskräfte unbekannt)",
                        details["stage"]
                    ),
                )
            } else {
                say(
                    format!(
                        "Step {}: nobody decided in time; escalated to {}",
                        details["stage"],
                        added.join(", ")
                    ),
                    format!(
                        "Schritt {}: Niemand hat rechtzeitig entschieden; eskaliert an {}",
                        details["stage"],
                        added.join(", ")
                    ),
                )
            }
        }
        A::RequestDelegated => say(
            format!(
                "Step {}: {} is away until {}; {} decides too",
                details["stage"],
                text("from"),
                time("until"),
                text("to")
            ),
            format!(
                "Schritt {}: {} ist bis {} abwesend; {} entscheidet ebenfalls",
                details["stage"],
                text("from"),
                time("until"),
                text("to")
            ),
        ),
        A::DelegationCreated => say(
            format!(
                "{} named {} deputy from {} to {}",
                text("who"),
                text("deputy"),
                time("starts_at"),
                time("ends_at")
            ),
            format!(
                "{} hat {} als Vertretung benannt, vom {} bis {}",
                text("who"),
                text("deputy"),
                time("starts_at"),
                time("ends_at")
            ),
        ),
        A::DelegationEnded => say(
            format!("{} ended the delegation to {}", text("who"), text("deputy")),
            format!(
                "{} hat die Vertretung durch {} beendet",
                text("who"),
                text("deputy")
            ),
        ),
        A::BreakGlassUsed => say(
            format!(
                "Emergency access taken by {} until {}: {}",
                text("who"),
                time("ends_at"),
                text("justification")
            ),
            format!(
                "Notfallzugriff durch {} genommen, bis {}: {}",
                text("who"),
                time("ends_at"),
                text("justification")
            ),
        ),
        A::GrantRevokedNow => say(
            format!("Taken away before its end: {}", text("reason")),
            format!("Vor seinem Ende entzogen: {}", text("reason")),
        ),
        A::PrincipalContained => say(
            format!(
                "Account contained: {} live leases taken away ({})",
                details["leases"],
                text("reason")
            ),
            format!(
                "Konto eingedämmt: {} laufende Zugriffe entzogen ({})",
                details["leases"],
                text("reason")
            ),
        ),
        A::ReconcileFound => {
            let kind = FindingKind::parse(&text("kind"))
                .map(|k| finding_kind_in(language, k).to_string())
                .unwrap_or_else(|| text("kind"));
            say(
                format!("{kind}: {} in {}", account(), text("system")),
                format!("{kind}: {} im System {}", account(), text("system")),
            )
        }
        A::ReconcileClosed => {
            let reason = Closure::parse(&text("reason"))
                .map(|c| closure_in(language, c).to_string())
                .unwrap_or_else(|| text("reason"));
            say(
                format!("Finding closed ({reason}): {}", account()),
                format!("Befund geschlossen ({reason}): {}", account()),
            )
        }
        A::ReconcileRemoved => say(
            format!(
                "Removed from the target and read back absent: {}",
                account()
            ),
            format!(
                "Aus dem Zielsystem entfernt, Entfernung nachgelesen: {}",
                account()
            ),
        ),
        A::ReconcileRemoveFailed => say(
            format!("Could not remove {}: {}", account(), text("error")),
            format!(
                "{} konnte nicht entfernt werden: {}",
                account(),
                text("error")
            ),
        ),
        A::ReconcileDeclared => say(
            format!(
                "{} declared a standing holder until {}: {}",
                account(),
                time("until"),
                text("reason")
            ),
            format!(
                "{} als ständiger Inhaber erklärt, bis {}: {}",
                account(),
                time("until"),
                text("reason")
            ),
        ),
        A::ReconcileDeclarationWithdrawn => say(
            format!("Standing holder declaration withdrawn: {}", account()),
            format!(
                "Erklärung als ständiger Inhaber zurückgezogen: {}",
                account()
            ),
        ),
        A::ReconcileOutsideChange => {
            let period = match (text("starts_at").is_empty(), text("ends_at").is_empty()) {
                (true, _) => String::new(),
                (false, true) => say(
                    format!(", from {} without end", time("starts_at")),
                    format!(", ab {} ohne Ende", time("starts_at")),
                ),
                (false, false) => say(
                    format!(", {} to {}", time("starts_at"), time("ends_at")),
                    format!(", {} bis {}", time("starts_at"), time("ends_at")),
                ),
            };
            let why = match text("justification") {
                j if j.is_empty() => String::new(),
                j => format!(": \"{j}\""),
            };
            say(
                format!(
                    "Changed in {} outside the portal: {} {} ({}) by {}{period}{why}",
                    text("system"),
                    text("action"),
                    account(),
                    text("status"),
                    text("made_by")
                ),
                format!(
                    "Im System {} außerhalb des Portals geändert: {} {} ({}) durch {}{period}{why}",
                    text("system"),
                    text("action"),
                    account(),
                    text("status"),
                    text("made_by")
                ),
            )
        }
        A::ReviewOpened => say(
            format!(
                "Opened the access review \"{}\": {} accounts, answered by {}, due {}",
                text("name"),
                details["items"],
                stored("reviewers_are"),
                time("deadline")
            ),
            format!(
                "Zugriffsprüfung „{}“ eröffnet: {} Konten, beantwortet von {}, fällig {}",
                text("name"),
                details["items"],
                stored("reviewers_are"),
                time("deadline")
            ),
        ),
        A::ReviewReminded => say(
            format!(
                "Reminded the reviewers of \"{}\" who have not finished",
                text("name")
            ),
            format!(
                "Prüfende von „{}“, die nicht fertig sind, erinnert",
                text("name")
            ),
        ),
        A::ReviewEscalated => say(
            format!(
                "Backups may now answer for the reviewers of \"{}\" who have not finished",
                text("name")
            ),
            format!(
                "Vertretungen dürfen jetzt für die Prüfenden von „{}“ antworten, die nicht fertig sind",
                text("name")
            ),
        ),
        A::ReviewDecided => {
            let by_default = details["by_default"].as_bool().unwrap_or(false);
            let reason = match text("reason") {
                r if r.is_empty() => String::new(),
                r => format!(": \"{r}\""),
            };
            say(
                format!(
                    "Review answer for {}: {}{}, {}{reason}",
                    account(),
                    stored("decision"),
                    if by_default {
                        " (the review's default)"
                    } else {
                        ""
                    },
                    stored("outcome")
                ),
                format!(
                    "Prüfantwort für {}: {}{}, {}{reason}",
                    account(),
                    stored("decision"),
                    if by_default {
                        " (Vorgabe der Prüfung)"
                    } else {
                        ""
                    },
                    stored("outcome")
                ),
            )
        }
        A::ReviewClosed => say(
            format!(
                "Closed the access review \"{}\" ({}): {} kept, {} removed, {} already gone, {} not removed, {} by default",
                text("name"),
                stored("how"),
                details["kept"],
                details["removed"],
                details["gone"],
                details["remove_failed"],
                details["by_default"]
            ),
            format!(
                "Zugriffsprüfung „{}“ abgeschlossen ({}): {} behalten, {} entfernt, {} bereits weg, {} nicht entfernt, {} per Vorgabe",
                text("name"),
                stored("how"),
                details["kept"],
                details["removed"],
                details["gone"],
                details["remove_failed"],
                details["by_default"]
            ),
        ),
        A::ReviewReportExported => say(
            format!(
                "Downloaded an access review's report ({} rows)",
                details["rows"]
            ),
            format!(
                "Bericht einer Zugriffsprüfung heruntergeladen ({} Zeilen)",
                details["rows"]
            ),
        ),
        A::LabClockMoved => say(
            format!(
                "Lab: the reminders' clock moved {} minutes forward ({} ahead)",
                details["minutes"], details["ahead_minutes"]
            ),
            format!(
                "Labor: Die Uhr der Erinnerungen wurde um {} Minuten vorgestellt ({} voraus)",
                details["minutes"], details["ahead_minutes"]
            ),
        ),
        A::EvidenceExported => say(
            format!(
                "Exported {} audit events as {} ({})",
                details["events"],
                text("format").to_uppercase(),
                if text("search").is_empty() {
                    "everything".to_string()
                } else {
                    text("search")
                }
            ),
            format!(
                "{} Verlaufseinträge als {} exportiert ({})",
                details["events"],
                text("format").to_uppercase(),
                if text("search").is_empty() {
                    "alles".to_string()
                } else {
                    text("search")
                }
            ),
        ),
        A::BreakGlassReviewed => {
            let justified = details["verdict"].as_str() == Some("justified");
            say(
                format!(
                    "Emergency use reviewed by {}: {} ({})",
                    text("by"),
                    if justified {
                        "justified"
                    } else {
                        "not justified"
                    },
                    text("note")
                ),
                format!(
                    "Notfallnutzung geprüft durch {}: {} ({})",
                    text("by"),
                    if justified {
                        "gerechtfertigt"
                    } else {
                        "nicht gerechtfertigt"
                    },
                    text("note")
                ),
            )
        }
        A::GrantShortened => say(
            format!(
                "Ends earlier, at {}: {} (the bundle of the role they left)",
                time("to"),
                text("why")
            ),
            format!(
                "Endet früher, am {}: {} (das Paket der verlassenen Rolle)",
                time("to"),
                text("why")
            ),
        ),
        A::RequestAutomaticRefused => say(
            format!(
                "Not requested for {} ({}): {}",
                text("who"),
                text("why"),
                text("reason")
            ),
            format!(
                "Nicht für {} beantragt ({}): {}",
                text("who"),
                text("why"),
                text("reason")
            ),
        ),
        A::ContractorRequested => say(
            format!(
                "Identity asked for {} ({}) until {}, with {}",
                text("name"),
                text("email"),
                time("ends_at"),
                text("bundle")
            ),
            format!(
                "Identität für {} ({}) beantragt, bis {}, mit {}",
                text("name"),
                text("email"),
                time("ends_at"),
                text("bundle")
            ),
        ),
        A::ContractorMade => say(
            format!(
                "Identity made: {} ({}) in {}",
                text("upn"),
                text("object_id"),
                text("connector")
            ),
            format!(
                "Identität angelegt: {} ({}) in {}",
                text("upn"),
                text("object_id"),
                text("connector")
            ),
        ),
        A::ContractorStopped => say(
            format!(
                "Onboarding stopped: {} in {} is already {}; nothing was made or changed",
                text("name"),
                text("connector"),
                text("existing")
            ),
            format!(
                "Onboarding angehalten: {} in {} ist bereits {}; nichts wurde angelegt oder \
                 geändert",
                text("name"),
                text("connector"),
                text("existing")
            ),
        ),
        A::ContractorAdopted => say(
            format!(
                "An administrator adopted the existing user {} for this contractor",
                text("user")
            ),
            format!(
                "Eine Administratorin oder ein Administrator hat das bestehende Konto {} für \
                 diese externe Person übernommen",
                text("user")
            ),
        ),
        A::ContractorClosed => say(
            "An administrator closed the stopped onboarding: nothing was made".to_string(),
            "Die Administration hat das angehaltene Onboarding abgeschlossen: nichts wurde \
             angelegt"
                .to_string(),
        ),
        A::ContractorEndingSoon => say(
            format!(
                "The sponsor was told the identity ends at {}",
                time("ends_at")
            ),
            format!(
                "Die verantwortliche Person wurde informiert, dass die Identität am {} endet",
                time("ends_at")
            ),
        ),
        A::ContractorEnded => say(
            format!(
                "Identity ended: access removed, accounts disabled ({}); deleted after {}",
                accounts(language, details),
                time("delete_after")
            ),
            format!(
                "Identität beendet: Zugriffe entfernt, Konten deaktiviert ({}); Löschung nach {}",
                accounts(language, details),
                time("delete_after")
            ),
        ),
        A::ContractorDeleted => say(
            format!("Identity deleted: accounts {}", accounts(language, details)),
            format!("Identität gelöscht: Konten {}", accounts(language, details)),
        ),
        A::ContractorExtended => say(
            format!("Identity extended until {}", time("ends_at")),
            format!("Identität verlängert bis {}", time("ends_at")),
        ),
        A::ContractorPasswordIssued => say(
            format!(
                "A first password was issued for the account in {} (not recorded)",
                text("connector")
            ),
            format!(
                "Für das Konto in {} wurde ein Erstkennwort ausgegeben (nicht gespeichert)",
                text("connector")
            ),
        ),
        A::ContractorSponsorChanged => say(
            format!(
                "Sponsor {} left; {} sponsors from now on",
                text("from"),
                text("to")
            ),
            format!(
                "Die verantwortliche Person {} ist ausgeschieden; ab jetzt verantwortet {} die \
                 Identität",
                text("from"),
                text("to")
            ),
        ),
        A::PeopleSyncRefused if details.get("directory_is").is_some() => say(
            format!(
                "People sync of {} refused: it is another directory ({}) than the people were \
                 read from ({}); nobody was offboarded",
                text("connector"),
                text("directory_is"),
                text("directory_was")
            ),
            format!(
                "Personenabgleich von {} verweigert: Es ist ein anderes Verzeichnis ({}) als \
                 das, aus dem die Personen gelesen wurden ({}); niemand wurde ausgetragen",
                text("connector"),
                text("directory_is"),
                text("directory_was")
            ),
        ),
        A::PeopleSyncRefused => say(
            format!(
                "People sync of {} refused: {} people would leave at once (at most {} allowed)",
                text("connector"),
                details["leavers"],
                details["max_leavers"]
            ),
            format!(
                "Personenabgleich von {} verweigert: {} Personen würden auf einmal ausscheiden \
                 (höchstens {} erlaubt)",
                text("connector"),
                details["leavers"],
                details["max_leavers"]
            ),
        ),
        A::PeopleSyncDirectoryConfirmed => say(
            format!(
                "An administrator confirmed the directory {} now reads from",
                text("connector")
            ),
            format!(
                "Die Administration hat das Verzeichnis bestätigt, aus dem {} jetzt liest",
                text("connector")
            ),
        ),
        A::PrincipalRolesChanged => {
            let roles = |key: &str| match details[key].as_array() {
                Some(list) if !list.is_empty() => list
                    .iter()
                    .filter_map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => none.to_string(),
            };
            say(
                format!(
                    "Portal roles changed at the identity provider: {} → {}",
                    roles("before"),
                    roles("after")
                ),
                format!(
                    "Portalrollen beim Identitätsanbieter geändert: {} → {}",
                    roles("before"),
                    roles("after")
                ),
            )
        }
    }
}

/// What a catalog change would mean, for the administrator who approves it.
pub fn impact_auto_approved(people: i64, requests: i64) -> String {
    impact_auto_approved_in(lang::current(), people, requests)
}

fn impact_auto_approved_in(language: Language, people: i64, requests: i64) -> String {
    match language {
        Language::English => format!(
            "{} ({}) in the last 30 days would have been granted this with nobody approving.",
            count(people, "person", "people"),
            count(requests, "request", "requests")
        ),
        Language::German => format!(
            "{} ({}) {} dies in den letzten 30 Tagen ohne jede Genehmigung erhalten.",
            count(people, "Person", "Personen"),
            count(requests, "Anfrage", "Anfragen"),
            if people == 1 { "hätte" } else { "hätten" }
        ),
    }
}

pub fn impact_needs_approval(people: i64, requests: i64) -> String {
    impact_needs_approval_in(lang::current(), people, requests)
}

fn impact_needs_approval_in(language: Language, people: i64, requests: i64) -> String {
    match language {
        Language::English => format!(
            "{} ({}) in the last 30 days were granted this without approval; they would have \
             needed it.",
            count(people, "person", "people"),
            count(requests, "request", "requests")
        ),
        Language::German => format!(
            "{} ({}) {} dies in den letzten 30 Tagen ohne Genehmigung erhalten; nach der neuen \
             Regel wäre eine Genehmigung nötig gewesen.",
            count(people, "Person", "Personen"),
            count(requests, "Anfrage", "Anfragen"),
            if people == 1 { "hat" } else { "haben" }
        ),
    }
}

pub fn impact_approval(before: &Policy, after: &Policy) -> String {
    impact_approval_in(lang::current(), before, after)
}

fn impact_approval_in(language: Language, before: &Policy, after: &Policy) -> String {
    format!(
        "{}: {} → {}.",
        pick_in(language, "Approval", "Genehmigung"),
        approval_summary_in(language, before),
        approval_summary_in(language, after)
    )
}

pub fn impact_longest(before: u32, after: u32) -> String {
    impact_longest_in(lang::current(), before, after)
}

fn impact_longest_in(language: Language, before: u32, after: u32) -> String {
    format!(
        "{}: {} → {}.",
        pick_in(language, "Longest lease", "Längste Zugriffsdauer"),
        minutes_in(language, before),
        minutes_in(language, after)
    )
}

pub fn impact_owners(added: &[String], removed: &[String]) -> String {
    impact_owners_in(lang::current(), added, removed)
}

fn impact_owners_in(language: Language, added: &[String], removed: &[String]) -> String {
    let list = |l: &[String]| {
        if l.is_empty() {
            pick_in(language, "none", "keine").to_string()
        } else {
            l.join(", ")
        }
    };
    pick_in(
        language,
        format!("Owners added: {}; removed: {}.", list(added), list(removed)),
        format!(
            "Verantwortliche hinzugefügt: {}; entfernt: {}.",
            list(added),
            list(removed)
        ),
    )
}

pub fn impact_entries(keys: &[String]) -> String {
    impact_entries_in(lang::current(), keys)
}

fn impact_entries_in(language: Language, keys: &[String]) -> String {
    if keys.is_empty() {
        pick_in(
            language,
            "No offered entry uses this policy.",
            "Kein angebotener Eintrag verwendet diese Richtlinie.",
        )
        .to_string()
    } else {
        format!(
            "{}: {}.",
            pick_in(language, "Applies to", "Gilt für"),
            keys.join(", ")
        )
    }
}

/// A span of seconds in words: under a minute in seconds ("40 seconds", "1 second"), longer
/// as [`minutes`] does, to the nearest minute.
pub fn span(seconds: f64) -> String {
    let language = lang::current();
    if seconds < 59.5 {
        let s = seconds.round().max(0.0) as u32;
        return match s {
            1 => pick_in(language, "1 second", "1 Sekunde").to_string(),
            s => pick_in(language, format!("{s} seconds"), format!("{s} Sekunden")),
        };
    }
    minutes_in(language, (seconds / 60.0).round() as u32)
}

/// Minutes in words: "45 minutes", "2 hours", "1 day 4 hours", "1 week"; in German "45
/// Minuten", "2 Stunden", "1 Tag 4 Stunden", "1 Woche".
pub fn minutes(m: u32) -> String {
    minutes_in(lang::current(), m)
}

fn minutes_in(language: Language, m: u32) -> String {
    // Each unit's size in minutes, largest first, with its singular and plural.
    let units: [(u32, &str, &str); 4] = pick_in(
        language,
        [
            (10080, "week", "weeks"),
            (1440, "day", "days"),
            (60, "hour", "hours"),
            (1, "minute", "minutes"),
        ],
        [
            (10080, "Woche", "Wochen"),
            (1440, "Tag", "Tage"),
            (60, "Stunde", "Stunden"),
            (1, "Minute", "Minuten"),
        ],
    );
    if m == 0 {
        return format!("0 {}", units[3].2);
    }
    let mut rest = m;
    let mut parts = Vec::new();
    for (size, one, many) in units {
        let n = rest / size;
        rest %= size;
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    parts.join(" ")
}

/// Why an address is not one a port may be opened to, for the person who gave it.
pub fn prefix_problem(problem: &PrefixProblem) -> String {
    prefix_problem_in(lang::current(), problem)
}

fn prefix_problem_in(language: Language, problem: &PrefixProblem) -> String {
    match language {
        Language::English => problem.to_string(),
        Language::German => match problem {
            PrefixProblem::NotAnAddress { text } => format!(
                "„{text}“ ist keine IP-Adresse (wie 203.0.113.7) und kein Präfix (wie \
                 203.0.113.0/24)"
            ),
            PrefixProblem::BadLength { text, max } => {
                format!("„{text}“: Die Präfixlänge muss zwischen 0 und {max} liegen")
            }
            PrefixProblem::NotNetworkStart { text, meant } => {
                format!("„{text}“ ist nicht der Anfang seines Netzes; meinten Sie {meant}?")
            }
            PrefixProblem::TooBroad { prefix, broadest } => format!(
                "{prefix} umfasst zu viele Adressen: Geben Sie Ihre eigene Adresse an, höchstens \
                 ein /{broadest}"
            ),
            PrefixProblem::MappedV4 { prefix } => format!(
                "{prefix} ist eine als IPv6 geschriebene IPv4-Adresse; schreiben Sie sie als IPv4"
            ),
            PrefixProblem::Local { prefix } => format!(
                "{prefix} ist eine lokale Adresse; geben Sie die Adresse an, von der Ihre \
                 Verbindung kommt"
            ),
        },
    }
}

/// Why a contractor's onboarding stopped, for the Admin page: the worker's reason, and when
/// the user it found is already someone in the portal, that it cannot be adopted.
pub fn onboarding_stopped(last_error: &str, found_holder: Option<&str>) -> String {
    onboarding_stopped_in(lang::current(), last_error, found_holder)
}

fn onboarding_stopped_in(
    language: Language,
    last_error: &str,
    found_holder: Option<&str>,
) -> String {
    match found_holder {
        Some(holder) => pick_in(
            language,
            format!(
                "{last_error} The user found is {holder} in the portal already (read by the \
                 people sync), so it cannot be adopted for a new contractor: close this \
                 onboarding."
            ),
            format!(
                "{last_error} Das gefundene Konto ist im Portal bereits {holder} (vom \
                 Personenabgleich gelesen) und kann daher nicht für eine neue externe Person \
                 übernommen werden: Schließen Sie dieses Onboarding."
            ),
        ),
        None => last_error.to_string(),
    }
}

/// Why a person may not decide a request, in `language`.
fn decision_refused_in(language: Language, refused: &DecisionRefused) -> String {
    match language {
        Language::English => refused.to_string(),
        Language::German => match refused {
            DecisionRefused::OwnRequest => {
                "Sie können nicht über Ihre eigene Anfrage oder eine Anfrage für sich selbst \
                 entscheiden."
            }
            DecisionRefused::NotAnApprover => {
                "Sie sind auf der aktuellen Stufe dieser Anfrage keine genehmigende Person."
            }
            DecisionRefused::AlreadyDecided => "Sie haben über diese Stufe bereits entschieden.",
            DecisionRefused::DecidedEarlierStage => {
                "Sie haben eine frühere Stufe genehmigt; eine spätere Stufe braucht eine andere \
                 Person."
            }
            DecisionRefused::SeatTaken => {
                "Für die Person, die Sie vertreten, wurde auf dieser Stufe bereits entschieden \
                 (von ihr selbst oder einer anderen Vertretung)."
            }
            DecisionRefused::NotPending => "Diese Anfrage wartet nicht mehr auf Entscheidungen.",
        }
        .to_string(),
    }
}

/// A broken rule in the words of the current page or server function (`text::violation`); the
/// domain names the rule, the words live here.
impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&violation(self))
    }
}

/// What a broken rule means, for the person who broke it.
pub fn violation(v: &Violation) -> String {
    violation_in(lang::current(), v)
}

fn violation_in(language: Language, v: &Violation) -> String {
    let say = |en: String, de: String| pick_in(language, en, de);
    let minutes = |m: u32| minutes_in(language, m);
    // Within a sentence: "2026-11-27 14:30 (UTC)", "27.11.2026 14:30 (UTC)".
    let stamp = |t: &DateTime<Utc>| {
        t.format(pick_in(language, "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M"))
            .to_string()
    };
    match v {
        Violation::StartInPast => say(
            "The start time is in the past. Choose now or a later time.".into(),
            "Der Beginn liegt in der Vergangenheit. Beginnen Sie jetzt, oder wählen Sie einen \
             späteren Zeitpunkt."
                .into(),
        ),
        Violation::StartTooLate { max_delay_minutes } => {
            let delay = minutes(*max_delay_minutes);
            say(
                format!("Access can start at most {delay} from now."),
                format!("Der Beginn darf höchstens {delay} in der Zukunft liegen."),
            )
        }
        Violation::StartLaterNotAllowed => say(
            "This access can only start now; it cannot be scheduled for later.".into(),
            "Dieser Zugriff kann nur sofort beginnen; ein späterer Beginn ist nicht möglich."
                .into(),
        ),
        Violation::TooShort { min_minutes } => {
            let least = minutes(*min_minutes);
            say(
                format!("Ask for at least {least}."),
                format!("Beantragen Sie mindestens {least}."),
            )
        }
        Violation::TooLong { max_minutes } => {
            let most = minutes(*max_minutes);
            say(
                format!("This access can be held for at most {most}."),
                format!("Dieser Zugriff ist auf höchstens {most} begrenzt."),
            )
        }
        Violation::EndBeforeStart => say(
            "The end must be after the start.".into(),
            "Das Ende muss nach dem Beginn liegen.".into(),
        ),
        Violation::NotEligible => say(
            "You are not eligible to request this access.".into(),
            "Sie sind nicht berechtigt, diesen Zugriff zu beantragen.".into(),
        ),
        Violation::JustificationRequired => say(
            "Say why you need this access.".into(),
            "Geben Sie an, wozu Sie diesen Zugriff benötigen.".into(),
        ),
        Violation::JustificationTooShort { min_chars } => say(
            format!("Give a reason of at least {min_chars} characters."),
            format!("Geben Sie eine Begründung mit mindestens {min_chars} Zeichen an."),
        ),
        Violation::JustificationTooLong { max_chars } => say(
            format!("Keep the reason under {max_chars} characters."),
            format!("Die Begründung muss kürzer als {max_chars} Zeichen sein."),
        ),
        Violation::TicketRequired => say(
            "A ticket number is required for this access.".into(),
            "Für diesen Zugriff ist eine Ticketnummer erforderlich.".into(),
        ),
        Violation::TicketMalformed { hint } => say(
            format!("That is not a valid ticket number (expected: {hint})."),
            format!("Das ist keine gültige Ticketnummer (erwartet: {hint})."),
        ),
        Violation::TicketTooLong { max_chars } => say(
            format!("A ticket number has at most {max_chars} characters."),
            format!("Eine Ticketnummer hat höchstens {max_chars} Zeichen."),
        ),
        Violation::NotEnoughApprovers {
            stage,
            required,
            available,
        } => say(
            format!(
                "This request cannot be approved: approval step {stage} needs {required} \
                 approver(s) other than you, and only {available} can decide. Contact the \
                 entitlement's owners."
            ),
            format!(
                "Diese Anfrage kann nicht genehmigt werden: Genehmigungsschritt {stage} braucht \
                 {} außer Ihnen, und nur {available} {} entscheiden. Wenden Sie sich an die \
                 Verantwortlichen des Eintrags.",
                count(
                    i64::from(*required),
                    "genehmigende Person",
                    "genehmigende Personen"
                ),
                if *available == 1 { "kann" } else { "können" }
            ),
        ),
        Violation::AlreadyCovered { until } => say(
            format!(
                "You already hold this access until {} (UTC); there is nothing to extend.",
                stamp(until)
            ),
            format!(
                "Sie haben diesen Zugriff bereits bis {} (UTC); es gibt nichts zu verlängern.",
                stamp(until)
            ),
        ),
        Violation::LaterThanLiveGrant { until } => say(
            format!(
                "You hold this access until {} (UTC). Ask for a window that continues it, or ask \
                 again once it has ended.",
                stamp(until)
            ),
            format!(
                "Sie haben diesen Zugriff bis {} (UTC). Beantragen Sie einen Zeitraum, der daran \
                 anschließt, oder beantragen Sie ihn erneut, wenn er geendet hat.",
                stamp(until)
            ),
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

    const DE: Language = Language::German;

    #[test]
    fn german_times() {
        let now: DateTime<Utc> = "2026-11-27T12:00:00Z".parse().unwrap();
        let later = |s: i64| now + chrono::TimeDelta::seconds(s);
        assert_eq!(relative_in(DE, now, now), "jetzt");
        assert_eq!(relative_in(DE, later(45), now), "in 45 Sek.");
        assert_eq!(relative_in(DE, later(150), now), "in 2 Min. 30 Sek.");
        assert_eq!(relative_in(DE, later(1500), now), "in 25 Min.");
        assert_eq!(relative_in(DE, later(7500), now), "in 2 Std. 5 Min.");
        assert_eq!(relative_in(DE, later(-180), now), "vor 3 Min.");
        assert_eq!(relative_in(DE, later(90_000), now), "in 1 Tag 1 Std.");
        assert_eq!(relative_in(DE, later(-3 * 86_400), now), "vor 3 Tagen");
        assert_eq!(at_in(DE, now), "27.11.2026, 12:00 UTC");
        assert_eq!(at_offset_in(DE, now, 60), "27.11.2026, 13:00 (UTC+01:00)");
        assert_eq!(at_offset_in(DE, now, -330), "27.11.2026, 06:30 (UTC-05:30)");
        assert_eq!(at_offset_in(DE, now, 0), "27.11.2026, 12:00 UTC");
    }

    #[test]
    fn german_minutes() {
        assert_eq!(minutes_in(DE, 0), "0 Minuten");
        assert_eq!(minutes_in(DE, 1), "1 Minute");
        assert_eq!(minutes_in(DE, 45), "45 Minuten");
        assert_eq!(minutes_in(DE, 120), "2 Stunden");
        assert_eq!(minutes_in(DE, 1440 + 240), "1 Tag 4 Stunden");
        assert_eq!(minutes_in(DE, 3 * 1440), "3 Tage");
        assert_eq!(minutes_in(DE, 10080), "1 Woche");
        assert_eq!(minutes_in(DE, 2 * 10080), "2 Wochen");
        assert_eq!(minutes_in(DE, 61), "1 Stunde 1 Minute");
    }

    #[test]
    fn german_violations() {
        assert_eq!(
            violation_in(DE, &Violation::TooLong { max_minutes: 480 }),
            "Dieser Zugriff ist auf höchstens 8 Stunden begrenzt."
        );
        let until: DateTime<Utc> = "2026-11-27T14:30:00Z".parse().unwrap();
        assert!(
            violation_in(DE, &Violation::AlreadyCovered { until })
                .contains("bis 27.11.2026 14:30 (UTC)")
        );
        assert!(
            violation_in(
                DE,
                &Violation::NotEnoughApprovers {
                    stage: 1,
                    required: 2,
                    available: 1
                }
            )
            .contains("2 genehmigende Personen außer Ihnen, und nur 1 kann entscheiden")
        );
    }

    #[test]
    fn german_labels() {
        assert_eq!(
            access_label_in(
                DE,
                &Access::Team {
                    role: GroupRole::Owner
                }
            ),
            "Team (Besitzer)"
        );
        assert_eq!(
            access_label_in(
                DE,
                &Access::SharepointSite {
                    role: SiteRole::Visitor
                }
            ),
            "SharePoint-Website (Besucher, kann lesen)"
        );
        assert_eq!(
            status_label_in(DE, Status::Grant(GrantState::Active)),
            "Aktiv"
        );
        assert_eq!(
            approval_progress_in(DE, 1, 2, 1, 2),
            "Schritt 1 von 2 · 1 von 2 Genehmigungen"
        );
        assert_eq!(minutes_in(Language::English, 45), minutes(45));
        assert_eq!(
            hint_directory_unavailable_in(Language::English),
            HINT_DIRECTORY_UNAVAILABLE.to_string()
        );
    }

    #[test]
    fn every_action_family_has_words() {
        for group in AuditAction::groups() {
            let english = action_group_in(Language::English, group);
            assert_ne!(english, group, "{group} has no words");
            assert_ne!(english, action_group_in(DE, group), "{group}");
        }
    }

    #[test]
    fn every_event_has_german_words() {
        let details = serde_json::json!({
            "connector": "contoso-ad", "account": "CN=Adele Vance,OU=People", "why": "disabled",
            "ends_at": "2026-11-27T14:30:00Z", "stage": 1, "kind": "policy", "key": "sql",
        });
        for action in AuditAction::ALL {
            let english = event_summary_in(Language::English, *action, &details);
            let german = event_summary_in(DE, *action, &details);
            assert_eq!(english, event_line(action.as_str(), &details), "{action}");
            assert_ne!(english, german, "{action}");
        }
        assert_eq!(
            event_summary_in(DE, AuditAction::PersonLeft, &details),
            "Ausgeschieden: Das Konto Adele Vance in contoso-ad ist deaktiviert; alle Zugriffe \
             enden jetzt"
        );
        assert_eq!(
            event_summary_in(DE, AuditAction::GrantCreated, &details),
            "Zugriff angelegt, gültig bis 27.11.2026, 14:30 UTC"
        );
    }

    #[test]
    fn german_sync_results() {
        let result = serde_json::json!({
            "complete": true, "read": 7, "created": 1, "left": 1, "leases_ended": 1,
        });
        assert_eq!(
            people_sync_result_in(DE, &result),
            "vollständiger Abgleich: 7 gelesen, 1 neu, 1 ausgeschieden, 1 Zugriff beendet, 0 \
             Anfragen zurückgezogen, 0 Genehmigungen übergeben"
        );
        assert_eq!(
            people_sync_result_in(Language::English, &result),
            "complete pass: 7 read, 1 new, 1 left, 1 leases ended, 0 requests withdrawn, 0 \
             approvals passed on"
        );
    }
}

/// `text` on one line: every run of control characters (line breaks, tabs, escapes) and
/// whitespace becomes one space, and the ends are trimmed. For names people or directories
/// typed, which the portal shows where a line break could pass for a line of its own.
pub fn single_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod single_line_tests {
    #[test]
    fn breaks_and_controls_fold_into_spaces() {
        assert_eq!(
            super::single_line(" Adele\r\nApproved by: Megan\t\u{1b}[1m "),
            "Adele Approved by: Megan [1m"
        );
        assert_eq!(super::single_line("Adele Vance"), "Adele Vance");
    }
}
