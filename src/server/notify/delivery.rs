//! Delivering the outboxes: claim one message at a time, hand it to the mail server or the
//! webhook, and record what became of it. Both channels turn an answer into a [`Settled`] the
//! same way ([`Notifier::verdict`]); mail alone postpones the rest when its server does not
//! take one, since every mail goes to the same server and a card each to its own webhook.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::mailer::Delivery;
use super::{MAILS_PER_ROUND, Notifier, Pass, RETRY_CAP, teams};
use crate::server::db::delivery::{self as queue, Claim, Queue, Settled};
use crate::server::db::outbox;
use crate::server::db::teams as teams_outbox;

/// Counts a settled message in the round.
fn count(settled: &Settled, round: &mut Pass) {
    match settled {
        Settled::Sent => round.sent += 1,
        Settled::Refused(_) => round.refused += 1,
        Settled::Retry { .. } => round.retrying += 1,
    }
}

impl Notifier {
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
            // None: the row went between the claim and this read; nothing is left to settle.
            let Some(mail) = outbox::outgoing(&self.pool, &claim).await? else {
                continue;
            };
            let delivery = tokio::time::timeout(self.send_limit(), mailer.deliver(&mail))
                .await
                .unwrap_or_else(|_| self.too_slow("the mail server"));
            let settled = self.verdict(&claim, delivery, None);
            match &settled {
                Settled::Refused(reason) => {
                    tracing::warn!(mail = %mail.id, %reason, "a mail was not delivered")
                }
                Settled::Retry { error, at } => {
                    tracing::warn!(mail = %mail.id, %error, retry_at = %at, "mail not delivered yet")
                }
                Settled::Sent => {}
            }
            self.settle(Queue::Mail, claim.id, &settled, &mut round)
                .await?;
            if let Settled::Retry { error, at } = &settled {
                // The server is likely down for all of them: the rest wait as long, untried.
                let rest = queue::postpone_due(&self.pool, Queue::Mail, error, *at).await?;
                round.retrying += usize::try_from(rest).unwrap_or(usize::MAX);
                break;
            }
        }
        Ok(round)
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
            // None: the row went between the claim and this read; nothing is left to settle.
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
            let settled = self.verdict(&claim, delivery, wait);
            if let Settled::Refused(reason) = &settled {
                tracing::warn!(card = %card.id, target = %card.target, %reason, "a card was not delivered");
            }
            self.settle(Queue::Teams, claim.id, &settled, &mut round)
                .await?;
        }
        Ok(round)
    }

    /// What to record of an answer to a message's `claim.attempts`th try: refused answers are
    /// kept; a message the server would take later is tried again after `wait` (the webhook's
    /// own, when it throttled) or our backoff, unless it has waited `give_up_after` already.
    fn verdict(&self, claim: &Claim, delivery: Delivery, wait: Option<Duration>) -> Settled {
        match delivery {
            Delivery::Sent => Settled::Sent,
            Delivery::Refused(reason) => Settled::Refused(reason),
            Delivery::TryLater(reason) => {
                let waited = (Utc::now() - claim.created_at).to_std().unwrap_or_default();
                if waited >= self.settings.give_up_after {
                    return Settled::Refused(format!(
                        "given up after {} attempts over {} hours; last answer: {reason}",
                        claim.attempts,
                        waited.as_secs() / 3600
                    ));
                }
                let delay = wait.unwrap_or_else(|| self.retry_delay(claim.attempts));
                Settled::Retry {
                    error: reason,
                    at: Utc::now()
                        + chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX),
                }
            }
        }
    }

    async fn settle(
        &self,
        queue: Queue,
        id: Uuid,
        settled: &Settled,
        round: &mut Pass,
    ) -> Result<(), sqlx::Error> {
        queue::settle(&self.pool, queue, id, &self.worker, settled).await?;
        count(settled, round);
        Ok(())
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

    /// `retry_first`, doubled with each failed attempt, up to 15 minutes, less up to half.
    fn retry_delay(&self, attempts: i32) -> Duration {
        let factor = crate::server::jobs::backoff::retry_delay(
            u32::try_from(attempts).unwrap_or(1),
            Duration::from_secs(1 << 20),
        )
        .as_secs_f64();
        self.settings.retry_first.mul_f64(factor).min(RETRY_CAP)
    }
}
