//! Reading forms into what the services take: every field checked for shape here, at the
//! edge, each problem named with its field, so a service never sees raw text. Server-side
//! only; the forms themselves are in `api::types`.

use chrono::{DateTime, Datelike as _, NaiveDateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::api::types::contractors::{ContractorForm, ExtensionForm};
use crate::api::types::holdings::HoldingQuery;
use crate::api::types::requests::RequestForm;
use crate::api::{field, parse_id, text_block, text_line};
use crate::domain::input::{EntitlementKey, Justification, Ticket, Upn};
use crate::domain::problem::Problem;
use crate::domain::window::{MAX_POLICY_MINUTES, RequestedEnd, WindowRequest};
use crate::error::AppError;
use crate::server::services::contractors::{ContractorExtension, NewContractor};
use crate::server::services::holdings::{Question, Who};
use crate::server::services::lifecycle::Extension;
use crate::server::services::submit::Submission;

/// Reads the form. Every date and offset is checked before any arithmetic, and control
/// characters are refused with their field, so no input can panic the handler or reach the
/// database as something it cannot store.
pub fn submission(form: &RequestForm) -> Result<Submission, AppError> {
    let client_token = token(&form.client_token)?;
    let entitlement = field("entitlement", EntitlementKey::parse(&form.entitlement))?;
    let offset = utc_offset(&form.utc_offset_minutes)?;
    let start = match text_line("start", &form.start)?.as_str() {
        "" | "now" => None,
        "later" => Some(local_time(&form.start_at, offset, "start_at")?),
        _ => {
            return Err(AppError::invalid("start", Problem::ChooseStart));
        }
    };
    let end = match text_line("duration", &form.duration)?.as_str() {
        "custom" => RequestedEnd::Until(local_time(&form.end, offset, "end")?),
        text => RequestedEnd::For {
            minutes: text
                .parse()
                .map_err(|_| AppError::invalid("duration", Problem::ChooseDuration))?,
        },
    };
    Ok(Submission {
        entitlement,
        window: WindowRequest { start, end },
        justification: field("justification", Justification::parse(&form.justification))?,
        ticket: field("ticket", Ticket::parse(&form.ticket))?,
        on_behalf_of: field("on_behalf_of", Upn::parse_optional(&form.on_behalf_of))?,
        client_token,
        source_address: text_line("source_address", &form.source_address)?,
    })
}

/// The widest offset any time zone uses (UTC+14:00).
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

/// `YYYY-MM-DDTHH:MM[:SS]` in a zone `offset` minutes east of UTC. Years have four digits:
/// anything else is a typing mistake, and far-off years would overflow the arithmetic.
fn local_time(text: &str, offset: i32, field: &str) -> Result<DateTime<Utc>, AppError> {
    let invalid = || AppError::invalid(field, Problem::EnterDateTime);
    let text = text_line(field, text)?;
    if text.len() > 19 || !text.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let naive = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| invalid())?;
    if !(1970..=9999).contains(&naive.year()) {
        return Err(invalid());
    }
    naive
        .and_utc()
        .checked_sub_signed(TimeDelta::minutes(i64::from(offset)))
        .ok_or_else(invalid)
}

/// A request for more time on a lease.
pub fn extension(
    grant: &str,
    minutes: &str,
    justification: &str,
    client_token: &str,
) -> Result<Extension, AppError> {
    Ok(Extension {
        grant: parse_id("grant_id", grant)?,
        minutes: text_line("minutes", minutes)?
            .parse()
            .ok()
            .filter(|m| (1..=MAX_POLICY_MINUTES).contains(m))
            .ok_or_else(|| AppError::invalid("minutes", Problem::ChooseMoreTime))?,
        justification: field("justification", Justification::parse(justification))?,
        client_token: token(client_token)?,
    })
}

/// More time for a contractor.
pub fn contractor_extension(form: &ExtensionForm) -> Result<ContractorExtension, AppError> {
    Ok(ContractorExtension {
        contractor: parse_id("contractor_id", &form.contractor_id)?,
        ends_at: form_time(&form.ends_at, &form.utc_offset_minutes, "ends_at")?,
        justification: text_block("justification", &form.justification)?,
        client_token: token(&form.client_token)?,
    })
}

/// The token a form was served with, which makes a replayed submission find its first answer.
fn token(text: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text.trim())
        .map_err(|_| AppError::invalid("client_token", Problem::FormExpired))
}

/// The longest name, company or address the form takes.
const MAX_NAME: usize = 100;
const MAX_EMAIL: usize = 254;

