//! Mail to people: what a mail is about, where it stands, and the languages it is written in.

use super::named::named;

named! {
    /// The language a person reads the portal and its mail in.
    #[derive(Default)]
    pub enum Language {
        #[default]
        English = "en",
        German = "de",
    }
}

impl Language {
    /// The first language of an `Accept-Language` header or a directory's `preferredLanguage`
    /// (`de-DE`, `de;q=0.9, en`) that the portal speaks; English otherwise.
    pub fn from_tags(tags: &str) -> Self {
        tags.split(',')
            .filter_map(|tag| {
                let tag = tag.split(';').next()?.trim();
                let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
                Language::parse(&primary)
            })
            .next()
            .unwrap_or(Language::English)
    }
}

named! {
    /// What a mail tells its recipient.
    pub enum MailKind {
        /// A request waits for the recipient's decision.
        NewRequest = "new_request",
        /// A request still waits for the recipient's decision, after the policy's time.
        Reminder = "reminder",
        /// A request nobody decided in time now waits for the recipient too (escalation).
        Escalated = "escalated",
        /// A request waits for the recipient as the deputy of an approver who is away.
        Delegated = "delegated",
        /// To security: someone took emergency (break-glass) access.
        BreakGlass = "break_glass",
        /// The recipient's request (or one for them) was approved or denied.
        Decided = "decided",
        /// The access is in place.
        Granted = "granted",
        /// The lease ends soon; it can be extended.
        ExpiringSoon = "expiring_soon",
        /// The access was removed and read back as gone.
        Removed = "removed",
        /// To the holder and the entry's owners: an administrator (or security operations)
        /// took live access away before its end, for the reason given.
        TakenAway = "taken_away",
        /// To the person and the entry's owners: reconciliation removed access the target held
        /// without a lease, and read the target back.
        ReconciledAway = "reconciled_away",
        /// A pending request will lapse soon, undecided.
        LapsingSoon = "lapsing_soon",
        /// A pending request lapsed, undecided.
        Lapsed = "lapsed",
        /// To administrators: access is still in place after its end.
        Overdue = "overdue",
        /// To a sponsor: their contractor's identity ends soon.
        ContractorEnding = "contractor_ending",
        /// To administrators and the sponsor: an onboarding stopped because an identity it
        /// would make is someone else's.
        ContractorStopped = "contractor_stopped",
        /// To a reviewer: an access review campaign asks them to certify standing access.
        ReviewOpened = "review_opened",
        /// To a reviewer who has not finished, half-way to the campaign's deadline.
        ReviewReminder = "review_reminder",
        /// To a backup: a reviewer had not finished three quarters of the way, and the
        /// recipient may now answer for them.
        ReviewEscalated = "review_escalated",
    }
}

named! {
    /// Where a mail in the outbox stands.
    pub enum MailState {
        /// Not yet taken by the mail server (new, or waiting to be tried again).
        Pending = "pending",
        /// Taken by the mail server.
        Sent = "sent",
        /// Refused for good by the mail server, or given up; the reason is kept.
        Refused = "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_from_tags() {
        assert_eq!(Language::from_tags("de-DE"), Language::German);
        assert_eq!(
            Language::from_tags("fr-FR, de;q=0.8, en;q=0.5"),
            Language::German
        );
        assert_eq!(Language::from_tags("en-GB,de"), Language::English);
        assert_eq!(Language::from_tags("fr"), Language::English);
        assert_eq!(Language::from_tags(""), Language::English);
        assert_eq!(Language::from_tags("DE_at"), Language::German);
    }
}
