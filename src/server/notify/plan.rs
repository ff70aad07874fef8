//! Planning what to tell: the trail's events, read in order, and the notices that follow the
//! clock become mails (and cards), rendered in each recipient's language and written to the
//! outboxes in the same transaction that moves the trail's cursor.

use chrono::Utc;
use uuid::Uuid;

use super::templates::{self, About};
use super::{EVENTS_PER_PASS, Notifier, STALE_AFTER};
use crate::domain::audit::AuditAction;
use crate::domain::mail::MailKind;
use crate::domain::request::RequestState;
use crate::server::db::outbox::{self, NewMail, Recipient, RequestFacts, TrailEvent};
use crate::server::db::teams as teams_outbox;

impl Notifier {
    /// Writes the mails the trail's new events call for; returns how many.
    pub async fn project(&self) -> Result<usize, sqlx::Error> {
        let mut written = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            let Some(cursor) = outbox::take_cursor(&mut tx).await? else {
                return Ok(written); // another replica is at it
            };
            let events = outbox::events_after(&mut tx, cursor, EVENTS_PER_PASS).await?;
            let Some(last) = events.last().map(|e| e.position) else {
                return Ok(written);
            };
            let stale_before = Utc::now() - STALE_AFTER;
            for event in events.iter().filter(|e| e.occurred_at >= stale_before) {
                for mail in self.mails_for(&mut tx, event).await? {
                    written += self.write(&mut tx, &mail).await?;
                }
            }
            outbox::move_cursor(&mut tx, last).await?;
            tx.commit().await?;
            if (events.len() as i64) < EVENTS_PER_PASS {
                return Ok(written);
            }
        }
    }

    /// Writes the notices that follow the clock: leases ending soon, requests about to lapse.
    pub async fn notices(&self) -> Result<usize, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let mut written = 0;
        for (grant, topic) in outbox::expiring_unnoticed(&mut tx, 200).await? {
            let Some(g) = outbox::grant_facts(&mut tx, grant).await? else {
                continue;
            };
            let about = grant_about(&g);
            let mail = Planned {
                topic,
                kind: MailKind::ExpiringSoon,
                to: g.holder.clone(),
                about,
                path: "my-access".into(),
                request: g.request_id,
                grant: Some(g.id),
                channel: None,
            };
            written += self.write(&mut tx, &mail).await?;
        }
        for (request, stage, topic) in outbox::reminders_due(&mut tx, self.clock.now(), 200).await?
        {
            let Some(r) = outbox::request_facts(&mut tx, request).await? else {
                continue;
            };
            for approver in outbox::undecided_approvers(&mut tx, request, stage, false).await? {
                let mail = Planned {
                    topic: topic.clone(),
                    kind: MailKind::Reminder,
                    to: approver,
                    about: request_about(&r),
                    path: format!("approvals/{request}"),
                    request: Some(request),
                    grant: None,
                    channel: None,
                };
                written += self.write(&mut tx, &mail).await?;
            }
        }
        for (request, topic) in outbox::lapsing_unnoticed(&mut tx, 200).await? {
            let Some(r) = outbox::request_facts(&mut tx, request).await? else {
                continue;
            };
            let mut about = request_about(&r);
            about.deadline = Some(r.expires_at);
            let mail = Planned {
                topic,
                kind: MailKind::LapsingSoon,
                to: r.requester.clone(),
                about,
                path: "my-access".into(),
                request: Some(r.id),
                grant: None,
                channel: None,
            };
            written += self.write(&mut tx, &mail).await?;
        }
        tx.commit().await?;
        Ok(written)
    }

    async fn write(
        &self,
        conn: &mut sqlx::PgConnection,
        mail: &Planned,
    ) -> Result<usize, sqlx::Error> {
        let link = self
            .public_url
            .join(&mail.path)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| self.public_url.to_string());
        let mut written = 0;
        if self.mailer.is_some() {
            let rendered = templates::render(mail.kind, mail.to.language, &mail.about, &link);
            written += usize::from(
                outbox::enqueue(
                    conn,
                    &NewMail {
                        topic: &mail.topic,
                        kind: mail.kind,
                        recipient: &mail.to,
                        subject: &rendered.subject,
                        text: &rendered.text,
                        html: &rendered.html,
                        request: mail.request,
                        grant: mail.grant,
                    },
                )
                .await?,
            );
        }
        // A request waiting for a decision: a card in the policy's channel (once per stage:
        // the topic is the stage's), and in each approver's chat where they set one up.
        if matches!(
            mail.kind,
            MailKind::NewRequest
                | MailKind::Reminder
                | MailKind::Escalated
                | MailKind::Delegated
                | MailKind::BreakGlass
        ) {
            if matches!(mail.kind, MailKind::NewRequest | MailKind::BreakGlass)
                && let Some(channel) = mail.channel.as_deref()
                && self.teams.channels.contains_key(channel)
            {
                let card =
                    templates::card(mail.kind, self.teams.channel_language, &mail.about, &link);
                written += usize::from(
                    teams_outbox::enqueue(
                        conn,
                        &mail.topic,
                        mail.kind,
                        &format!("channel:{channel}"),
                        &card,
                        mail.request,
                    )
                    .await?,
                );
            }
            if let Some(person) = mail.to.id
                && !teams_outbox::with_chat(conn, &[person]).await?.is_empty()
            {
                let card = templates::card(mail.kind, mail.to.language, &mail.about, &link);
                written += usize::from(
                    teams_outbox::enqueue(
                        conn,
                        &mail.topic,
                        mail.kind,
                        &format!("person:{person}"),
                        &card,
                        mail.request,
                    )
                    .await?,
                );
            }
        }
        Ok(written)
    }

    /// The mails one event calls for.
    async fn mails_for(
        &self,
        conn: &mut sqlx::PgConnection,
        event: &TrailEvent,
    ) -> Result<Vec<Planned>, sqlx::Error> {
        let by_event = format!("event:{}", event.position);
        let mut mails = Vec::new();
        let Some(action) = event.action else {
            return Ok(mails);
        };
        match action {
            // A request that now waits for a stage: its approvers, once per stage.
            AuditAction::RequestSubmitted | AuditAction::DecisionApproved => {
                let Some(r) = self.request(conn, event.request_id).await? else {
                    return Ok(mails);
                };
                if r.state != RequestState::Pending {
                    return Ok(mails);
                }
                for approver in outbox::undecided_approvers(conn, r.id, r.stage, true).await? {
                    mails.push(Planned {
                        topic: format!("request:{}:stage:{}", r.id, r.stage),
                        kind: MailKind::NewRequest,
                        to: approver,
                        about: request_about(&r),
                        path: format!("approvals/{}", r.id),
                        request: Some(r.id),
                        grant: None,
                        channel: r.teams_channel.clone(),
                    });
                }
            }
            // The backups a stage was escalated to.
            AuditAction::RequestEscalated => {
                let Some(r) = self.request(conn, event.request_id).await? else {
                    return Ok(mails);
                };
                if r.state != RequestState::Pending {
                    return Ok(mails);
                }
                let added: Vec<String> = event.details["added"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                for to in outbox::recipients(conn, &added).await? {
                    mails.push(Planned {
                        topic: by_event.clone(),
                        kind: MailKind::Escalated,
                        to,
                        about: request_about(&r),
                        path: format!("approvals/{}", r.id),
                        request: Some(r.id),
                        grant: None,
                        channel: None,
                    });
                }
            }
            // The deputy of an approver who is away.
            AuditAction::RequestDelegated => {
                let Some(r) = self.request(conn, event.request_id).await? else {
                    return Ok(mails);
                };
                let Some(to) = event.details["to"].as_str() else {
                    return Ok(mails);
                };
                if r.state != RequestState::Pending {
                    return Ok(mails);
                }
                let away = outbox::recipients(
                    conn,
                    &[event.details["from"].as_str().unwrap_or("").to_string()],
                )
                .await?
                .into_iter()
                .next()
                .map(|p| p.name)
                .unwrap_or_default();
                let mut about = request_about(&r);
                about.comment = away;
                for to in outbox::recipients(conn, &[to.to_string()]).await? {
                    mails.push(Planned {
                        topic: by_event.clone(),
                        kind: MailKind::Delegated,
                        to,
                        about: about.clone(),
                        path: format!("approvals/{}", r.id),
                        request: Some(r.id),
                        grant: None,
                        channel: None,
                    });
                }
            }
            // Security is alerted at once (mail, and the `security` Teams channel).
            AuditAction::BreakGlassUsed => {
                let Some(r) = self.request(conn, event.request_id).await? else {
                    return Ok(mails);
                };
                let to = if self.settings.security.is_empty() {
                    outbox::administrators(conn).await?
                } else {
                    self.settings
                        .security
                        .iter()
                        .map(|address| Recipient {
                            id: None,
                            name: address.clone(),
                            address: address.clone(),
                            language: self.teams.channel_language,
                        })
                        .collect()
                };
                for to in to {
                    mails.push(Planned {
                        topic: by_event.clone(),
                        kind: MailKind::BreakGlass,
                        to,
                        about: request_about(&r),
                        path: format!("governance/requests/{}", r.id),
                        request: Some(r.id),
                        grant: None,
                        channel: Some("security".into()),
                    });
                }
            }
            AuditAction::RequestApproved | AuditAction::RequestDenied => {
                let Some(r) = self.request(conn, event.request_id).await? else {
                    return Ok(mails);
                };
                let approved = action == AuditAction::RequestApproved;
                let outcome = if approved { "approve" } else { "deny" };
                let decided_by_people = sqlx::query_scalar!(
                    "select exists (select 1 from approval_decisions where request_id = $1)",
                    r.id
                )
                .fetch_one(&mut *conn)
                .await?
                .unwrap_or(false);
                // An approval without an approver (the policy approves on submission) is
                // told by the "granted" mail alone.
                if !decided_by_people {
                    return Ok(mails);
                }
                let mut about = request_about(&r);
                about.approved = approved;
                about.comment = outbox::decision_comment(conn, r.id, outcome).await?;
                for to in both(&r) {
                    mails.push(Planned {
                        topic: by_event.clone(),
                        kind: MailKind::Decided,
                        to,
                        about: about.clone(),
                        path: "my-access".into(),
                        request: Some(r.id),
                        grant: None,
                        channel: None,
                    });
                }
            }
            AuditAction::RequestExpired => {
                let Some(r) = self.request(conn, event.request_id).await? else {
                    return Ok(mails);
                };
                for to in both(&r) {
                    mails.push(Planned {
                        topic: by_event.clone(),
                        kind: MailKind::Lapsed,
                        to,
                        about: request_about(&r),
                        path: format!("request/{}", r.entitlement_key),
                        request: Some(r.id),
                        grant: None,
                        channel: None,
                    });
                }
            }
            AuditAction::GrantProvisioned | AuditAction::GrantRevoked => {
                let Some(grant) = event.grant_id else {
                    return Ok(mails);
                };
                let Some(g) = outbox::grant_facts(conn, grant).await? else {
                    return Ok(mails);
                };
                let kind = if action == AuditAction::GrantProvisioned {
                    MailKind::Granted
                } else {
                    MailKind::Removed
                };
                mails.push(Planned {
                    topic: by_event,
                    kind,
                    to: g.holder.clone(),
                    about: grant_about(&g),
                    path: "my-access".into(),
                    request: g.request_id,
                    grant: Some(g.id),
                    channel: None,
                });
            }
            AuditAction::GrantRevokedNow => {
                let Some(grant) = event.grant_id else {
                    return Ok(mails);
                };
                let Some(g) = outbox::grant_facts(conn, grant).await? else {
                    return Ok(mails);
                };
                let about = About {
                    requester: event.details["by"].as_str().unwrap_or_default().into(),
                    comment: event.details["reason"].as_str().unwrap_or_default().into(),
                    ..grant_about(&g)
                };
                let owners = outbox::owners_of_grant(conn, grant).await?;
                let holder = std::iter::once((g.holder.clone(), "my-access"));
                let others = owners
                    .into_iter()
                    .filter(|o| o.id != g.holder.id)
                    .map(|o| (o, ""));
                for (to, path) in holder.chain(others) {
                    mails.push(Planned {
                        topic: by_event.clone(),
                        kind: MailKind::TakenAway,
                        to,
                        about: about.clone(),
                        path: path.into(),
                        request: g.request_id,
                        grant: Some(g.id),
                        channel: None,
                    });
                }
            }
            AuditAction::ReconcileRemoved => {
                let key = event.details["entitlement_key"]
                    .as_str()
                    .unwrap_or_default();
                let Some((entitlement, owners)) = outbox::entry_owners(conn, key).await? else {
                    return Ok(mails);
                };
                let holder = match event.subject_id {
                    Some(person) => outbox::upn_of(conn, person).await?,
                    None => None,
                };
                let mut upns: Vec<String> = Vec::new();
                for upn in holder.iter().chain(owners.iter()) {
                    if !upns.iter().any(|u| u.eq_ignore_ascii_case(upn)) {
                        upns.push(upn.clone());
                    }
                }
                let text =
                    |name: &str| event.details[name].as_str().unwrap_or_default().to_string();
                let about = About {
                    entitlement,
                    beneficiary: match text("label") {
                        label if label.is_empty() => text("account"),
                        label => label,
                    },
                    requester: text("by"),
                    ..blank(event.occurred_at)
                };
                for to in outbox::recipients(conn, &upns).await? {
                    let path = if to.id.is_some() && to.id == event.subject_id {
                        "my-access"
                    } else {
                        ""
                    };
                    mails.push(Planned {
                        topic: by_event.clone(),
                        kind: MailKind::ReconciledAway,
                        to,
                        about: about.clone(),
                        path: path.into(),
                        request: None,
                        grant: None,
                        channel: None,
                    });
                }
            }
            // A campaign's reviewers: when it opens, and those who have not finished
            // half-way; their backups when it escalates.
            AuditAction::ReviewOpened | AuditAction::ReviewReminded => {
                let reviewers = ids_in(&event.details["reviewers"], None);
                let upns = crate::server::db::access_reviews::upns_of(conn, &reviewers).await?;
                let kind = if action == AuditAction::ReviewOpened {
                    MailKind::ReviewOpened
                } else {
                    MailKind::ReviewReminder
                };
                let about = review_about(event, "");
                for to in outbox::recipients(conn, &upns).await? {
                    mails.push(review_mail(&by_event, kind, to, about.clone(), event));
                }
            }
            AuditAction::ReviewEscalated => {
                let Some(backups) = event.details["backups"].as_array() else {
                    return Ok(mails);
                };
                for backup in backups {
                    let ids = ids_in(backup, Some("backup"));
                    let upns = crate::server::db::access_reviews::upns_of(conn, &ids).await?;
                    let name = backup["reviewer_name"].as_str().unwrap_or_default();
                    let about = review_about(event, name);
                    for to in outbox::recipients(conn, &upns).await? {
                        mails.push(review_mail(
                            &format!(
                                "{by_event}:{}",
                                backup["reviewer"].as_str().unwrap_or_default()
                            ),
                            MailKind::ReviewEscalated,
                            to,
                            about.clone(),
                            event,
                        ));
                    }
                }
            }
            AuditAction::GrantOverdue => {
                let Some(grant) = event.grant_id else {
                    return Ok(mails);
                };
                let Some(g) = outbox::grant_facts(conn, grant).await? else {
                    return Ok(mails);
                };
                let path = match g.request_id {
                    Some(id) => format!("governance/requests/{id}"),
                    None => "governance".into(),
                };
                for admin in outbox::administrators(conn).await? {
                    mails.push(Planned {
                        topic: by_event.clone(),
                        kind: MailKind::Overdue,
                        to: admin,
                        about: grant_about(&g),
                        path: path.clone(),
                        request: g.request_id,
                        grant: Some(g.id),
                        channel: None,
                    });
                }
            }
            AuditAction::ContractorEndingSoon => {
                let Some(principal) = event.subject_id else {
                    return Ok(mails);
                };
                let Some((contractor, ends_at, sponsor)) =
                    outbox::contractor_facts(conn, principal).await?
                else {
                    return Ok(mails);
                };
                mails.push(Planned {
                    topic: by_event,
                    kind: MailKind::ContractorEnding,
                    to: sponsor.clone(),
                    about: About {
                        entitlement: String::new(),
                        requester: sponsor.name,
                        beneficiary: contractor,
                        starts_at: ends_at,
                        ends_at,
                        ..blank(ends_at)
                    },
                    path: "contractors".into(),
                    request: None,
                    grant: None,
                    channel: None,
                });
            }
            // Administrators are alerted, and the sponsor told why their contractor waits.
            AuditAction::ContractorStopped => {
                let Some(principal) = event.subject_id else {
                    return Ok(mails);
                };
                let Some((contractor, ends_at, sponsor)) =
                    outbox::contractor_facts(conn, principal).await?
                else {
                    return Ok(mails);
                };
                let about = About {
                    requester: sponsor.name.clone(),
                    beneficiary: contractor,
                    comment: format!(
                        "{} in {}: {}",
                        event.details["name"].as_str().unwrap_or_default(),
                        event.details["connector"].as_str().unwrap_or_default(),
                        event.details["existing"].as_str().unwrap_or_default()
                    ),
                    ..blank(ends_at)
                };
                let sponsor_path = ("contractors", sponsor);
                let admins = outbox::administrators(conn).await?;
                let mut told = std::collections::BTreeSet::new();
                for (path, to) in std::iter::once(sponsor_path)
                    .chain(admins.into_iter().map(|admin| ("admin", admin)))
                {
                    if !told.insert(to.address.to_lowercase()) {
                        continue;
                    }
                    mails.push(Planned {
                        topic: by_event.clone(),
                        kind: MailKind::ContractorStopped,
                        to,
                        about: about.clone(),
                        path: path.into(),
                        request: None,
                        grant: None,
                        channel: None,
                    });
                }
            }
            _ => {}
        }
        Ok(mails)
    }

    async fn request(
        &self,
        conn: &mut sqlx::PgConnection,
        id: Option<Uuid>,
    ) -> Result<Option<RequestFacts>, sqlx::Error> {
        match id {
            Some(id) => outbox::request_facts(conn, id).await,
            None => Ok(None),
        }
    }
}