/// The onboarding form, checked for shape: every problem names its field.
pub fn contractor(form: &ContractorForm) -> Result<NewContractor, AppError> {
    let display_name = text_line("display_name", &form.display_name)?;
    if display_name.is_empty() || display_name.chars().count() > MAX_NAME {
        return Err(AppError::invalid(
            "display_name",
            Problem::ContractorName {
                max_chars: MAX_NAME as u32,
            },
        ));
    }
    let email = text_line("email", &form.email)?.to_lowercase();
    let shaped = email.len() <= MAX_EMAIL
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
                && !domain.contains('@')
        });
    if !shaped {
        return Err(AppError::invalid("email", Problem::ContractorEmail));
    }
    let company = text_line("company", &form.company)?;
    if company.chars().count() > MAX_NAME {
        return Err(AppError::invalid(
            "company",
            Problem::CompanyTooLong {
                max_chars: MAX_NAME as u32,
            },
        ));
    }
    let ends_at = form_time(&form.ends_at, &form.utc_offset_minutes, "ends_at")?;
    let client_token = token(&form.client_token)?;
    Ok(NewContractor {
        display_name,
        email,
        company,
        ends_at,
        bundle: text_line("bundle", &form.bundle)?,
        justification: text_block("justification", &form.justification)?,
        client_token,
    })
}

/// A who-held-what question from the governance page's address. Empty times ask about now.
pub fn holding_question(query: &HoldingQuery) -> Result<Question, AppError> {
    let entitlement = match text_line("entitlement", &query.entitlement)?.as_str() {
        "" => None,
        key => Some(field("entitlement", EntitlementKey::parse(key))?),
    };
    let person = match text_line("person", &query.person)?.as_str() {
        "" => None,
        text => Some(match crate::domain::input::identifier(text) {
            Ok(id) => Who::Id(id),
            Err(_) => Who::Upn(field("person", Upn::parse(text))?),
        }),
    };
    let offset = utc_offset(&query.offset)?;
    let time = |text: &str, name: &str| -> Result<Option<DateTime<Utc>>, AppError> {
        match text_line(name, text)?.as_str() {
            "" => Ok(None),
            text => local_time(text, offset, name).map(Some),
        }
    };
    let at = time(&query.at, "at")?;
    let until = time(&query.until, "until")?;
    if until.is_some() && at.is_none() {
        return Err(AppError::invalid("at", Problem::EnterDateTime));
    }
    if let (Some(at), Some(until)) = (at, until)
        && until < at
    {
        return Err(AppError::invalid("until", Problem::PeriodReversed));
    }
    Ok(Question {
        entitlement,
        person,
        at,
        until,
    })
}

/// Why live access is taken away: 10 to 1000 characters, line breaks kept.
pub fn revocation_reason(text: &str) -> Result<String, AppError> {
    reason(text, |min_chars, max_chars| Problem::RevocationReason {
        min_chars,
        max_chars,
    })
}

/// Why an account may hold an entry without a lease: 10 to 1000 characters.
pub fn declaration_reason(text: &str) -> Result<String, AppError> {
    reason(text, |min_chars, max_chars| Problem::DeclarationReason {
        min_chars,
        max_chars,
    })
}

/// A reason others read (the `reason` field): 10 to 1000 characters once trimmed, line breaks
/// kept; `problem` says what is wrong with one out of bounds.
fn reason(text: &str, problem: fn(u32, u32) -> Problem) -> Result<String, AppError> {
    const MIN_CHARS: u32 = 10;
    const MAX_CHARS: u32 = 1000;
    let reason = text_block("reason", text)?;
    let reason = reason.trim();
    if !(MIN_CHARS as usize..=MAX_CHARS as usize).contains(&reason.chars().count()) {
        return Err(AppError::invalid("reason", problem(MIN_CHARS, MAX_CHARS)));
    }
    Ok(reason.to_string())
}

/// The longest a standing holder may be declared for; reviews renew what stays.
pub const DECLARATION_MAX_DAYS: u32 = 366;

