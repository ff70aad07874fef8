//! Telling people: the notifier reads the audit trail in order and writes the mails each event
//! calls for to the outbox, in the same transaction that moves its cursor, so an event is
//! mailed once however often the notifier stops, starts or runs on several replicas. Notices
//! that follow the clock (a lease ending soon, a request about to lapse) are found by looking
//! for what is due and not yet written. The mailer then delivers the outbox through SMTP,
//! retrying what the server did not take and keeping what it refused, with the reason, for the
//! administrators' page (docs/notifications.md).
//!
//! `plan` decides what to tell whom, `templates` words it, `delivery` sends it through
//! `mailer` (SMTP) and `teams` (webhooks, to the addresses `destination` allows).

mod delivery;
pub mod destination;
pub mod mailer;
mod plan;
pub mod teams;
pub mod templates;

use std::time::Duration;

use sqlx::PgPool;
use url::Url;
use uuid::Uuid;

use crate::server::app::config::{MailSettings, TeamsSettings};
use mailer::Mailer;

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

    /// A claim of another length than the two minutes a production notifier holds (tests and
    /// benchmarks that cannot wait minutes); each send is given half of it.
    pub fn with_claim(mut self, claim: Duration) -> Self {
        self.claim = claim;
        self
    }
}
