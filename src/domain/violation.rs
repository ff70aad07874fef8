//! Why a request, a decision or a policy was refused, as data. The words live in
//! [`crate::text`], so another language can follow without touching the rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A broken rule, naming the form field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Violation {
    /// The start lies in the past by more than the clock-skew tolerance.
    StartInPast,
    /// The start lies further ahead than the policy allows.
    StartTooLate {
        max_delay_minutes: u32,
    },
    /// The policy does not let requests start later than now.
    StartLaterNotAllowed,
    /// The window is shorter than the policy's minimum.
    TooShort {
        min_minutes: u32,
    },
    /// The window is longer than the policy's maximum.
    TooLong {
        max_minutes: u32,
    },
    /// The end is not after the start.
    EndBeforeStart,
    NotEligible,
    JustificationRequired,
    JustificationTooShort {
        min_chars: u32,
    },
    JustificationTooLong {
        max_chars: u32,
    },
    TicketRequired,
    TicketMalformed {
        hint: String,
    },
    TicketTooLong {
        max_chars: u32,
    },
    /// A stage resolved to fewer eligible approvers than it needs.
    NotEnoughApprovers {
        stage: u32,
        required: u32,
        available: u32,
    },
    /// The person already holds this access for the whole requested window.
    AlreadyCovered {
        until: DateTime<Utc>,
    },
    /// The window starts after a live grant ends: one lease at a time.
    LaterThanLiveGrant {
        until: DateTime<Utc>,
    },
}

impl Violation {
    /// The form field the violation belongs to, so the page can show it beside that field.
    pub fn field(&self) -> &'static str {
        match self {
            Self::StartInPast | Self::StartTooLate { .. } | Self::StartLaterNotAllowed => "start",
            Self::TooShort { .. } | Self::TooLong { .. } | Self::EndBeforeStart => "end",
            Self::NotEligible | Self::NotEnoughApprovers { .. } => "entitlement",
            Self::JustificationRequired
            | Self::JustificationTooShort { .. }
            | Self::JustificationTooLong { .. } => "justification",
            Self::TicketRequired | Self::TicketMalformed { .. } | Self::TicketTooLong { .. } => {
                "ticket"
            }
            Self::AlreadyCovered { .. } | Self::LaterThanLiveGrant { .. } => "end",
        }
    }
}