/// When a declaration ends: a day (`YYYY-MM-DD`, its end in the browser's zone) or a time
/// (`YYYY-MM-DDTHH:MM`), in the future and at most [`DECLARATION_MAX_DAYS`] ahead.
pub fn declaration_until(
    text: &str,
    offset: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, AppError> {
    let text = text.trim();
    let until = if text.len() == 10 {
        form_time(&format!("{text}T23:59"), offset, "until")?
    } else {
        form_time(text, offset, "until")?
    };
    let max = now + chrono::TimeDelta::days(i64::from(DECLARATION_MAX_DAYS));
    if until <= now || until > max {
        return Err(AppError::invalid(
            "until",
            Problem::DeclarationUntil {
                max_days: DECLARATION_MAX_DAYS,
            },
        ));
    }
    Ok(until)
}

/// A time a form gives as `YYYY-MM-DDTHH:MM` in the browser's time zone, with the browser's
/// offset from UTC in minutes (empty: UTC).
pub fn form_time(text: &str, offset: &str, field: &str) -> Result<DateTime<Utc>, AppError> {
    local_time(text, utc_offset(offset)?, field)
}

/// The browser's offset from UTC in minutes, east positive (empty: UTC, before hydration).
fn utc_offset(text: &str) -> Result<i32, AppError> {
    match text_line("utc_offset_minutes", text)?.as_str() {
        "" => Ok(0),
        text => text
            .parse()
            .ok()
            .filter(|m: &i32| (-MAX_OFFSET_MINUTES..=MAX_OFFSET_MINUTES).contains(m))
            .ok_or_else(|| AppError::invalid("utc_offset_minutes", Problem::UnknownOffset)),
    }
}

/// An access review campaign's form, read: its name, entries (keys), who reviews, the default
/// and the deadline (a day, its end in the browser's zone, or a time).
pub fn new_review(
    name: &str,
    entries: &[String],
    reviewers: &str,
    default_action: &str,
    deadline: &str,
    offset: &str,
    now: DateTime<Utc>,
) -> Result<crate::server::services::access_reviews::NewReview, AppError> {
    use crate::domain::review::{MAX_DAYS, ReviewDecision, Reviewers};
    const MIN_CHARS: u32 = 3;
    const MAX_CHARS: u32 = 200;
    let name = text_line("name", name)?;
    if !(MIN_CHARS as usize..=MAX_CHARS as usize).contains(&name.chars().count()) {
        return Err(AppError::invalid(
            "name",
            Problem::CampaignName {
                min_chars: MIN_CHARS,
                max_chars: MAX_CHARS,
            },
        ));
    }
    let mut keys = Vec::new();
    for entry in entries.iter().filter(|e| !e.trim().is_empty()) {
        let key = field("entries", EntitlementKey::parse(entry))?;
        if !keys.iter().any(|k: &String| k == key.as_str()) {
            keys.push(key.as_str().to_string());
        }
    }
    if keys.is_empty() {
        return Err(AppError::invalid("entries", Problem::ChooseEntries));
    }
    let reviewers = Reviewers::parse(reviewers.trim())
        .ok_or_else(|| AppError::invalid("reviewers", Problem::MalformedRequest))?;
    let default_action = ReviewDecision::parse(default_action.trim())
        .ok_or_else(|| AppError::invalid("default_action", Problem::MalformedRequest))?;
    let late = || {
        AppError::invalid(
            "deadline",
            Problem::CampaignDeadline {
                max_days: MAX_DAYS as u32,
            },
        )
    };
    let deadline = deadline.trim();
    let deadline = if deadline.len() == 10 {
        form_time(&format!("{deadline}T23:59"), offset, "deadline")
    } else {
        form_time(deadline, offset, "deadline")
    }
    .map_err(|_| late())?;
    if !crate::domain::review::deadline_ok(now, deadline) {
        return Err(late());
    }
    Ok(crate::server::services::access_reviews::NewReview {
        name,
        entries: keys,
        reviewers,
        default_action,
        deadline,
    })
}

/// A reviewer's answer, read: `keep` with a reason and an end (as a declaration's), or
/// `remove` with a reason.
pub fn verdict(
    decision: &str,
    reason: &str,
    until: &str,
    offset: &str,
    now: DateTime<Utc>,
) -> Result<crate::server::services::access_reviews::Verdict, AppError> {
    use crate::domain::review::ReviewDecision;
    let decision = ReviewDecision::parse(decision.trim())
        .ok_or_else(|| AppError::invalid("decision", Problem::MalformedRequest))?;
    let reason = self::reason(reason, |min_chars, max_chars| Problem::ReviewReason {
        min_chars,
        max_chars,
    })?;
    let keep_until = match decision {
        ReviewDecision::Keep => Some(declaration_until(until, offset, now)?),
        ReviewDecision::Remove => None,
    };
    Ok(crate::server::services::access_reviews::Verdict {
        decision,
        reason,
        keep_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn form() -> RequestForm {
        RequestForm {
            entitlement: "sql-admins".into(),
            duration: "120".into(),
            client_token: Uuid::new_v4().to_string(),
            ..RequestForm::default()
        }
    }

    #[test]
    fn a_plain_form_starts_now() {
        let parsed = submission(&form()).unwrap();
        assert_eq!(parsed.window.start, None);
        assert_eq!(parsed.window.end, RequestedEnd::For { minutes: 120 });
    }

    #[test]
    fn a_holding_question_reads_its_times_in_the_askers_zone() {
        let query = HoldingQuery {
            entitlement: "sql-admins".into(),
            person: "Adele.Vance@Contoso.test".into(),
            at: "2026-11-27T15:30".into(),
            until: "2026-11-28T09:00".into(),
            offset: "60".into(),
        };
        let question = holding_question(&query).unwrap();
        assert_eq!(question.at, Some("2026-11-27T14:30:00Z".parse().unwrap()));
        assert_eq!(
            question.until,
            Some("2026-11-28T08:00:00Z".parse().unwrap())
        );
        assert!(
            matches!(question.person, Some(Who::Upn(upn)) if upn == *"adele.vance@contoso.test")
        );
        let id = Uuid::new_v4();
        let by_id = holding_question(&HoldingQuery {
            person: id.to_string(),
            ..HoldingQuery::default()
        })
        .unwrap();
        assert!(matches!(by_id.person, Some(Who::Id(found)) if found == id));
        assert_eq!(
            (by_id.at, by_id.until),
            (None, None),
            "empty times ask about now"
        );
    }

    #[test]
    fn a_holding_question_refuses_what_it_cannot_read_by_field() {
        let refused = |query: HoldingQuery| match holding_question(&query) {
            Err(AppError::Invalid { field, problem }) => (field, problem),
            other => panic!("accepted {query:?}: {other:?}"),
        };
        let base = HoldingQuery {
            at: "2026-11-27T15:30".into(),
            ..HoldingQuery::default()
        };
        assert_eq!(
            refused(HoldingQuery {
                until: "2026-11-27T15:00".into(),
                ..base.clone()
            }),
            ("until".into(), Problem::PeriodReversed)
        );
        assert_eq!(
            refused(HoldingQuery {
                at: String::new(),
                until: "2026-11-27T15:00".into(),
                ..base.clone()
            }),
            ("at".into(), Problem::EnterDateTime)
        );
        assert_eq!(
            refused(HoldingQuery {
                at: "yesterday".into(),
                ..base.clone()
            }),
            ("at".into(), Problem::EnterDateTime)
        );
        assert_eq!(
            refused(HoldingQuery {
                offset: "9999".into(),
                ..base.clone()
            }),
            ("utc_offset_minutes".into(), Problem::UnknownOffset)
        );
        assert_eq!(
            refused(HoldingQuery {
                person: "adele".into(),
                ..base.clone()
            })
            .0,
            "person"
        );
        assert_eq!(
            refused(HoldingQuery {
                entitlement: "a\u{0}b".into(),
                ..base
            })
            .0,
            "entitlement"
        );
    }

    #[test]
    fn a_revocation_needs_a_reason_of_readable_length() {
        assert_eq!(
            revocation_reason("  Suspected phishing, ticket INC-4711  ").unwrap(),
            "Suspected phishing, ticket INC-4711"
        );
        for bad in ["", "too short", &"x".repeat(1001)] {
            assert!(
                matches!(
                    revocation_reason(bad),
                    Err(AppError::Invalid { ref field, problem: Problem::RevocationReason { .. } }) if field == "reason"
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn local_times_use_the_browser_offset() {
        let mut f = form();
        f.duration = "custom".into();
        f.end = "2026-11-27T15:30".into();
        f.utc_offset_minutes = "60".into();
        let parsed = submission(&f).unwrap();
        assert_eq!(
            parsed.window.end,
            RequestedEnd::Until("2026-11-27T14:30:00Z".parse().unwrap())
        );
    }

    #[test]
    fn bad_shapes_name_their_field() {
        let field = |f: RequestForm| match submission(&f) {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {:?}", other.map(|_| ())),
        };
        let mut f = form();
        f.client_token = "not-a-uuid".into();
        assert_eq!(field(f), "client_token");
        let mut f = form();
        f.duration = "two hours".into();
        assert_eq!(field(f), "duration");
        let mut f = form();
        f.duration = "-5".into();
        assert_eq!(field(f), "duration");
        let mut f = form();
        f.duration = "custom".into();
        f.end = "tomorrow".into();
        assert_eq!(field(f), "end");
        let mut f = form();
        f.start = "later".into();
        assert_eq!(field(f), "start_at");
        let mut f = form();
        f.start = "yesterday".into();
        assert_eq!(field(f), "start");
        let mut f = form();
        f.utc_offset_minutes = "100000".into();
        assert_eq!(field(f), "utc_offset_minutes");
        let mut f = form();
        f.entitlement = " ".into();
        assert_eq!(field(f), "entitlement");
    }

    #[test]
    fn overflowing_inputs_are_refused_not_panicked_on() {
        let field = |f: RequestForm| match submission(&f) {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {:?}", other.map(|_| ())),
        };
        let mut f = form();
        f.utc_offset_minutes = "-9223372036854775808".into();
        assert_eq!(field(f), "utc_offset_minutes");
        for end in [
            "+262142-12-31T23:59",
            "262142-12-31T23:59",
            "99999-01-01T00:00",
        ] {
            let mut f = form();
            f.duration = "custom".into();
            f.end = end.into();
            f.utc_offset_minutes = "-840".into();
            assert_eq!(field(f), "end", "{end}");
        }
        let mut f = form();
        f.justification = "because\0".into();
        assert_eq!(field(f), "justification");
        let mut f = form();
        f.ticket = "CHG\u{7}1".into();
        assert_eq!(field(f), "ticket");
    }

    #[test]
    fn a_review_form_is_read_or_refused_by_its_field() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let entries = vec![
            "sql-admins".to_string(),
            String::new(),
            "sql-admins".to_string(),
        ];
        let read = new_review(
            "Quarterly",
            &entries,
            "owners",
            "remove",
            "2026-12-08",
            "0",
            now,
        )
        .unwrap();
        assert_eq!(
            read.entries,
            ["sql-admins"],
            "blank and repeated keys dropped"
        );
        assert_eq!(
            read.deadline,
            chrono::Utc
                .with_ymd_and_hms(2026, 12, 8, 23, 59, 0)
                .unwrap()
        );
        let field = |r: Result<_, AppError>| match r {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!(
                "{:?}",
                other.map(|_: crate::server::services::access_reviews::NewReview| ())
            ),
        };
        assert_eq!(
            field(new_review(
                "Q",
                &entries,
                "owners",
                "keep",
                "2026-12-08",
                "0",
                now
            )),
            "name"
        );
        assert_eq!(
            field(new_review(
                "Quarterly",
                &[],
                "owners",
                "keep",
                "2026-12-08",
                "0",
                now
            )),
            "entries"
        );
        assert_eq!(
            field(new_review(
                "Quarterly",
                &entries,
                "all",
                "keep",
                "2026-12-08",
                "0",
                now
            )),
            "reviewers"
        );
        assert_eq!(
            field(new_review(
                "Quarterly",
                &entries,
                "owners",
                "maybe",
                "2026-12-08",
                "0",
                now
            )),
            "default_action"
        );
        assert_eq!(
            field(new_review(
                "Quarterly",
                &entries,
                "owners",
                "keep",
                "2026-11-30",
                "0",
                now
            )),
            "deadline"
        );
        assert_eq!(
            field(new_review(
                "Quarterly",
                &entries,
                "owners",
                "keep",
                "2027-06-01",
                "0",
                now
            )),
            "deadline"
        );
        assert_eq!(
            field(new_review(
                "Quarterly",
                &entries,
                "owners",
                "keep",
                "soon",
                "0",
                now
            )),
            "deadline"
        );
    }

    #[test]
    fn a_keep_needs_an_end_and_every_answer_a_reason() {
        use crate::domain::review::ReviewDecision;
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let kept = verdict("keep", "Backup service account", "2027-01-31", "0", now).unwrap();
        assert_eq!(kept.decision, ReviewDecision::Keep);
        assert!(kept.keep_until.is_some());
        let removed = verdict("remove", "Left the team in May", "", "", now).unwrap();
        assert_eq!(
            (removed.decision, removed.keep_until),
            (ReviewDecision::Remove, None)
        );
        let field = |r: Result<crate::server::services::access_reviews::Verdict, AppError>| match r
        {
            Err(AppError::Invalid { field, .. }) => field,
            Ok(_) => panic!("accepted"),
            Err(other) => panic!("{other:?}"),
        };
        assert_eq!(
            field(verdict("keep", "Backup service account", "", "0", now)),
            "until"
        );
        assert_eq!(field(verdict("remove", "short", "", "0", now)), "reason");
        assert_eq!(
            field(verdict("delete", "Left the team in May", "", "0", now)),
            "decision"
        );
    }
}