/// One mail, before it is rendered.
struct Planned {
    topic: String,
    kind: MailKind,
    to: Recipient,
    about: About,
    /// Relative to the portal's public address.
    path: String,
    request: Option<Uuid>,
    grant: Option<Uuid>,
    /// The Teams channel a new request's card goes to (the policy's).
    channel: Option<String>,
}

fn request_about(r: &RequestFacts) -> About {
    About {
        entitlement: r.entitlement.clone(),
        requester: r.requester.name.clone(),
        beneficiary: r.beneficiary.name.clone(),
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        justification: r.justification.clone(),
        ticket: r.ticket.clone(),
        approved: false,
        comment: String::new(),
        deadline: None,
    }
}

/// A lease's facts for a mail: the holder is both requester and beneficiary.
fn grant_about(g: &outbox::GrantFacts) -> About {
    About {
        entitlement: g.entitlement.clone(),
        requester: g.holder.name.clone(),
        beneficiary: g.holder.name.clone(),
        starts_at: g.starts_at,
        ends_at: g.ends_at,
        ..blank(g.starts_at)
    }
}

/// The people a detail names by id: a list of ids, or (`field` given) one object's field.
fn ids_in(value: &serde_json::Value, field: Option<&str>) -> Vec<Uuid> {
    let one = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse().ok());
    match field {
        Some(name) => one(&value[name]).into_iter().collect(),
        None => value
            .as_array()
            .map(|all| all.iter().filter_map(one).collect())
            .unwrap_or_default(),
    }
}

