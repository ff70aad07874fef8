//! The auditor's search of the trail and its export as evidence.
//!
//! A search is an [`EventQuery`] (what the governance page's address holds); [`filter`] reads it,
//! refusing what it cannot read by field. The page shows a hundred events at a time, newest
//! first; the export ([`export`]) writes every match oldest first, as CSV for a spreadsheet or as
//! JSON with what a third party needs to check it without trusting the portal: each event's exact
//! hashed text and both hashes, the chain's head, the verification of the whole chain at export
//! time and the newest signed checkpoint with its public key. Every export is itself recorded in
//! the trail (who, which search, how many events) before the file leaves.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::types::governance::{AddressQuery as _, EventPage, EventQuery, EventView};
use crate::domain::audit::AuditAction;
use crate::domain::named::named;
use crate::domain::problem::Problem;
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::audit::{self, Actor, Evidence, Filter, Order, Subject};
use crate::text::lang::Language;

/// Events per page of the search.
pub const PAGE_SIZE: i64 = 100;
/// The most events one export holds; a larger trail is exported in parts by date.
pub const EXPORT_MAX: i64 = 50_000;
/// The longest name or key searched for.
const MAX_SEARCH_CHARS: usize = 200;

/// Reads a search, refusing a field it cannot read with the field's name.
pub fn filter(query: &EventQuery) -> Result<Filter, AppError> {
    let words = |field: &str, text: &str| -> Result<Option<String>, AppError> {
        let text = crate::domain::input::clean(text, false)
            .map_err(|problem| AppError::invalid(field, problem))?;
        if text.is_empty() {
            return Ok(None);
        }
        if text.chars().count() > MAX_SEARCH_CHARS {
            return Err(AppError::invalid(
                field,
                Problem::SearchTooLong {
                    max_chars: MAX_SEARCH_CHARS as u32,
                },
            ));
        }
        Ok(Some(text.to_string()))
    };
    let day = |field: &str, text: &str| -> Result<Option<NaiveDate>, AppError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::invalid(field, Problem::EnterDay))
    };
    let id = |field: &str, text: &str| -> Result<Option<Uuid>, AppError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        crate::domain::input::identifier(text)
            .map(Some)
            .map_err(|problem| AppError::invalid(field, problem))
    };
    let action = match query.action.trim() {
        "" => None,
        known if AuditAction::parse(known).is_some() || AuditAction::groups().contains(&known) => {
            Some(known.to_string())
        }
        _ => {
            return Err(AppError::invalid("action", Problem::ChooseEventKind));
        }
    };
    let from = day("from", &query.from)?;
    let to = day("to", &query.to)?;
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(AppError::invalid("to", Problem::DaysReversed));
    }
    let before = match query.before.trim() {
        "" => None,
        text => Some(
            text.parse::<i64>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| AppError::invalid("before", Problem::NotATrailPosition))?,
        ),
    };
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    Ok(Filter {
        from: from.and_then(midnight),
        until: to
            .and_then(|d| d.checked_add_signed(TimeDelta::days(1)))
            .and_then(midnight),
        who: words("who", &query.who)?,
        what: words("what", &query.what)?,
        action,
        person: id("person", &query.person)?,
        request: id("request", &query.request)?,
        before,
    })
}

/// One page of the search, newest first.
pub async fn page(state: &AppState, query: &EventQuery) -> Result<EventPage, AppError> {
    let language = crate::text::lang::current();
    let filter = filter(query)?;
    let mut conn = state.pool.acquire().await?;
    let mut found = audit::search(&mut conn, &filter, Order::NewestFirst, PAGE_SIZE + 1).await?;
    let older = if found.len() as i64 > PAGE_SIZE {
        found.truncate(PAGE_SIZE as usize);
        found.last().map(|e| e.position)
    } else {
        None
    };
    let person = match filter.person {
        Some(id) => crate::server::db::people::listed(&state.pool, id)
            .await?
            .map(|p| p.display_name),
        None => None,
    };
    Ok(EventPage {
        events: found.iter().map(|e| view(language, e)).collect(),
        older,
        person,
    })
}

fn summary(language: Language, e: &Evidence) -> String {
    crate::text::event_line_in(language, &e.action, &e.details)
}

