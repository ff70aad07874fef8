//! Telling people: the notifier reads the audit trail in order and writes the mails each event
//! calls for to the outbox, in the same transaction that moves its cursor, so an event is
//! mailed once however often the notifier stops, starts or runs on several replicas. Notices
//! that follow the clock (a lease ending soon, a request about to lapse) are found by looking
//! for what is due and not yet written. The mailer then delivers the outbox through SMTP,
//! retrying what the server did not take and keeping what it refused, with the reason, for the
//! administrators' page (docs/notifications.md).

pub mod destination;
pub mod mailer;
pub mod teams;
pub mod templates;

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use url::Url;
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::mail::MailKind;
use crate::domain::request::RequestState;
use crate::server::app::config::{MailSettings, TeamsSettings};
use crate::server::db::delivery::{self as queue, Queue, Settled};
use crate::server::db::outbox::{self, NewMail, Recipient, RequestFacts, TrailEvent};
use crate::server::db::teams as teams_outbox;
use mailer::{Delivery, Mailer};
use templates::About;

/// The channel the trail and the outbox notify on.
pub const CHANNEL: &str = "leasegate_notify";
/// Events read per transaction.
const EVENTS_PER_PASS: i64 = 200;
/// Mails (and cards) sent per delivery round, each claimed on its own just before it is sent.
const MAILS_PER_ROUND: usize = 50;
/// How long a claim on one mail or card lasts. A send is given half of it and abandoned (to be
/// tried again) when it takes longer, so no other replica can claim a mail while it is with
/// the mail server; a mail is sent twice only when a replica dies, or a connection breaks,
/// between the server taking it and the outbox recording that.
const CLAIM: Duration = Duration::from_secs(120);
/// The longest wait between two attempts at one mail.
const RETRY_CAP: Duration = Duration::from_secs(15 * 60);
/// Look again at least this often (notices that follow the clock, a lost notification).
pub const BACKSTOP: Duration = Duration::from_secs(30);
/// Events older than this when first read are not mailed (a notifier switched on late must not
/// mail the past).
const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// What one pass did, for tests and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub written: usize,
    pub sent: usize,
    pub retrying: usize,
    pub refused: usize,
}

#[derive(Clone)]
pub struct Notifier {
    pool: PgPool,
    public_url: Url,
    /// None: no mail server; cards only.
    mailer: Option<Mailer>,
    settings: MailSettings,
    teams: TeamsSettings,
    http: reqwest::Client,
    worker: String,
    clock: crate::server::app::clock::Clock,
    claim: Duration,
}

impl Notifier {
    /// None when neither a mail server nor a Teams webhook is configured.
    pub fn new(
        pool: PgPool,
        public_url: Url,
        settings: &MailSettings,
    ) -> Result<Option<Self>, String> {
        Self::with_teams(pool, public_url, settings, &TeamsSettings::default())
    }

    /// As `new`, with Teams channels (a person's own chat webhook needs no setting, but cards
    /// are only written by a notifier that runs).
    pub fn with_teams(
        pool: PgPool,
        public_url: Url,
        settings: &MailSettings,
        teams: &TeamsSettings,
    ) -> Result<Option<Self>, String> {
        if settings.smtp.is_none() && teams.channels.is_empty() {
            return Ok(None);
        }
        let mailer = match &settings.smtp {
            Some(smtp) => Some(Mailer::new(settings, smtp)?),
            None => None,
        };
        let http = teams.destinations.client(Duration::from_secs(15))?;
        Ok(Some(Self {
            pool,
            public_url,
            mailer,
            settings: settings.clone(),
            teams: teams.clone(),
            http,
            worker: format!(
                "mailer:{}:{}",
                std::process::id(),
                &Uuid::new_v4().simple().to_string()[..8]
            ),
            clock: Default::default(),
            claim: CLAIM,
        }))
    }