/// A campaign's mail facts: its name, who opened it, its deadline, how many items; `late`: the
/// reviewer a backup stands in for.
fn review_about(event: &TrailEvent, late: &str) -> About {
    let text = |name: &str| event.details[name].as_str().unwrap_or_default().to_string();
    let deadline = text("deadline")
        .parse::<chrono::DateTime<Utc>>()
        .unwrap_or(event.occurred_at);
    About {
        entitlement: text("name"),
        requester: text("opened_by"),
        beneficiary: late.to_string(),
        ends_at: deadline,
        comment: event.details["items"]
            .as_u64()
            .map(|n| n.to_string())
            .unwrap_or_default(),
        ..blank(event.occurred_at)
    }
}

fn review_mail(
    topic: &str,
    kind: MailKind,
    to: Recipient,
    about: About,
    event: &TrailEvent,
) -> Planned {
    Planned {
        topic: topic.to_string(),
        kind,
        to,
        about,
        path: format!(
            "governance/reviews/{}",
            event.details["campaign"].as_str().unwrap_or_default()
        ),
        request: None,
        grant: None,
        channel: None,
    }
}

fn blank(at: chrono::DateTime<Utc>) -> About {
    About {
        entitlement: String::new(),
        requester: String::new(),
        beneficiary: String::new(),
        starts_at: at,
        ends_at: at,
        justification: String::new(),
        ticket: None,
        approved: false,
        comment: String::new(),
        deadline: None,
    }
}

/// The requester and, when someone else, the beneficiary.
fn both(r: &RequestFacts) -> Vec<Recipient> {
    let mut to = vec![r.requester.clone()];
    if r.beneficiary.address != r.requester.address {
        to.push(r.beneficiary.clone());
    }
    to
}