fn view(language: Language, e: &Evidence) -> EventView {
    EventView {
        position: e.position,
        occurred_at: e.occurred_at,
        actor: crate::text::actor_in(language, &e.actor_label),
        action: e.action.clone(),
        request_id: e.request_id,
        summary: summary(language, e),
    }
}

named! {
    /// The two forms of an export, by the name the address gives (`format=csv`).
    pub enum Format {
        Csv = "csv",
        Json = "json",
    }
}

/// A finished export: the file's name and its bytes.
pub struct Export {
    pub file_name: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Every event that matches, oldest first, as a file; the export is recorded in the trail
/// first (an export that cannot be recorded is not made).
pub async fn export(
    state: &AppState,
    caller: &SessionUser,
    language: Language,
    query: &EventQuery,
    format: Format,
) -> Result<Export, AppError> {
    let query = query.first_page();
    let filter = filter(&query)?;
    let mut conn = state.pool.acquire().await?;
    let mut events = audit::search(&mut conn, &filter, Order::OldestFirst, EXPORT_MAX + 1).await?;
    let complete = events.len() as i64 <= EXPORT_MAX;
    events.truncate(EXPORT_MAX as usize);
    drop(conn);

    let mut tx = state.pool.begin().await?;
    audit::record(
        &mut tx,
        &Actor::person(caller.principal_id, &caller.display_name),
        AuditAction::EvidenceExported,
        &Subject::default(),
        json!({
            "format": format.as_str(),
            "search": query.to_query(),
            "events": events.len(),
            "complete": complete,
            "by": caller.upn,
        }),
    )
    .await?;
    tx.commit().await?;

    let exported_at = Utc::now();
    let stamp = exported_at.format("%Y%m%dT%H%M%SZ");
    Ok(match format {
        Format::Csv => Export {
            file_name: format!("leasegate-evidence-{stamp}.csv"),
            content_type: "text/csv; charset=utf-8",
            body: csv(language, &events, complete).into_bytes(),
        },
        Format::Json => {
            let document =
                json_document(state, caller, &query, &events, complete, exported_at).await?;
            Export {
                file_name: format!("leasegate-evidence-{stamp}.json"),
                content_type: "application/json",
                body: serde_json::to_vec_pretty(&document).map_err(|e| AppError::Internal {
                    reference: crate::error::reference_for(&format!("evidence document: {e}")),
                })?,
            }
        }
    })
}

/// The columns of the CSV export.
const CSV_COLUMNS: [&str; 14] = [
    "position",
    "occurred_at_utc",
    "actor",
    "action",
    "summary",
    "person",
    "entitlement",
    "request_id",
    "grant_id",
    "subject_id",
    "entitlement_id",
    "details",
    "prev_hash",
    "hash",
];

/// RFC 4180 CSV (CRLF, quoted where needed) with a byte-order mark, so spreadsheet programs read
/// UTF-8. A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) is
/// prefixed with `'`; the JSON export keeps every value exactly.
fn csv(language: Language, events: &[Evidence], complete: bool) -> String {
    let mut out = String::from("\u{feff}");
    push_row(&mut out, CSV_COLUMNS.iter().map(|c| c.to_string()));
    for e in events {
        push_row(
            &mut out,
            [
                e.position.to_string(),
                e.occurred_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                e.actor_label.clone(),
                e.action.clone(),
                summary(language, e),
                e.subject.clone().unwrap_or_default(),
                e.entitlement.clone().unwrap_or_default(),
                id_text(e.request_id),
                id_text(e.grant_id),
                id_text(e.subject_id),
                id_text(e.entitlement_id),
                e.details.to_string(),
                e.prev_hash.clone(),
                e.hash.clone(),
            ]
            .into_iter(),
        );
    }
    if !complete {
        let note = crate::text::export_truncated_in(language, EXPORT_MAX as u64);
        push_row(&mut out, std::iter::once(note));
    }
    out
}

fn id_text(id: Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

fn push_row(out: &mut String, cells: impl Iterator<Item = String>) {
    let cells: Vec<String> = cells.map(|c| csv_cell(&c)).collect();
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

fn csv_cell(value: &str) -> String {
    let neutral = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    };
    if neutral.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

/// What the JSON export says about how to check it.
const HOW_TO_VERIFY: [&str; 4] = [
    "Each event: hash = SHA-256(bytes(prev_hash) || UTF-8 bytes of canonical); both hashes are hex.",
    "canonical is the exact text the chain hashed; its fields equal the event's own fields.",
    "Consecutive positions: an event's prev_hash is the previous event's hash (the first event's \
     prev_hash is SHA-256 of nothing).",
    "A checkpoint: Ed25519 signature, by the public key, over the UTF-8 bytes of signed_message.",
];

async fn json_document(
    state: &AppState,
    caller: &SessionUser,
    query: &EventQuery,
    events: &[Evidence],
    complete: bool,
    exported_at: DateTime<Utc>,
) -> Result<Value, AppError> {
    use base64::Engine as _;
    let check = crate::server::services::views::verify_chain(
        state,
        crate::server::jobs::checkpoints::Scope::SinceCheckpoint,
    )
    .await?;
    let mut conn = state.pool.acquire().await?;
    let (head_position, head_hash) = audit::head(&mut conn).await?;
    let checkpoint = audit::latest_checkpoint(&mut conn).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let checkpoint = checkpoint.map(|c| {
        json!({
            "position": c.position,
            "hash": c.hash,
            "key_id": c.key_id,
            "signed_at": c.signed_at,
            "signed_message": crate::server::jobs::checkpoints::signed_text(c.position, &c.hash),
            "signature": b64.encode(&c.signature),
        })
    });
    Ok(json!({
        "format": "leasegate-evidence/1",
        "exported_at": exported_at,
        "exported_by": { "id": caller.principal_id, "name": caller.display_name, "upn": caller.upn },
        "search": query.to_query(),
        "complete": complete,
        "chain": {
            "head": { "position": head_position, "hash": hex(&head_hash) },
            "verified_at_export": {
                "intact": check.intact,
                "events": check.events,
                "first_break": check.first_break,
                "signed_checkpoints_checked": check.checkpoints,
                "mismatched_checkpoints": check.mismatched,
                "events_recomputed_after": check.checked_after.unwrap_or(0),
            },
            "public_key": state.audit_key.as_ref().map(|k| b64.encode(k.public_key())),
            "latest_checkpoint": checkpoint,
            "how_to_verify": HOW_TO_VERIFY,
        },
        "events": events,
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_read_or_refused_by_field() {
        let query = EventQuery {
            who: " 50%_off\\ ".into(),
            action: "grant".into(),
            from: "2026-11-01".into(),
            to: "2026-11-30".into(),
            ..Default::default()
        };
        let f = filter(&query).unwrap();
        // Trimmed; `db::contains_pattern` makes it a pattern with the wildcards escaped.
        assert_eq!(f.who.as_deref(), Some("50%_off\\"));
        assert_eq!(f.action.as_deref(), Some("grant"));
        assert_eq!(f.from.unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(f.until.unwrap().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert!(f.what.is_none() && f.person.is_none() && f.before.is_none());

        let refused = |query: EventQuery| match filter(&query) {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("not refused: {other:?}"),
        };
        let with = |f: fn(&mut EventQuery)| {
            let mut q = EventQuery::default();
            f(&mut q);
            q
        };
        assert_eq!(refused(with(|q| q.from = "1.11.2026".into())), "from");
        assert_eq!(
            refused(with(|q| {
                q.from = "2026-11-02".into();
                q.to = "2026-11-01".into();
            })),
            "to"
        );
        assert_eq!(
            refused(with(|q| q.action = "grant.stolen".into())),
            "action"
        );
        assert_eq!(refused(with(|q| q.person = "adele".into())), "person");
        assert_eq!(refused(with(|q| q.before = "-3".into())), "before");
        assert_eq!(refused(with(|q| q.who = "x".repeat(201))), "who");
        assert_eq!(refused(with(|q| q.what = "a\u{0}b".into())), "what");
        assert!(filter(&with(|q| q.action = "grant.revoked".into())).is_ok());
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(Format::parse("csv"), Some(Format::Csv));
        assert_eq!(Format::parse("xml"), None);
    }
}