    /// The clock reminders follow (shared with escalation and the lab's clock control).
    pub fn with_clock(mut self, clock: crate::server::app::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Reads the trail, writes what is due, and delivers what waits.
    pub async fn pass(&self) -> Result<Pass, sqlx::Error> {
        let mut pass = Pass {
            written: self.project().await? + self.notices().await?,
            ..Pass::default()
        };
        let mail = self.deliver_due().await?;
        pass.sent += mail.sent;
        pass.retrying += mail.retrying;
        pass.refused += mail.refused;
        let cards = self.post_cards().await?;
        pass.sent += cards.sent;
        pass.retrying += cards.retrying;
        pass.refused += cards.refused;
        Ok(pass)
    }

    /// Delivers the mails due now, round by round.
    pub async fn deliver_due(&self) -> Result<Pass, sqlx::Error> {
        let mut pass = Pass::default();
        loop {
            let round = self.deliver().await?;
            let claimed = round.sent + round.retrying + round.refused;
            pass.sent += round.sent;
            pass.retrying += round.retrying;
            pass.refused += round.refused;
            // A round that could not deliver anything is not repeated at once.
            if claimed < MAILS_PER_ROUND || round.sent == 0 {
                return Ok(pass);
            }
        }
    }

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

    /// Claims due cards and posts them to their webhooks.
    pub async fn post_cards(&self) -> Result<Pass, sqlx::Error> {
        let mut round = Pass::default();
        for _ in 0..MAILS_PER_ROUND {
            let Some(claim) =
                queue::claim(&self.pool, Queue::Teams, &self.worker, self.claim).await?
            else {
                break;
            };
            let Some(card) = teams_outbox::card(&self.pool, &claim).await? else {
                continue;
            };
            let url = match card.target.split_once(':') {
                Some(("channel", name)) => self
                    .teams
                    .channels
                    .get(name)
                    .map(|u| u.expose().to_string()),
                Some(("person", id)) => match id.parse::<Uuid>() {
                    Ok(id) => teams_outbox::chat_webhook(&self.pool, id).await?,
                    Err(_) => None,
                },
                _ => None,
            };
            let (delivery, wait) = match url {
                Some(url) => tokio::time::timeout(
                    self.send_limit(),
                    teams::post(&self.teams.destinations, &self.http, &url, &card.payload),
                )
                .await
                .unwrap_or_else(|_| (self.too_slow("the webhook"), None)),
                None => (
                    Delivery::Refused(format!("no webhook for {} any more", card.target)),
                    None,
                ),
            };
            let given_up;
            let retry;
            let settled = match &delivery {
                Delivery::Sent => {
                    round.sent += 1;
                    Settled::Sent
                }
                Delivery::Refused(reason) => {
                    tracing::warn!(card = %card.id, target = %card.target, %reason, "a Teams webhook refused a card");
                    round.refused += 1;
                    Settled::Refused(reason)
                }
                Delivery::TryLater(reason) => {
                    let waited = (Utc::now() - card.created_at).to_std().unwrap_or_default();
                    if waited >= self.settings.give_up_after {
                        round.refused += 1;
                        given_up = format!(
                            "given up after {} attempts; last answer: {reason}",
                            card.attempts
                        );
                        Settled::Refused(&given_up)
                    } else {
                        round.retrying += 1;
                        // The webhook's own wait when it throttled, else our backoff.
                        let delay = wait.unwrap_or_else(|| self.retry_delay(card.attempts));
                        retry = Utc::now()
                            + chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX);
                        Settled::Retry {
                            error: reason,
                            at: retry,
                        }
                    }
                }
            };
            queue::settle(&self.pool, Queue::Teams, card.id, &self.worker, settled).await?;
        }
        Ok(round)
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

    /// Claims due mails and hands them to the mail server, one at a time.
    pub async fn deliver(&self) -> Result<Pass, sqlx::Error> {
        let mut round = Pass::default();
        let Some(mailer) = &self.mailer else {
            return Ok(round);
        };
        for _ in 0..MAILS_PER_ROUND {
            let Some(claim) =
                queue::claim(&self.pool, Queue::Mail, &self.worker, self.claim).await?
            else {
                break;
            };
            let Some(mail) = outbox::outgoing(&self.pool, &claim).await? else {
                continue;
            };
            let delivery = tokio::time::timeout(self.send_limit(), mailer.deliver(&mail))
                .await
                .unwrap_or_else(|_| self.too_slow("the mail server"));
            match delivery {
                Delivery::Sent => {
                    queue::settle(
                        &self.pool,
                        Queue::Mail,
                        mail.id,
                        &self.worker,
                        Settled::Sent,
                    )
                    .await?;
                    round.sent += 1;
                }
                Delivery::Refused(reason) => {
                    tracing::warn!(mail = %mail.id, %reason, "the mail server refused a mail");
                    self.refuse_mail(mail.id, &reason).await?;
                    round.refused += 1;
                }
                Delivery::TryLater(reason) => {
                    let waited = (Utc::now() - mail.created_at).to_std().unwrap_or_default();
                    if waited >= self.settings.give_up_after {
                        let reason = format!(
                            "given up after {} attempts over {} hours; last answer: {reason}",
                            mail.attempts,
                            waited.as_secs() / 3600
                        );
                        self.refuse_mail(mail.id, &reason).await?;
                        round.refused += 1;
                        continue;
                    }
                    // The server is likely down for all of them: the rest wait as long, untried.
                    let delay = self.retry_delay(mail.attempts);
                    tracing::warn!(mail = %mail.id, %reason, retry_in = ?delay, "mail not delivered yet");
                    let next = Utc::now()
                        + chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX);
                    let retry = Settled::Retry {
                        error: &reason,
                        at: next,
                    };
                    queue::settle(&self.pool, Queue::Mail, mail.id, &self.worker, retry).await?;
                    let rest = queue::postpone_due(&self.pool, Queue::Mail, &reason, next).await?;
                    round.retrying += 1 + usize::try_from(rest).unwrap_or(usize::MAX);
                    break;
                }
            }
        }
        Ok(round)
    }

    async fn refuse_mail(&self, id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
        let refused = Settled::Refused(reason);
        queue::settle(&self.pool, Queue::Mail, id, &self.worker, refused).await
    }

    /// How long one send may take: half the claim, so the claim outlives it.
    fn send_limit(&self) -> Duration {
        self.claim / 2
    }

    fn too_slow(&self, what: &str) -> Delivery {
        Delivery::TryLater(format!(
            "{what} did not answer within {} seconds",
            self.send_limit().as_secs_f64()
        ))
    }

    /// A claim of another length than the two minutes a production notifier holds (tests and
    /// benchmarks that cannot wait minutes); each send is given half of it.
    pub fn with_claim(mut self, claim: Duration) -> Self {
        self.claim = claim;
        self
    }

    /// `retry_first`, doubled with each failed attempt, up to 15 minutes, less up to half.
    fn retry_delay(&self, attempts: i32) -> Duration {
        let factor = crate::server::jobs::grants::retry_delay(
            u32::try_from(attempts).unwrap_or(1),
            Duration::from_secs(1 << 20),
        )
        .as_secs_f64();
        self.settings.retry_first.mul_f64(factor).min(RETRY_CAP)
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
