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
pub async fn page(
    state: &AppState,
    caller: &SessionUser,
    query: &EventQuery,
) -> Result<EventPage, AppError> {
    crate::server::services::may_read_trail(caller)?;
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

/// An export on its way: the file's name and its bytes as the database sends the events.
pub struct Export {
    pub file_name: String,
    pub content_type: &'static str,
    pub body: futures::stream::BoxStream<'static, Result<Vec<u8>, std::io::Error>>,
}

/// The bytes sent to the browser at a time: the export holds one such chunk and one event, never
/// the file, so a million events take the memory of a few.
const CHUNK_BYTES: usize = 64 * 1024;

/// Every event that matches, oldest first, as a file streamed from the database. The events are
/// read in one snapshot (a repeatable-read transaction): first counted, then the export is
/// recorded in the trail with that count (an export that cannot be recorded is not made), then
/// the same events are written out. The export's own event comes after the snapshot and is not
/// in the file.
pub async fn export(
    state: &AppState,
    caller: &SessionUser,
    language: Language,
    query: &EventQuery,
    format: Format,
) -> Result<Export, AppError> {
    use futures::TryStreamExt as _;
    crate::server::services::may_read_trail(caller)?;
    let query = query.first_page();
    let filter = filter(&query)?;
    // A transaction that rolls back if the export ends early; its first statement fixes the
    // snapshot both passes read.
    let mut snapshot = state.pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *snapshot)
        .await?;
    let mut count: i64 = 0;
    {
        let mut rows = audit::search_stream(&mut snapshot, &filter, Order::OldestFirst, i64::MAX);
        while rows.try_next().await?.is_some() {
            count += 1;
        }
    }

    let mut tx = state.pool.begin().await?;
    audit::record(
        &mut tx,
        &Actor::person(caller.principal_id, &caller.display_name),
        AuditAction::EvidenceExported,
        &Subject::default(),
        json!({
            "format": format.as_str(),
            "search": query.to_query(),
            "events": count,
            "complete": true,
            "by": caller.upn,
        }),
    )
    .await?;
    tx.commit().await?;

    let exported_at = Utc::now();
    let stamp = exported_at.format("%Y%m%dT%H%M%SZ");
    let (file_name, content_type, layout) = match format {
        Format::Csv => (
            format!("leasegate-evidence-{stamp}.csv"),
            "text/csv; charset=utf-8",
            Layout::Csv { language },
        ),
        Format::Json => {
            let header = json_header(state, caller, &query, exported_at).await?;
            (
                format!("leasegate-evidence-{stamp}.json"),
                "application/json",
                Layout::Json { header },
            )
        }
    };
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        if let Err(error) = write_out(snapshot, filter, layout, &sender).await {
            let reference = crate::server::app::http::correlation::log_internal(&format!(
                "evidence export stopped: {error}"
            ));
            let _ = sender
                .send(Err(std::io::Error::other(format!(
                    "the export stopped (reference {reference})"
                ))))
                .await;
        }
    });
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Ok(Export {
        file_name,
        content_type,
        body: Box::pin(body),
    })
}

/// How the events are laid out in the file.
enum Layout {
    Csv {
        language: Language,
    },
    /// The document without its events, which follow it as `"events": [...]`.
    Json {
        header: Value,
    },
}

type Chunks = tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>;

/// Writes the file from the snapshot to `sender`, a chunk at a time; stops quietly when the
/// browser went away.
async fn write_out(
    mut snapshot: sqlx::Transaction<'static, sqlx::Postgres>,
    filter: Filter,
    layout: Layout,
    sender: &Chunks,
) -> Result<(), sqlx::Error> {
    use futures::TryStreamExt as _;
    let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + 4096);
    let closing = match &layout {
        Layout::Csv { .. } => {
            chunk.extend_from_slice("\u{feff}".as_bytes());
            push_row(&mut chunk, CSV_COLUMNS.iter().map(|c| c.to_string()));
            Vec::new()
        }
        Layout::Json { header } => {
            // The header's closing brace gives way to the events.
            let mut text = serde_json::to_vec(header).unwrap_or_else(|_| b"{}".to_vec());
            text.pop();
            if text.len() > 1 {
                text.push(b',');
            }
            chunk.extend_from_slice(&text);
            chunk.extend_from_slice(br#""events":["#);
            b"]}".to_vec()
        }
    };
    {
        let mut rows = audit::search_stream(&mut snapshot, &filter, Order::OldestFirst, i64::MAX);
        let mut first = true;
        while let Some(event) = rows.try_next().await? {
            match &layout {
                Layout::Csv { language } => push_row(&mut chunk, csv_cells(*language, &event)),
                Layout::Json { .. } => {
                    if !first {
                        chunk.push(b',');
                    }
                    serde_json::to_writer(&mut chunk, &event)
                        .map_err(|e| sqlx::Error::Protocol(format!("an event as JSON: {e}")))?;
                }
            }
            first = false;
            if chunk.len() >= CHUNK_BYTES
                && sender.send(Ok(std::mem::take(&mut chunk))).await.is_err()
            {
                return Ok(());
            }
        }
    }
    chunk.extend_from_slice(&closing);
    let _ = sender.send(Ok(chunk)).await;
    snapshot.commit().await
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

/// One event's cells of the CSV export: RFC 4180 (CRLF, quoted where needed) after a
/// byte-order mark, so spreadsheet programs read UTF-8. A cell that a spreadsheet would run as a
/// formula (`=`, `+`, `-`, `@`, tab, CR) is prefixed with `'`; the JSON export keeps every value
/// exactly.
fn csv_cells(language: Language, e: &Evidence) -> impl Iterator<Item = String> {
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
    .into_iter()
}

fn id_text(id: Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

pub fn push_row(out: &mut Vec<u8>, cells: impl Iterator<Item = String>) {
    let cells: Vec<String> = cells.map(|c| csv_cell(&c)).collect();
    out.extend_from_slice(cells.join(",").as_bytes());
    out.extend_from_slice(b"\r\n");
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

/// The JSON export without its events (they are written after it, as they come).
async fn json_header(
    state: &AppState,
    caller: &SessionUser,
    query: &EventQuery,
    exported_at: DateTime<Utc>,
) -> Result<Value, AppError> {
    use base64::Engine as _;
    let check = crate::server::services::views::verify_chain(
        state,
        caller,
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
        "complete": true,
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
