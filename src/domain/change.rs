//! A catalog change made in the Admin page: it waits for a second administrator (four eyes),
//! then is applied, rejected, or closed as stale because its target changed meanwhile.

use serde::{Deserialize, Serialize};

use super::named::named;
use super::step::{InvalidTransition, Lifecycle, Step};

named! {
    /// What a change is to.
    pub enum ChangeKind {
        /// An entry's owners or policy.
        Entitlement = "entitlement",
        /// A policy's rules.
        Policy = "policy",
    }
}

named! {
    /// Where a change is. Every state but `Pending` is final.
    pub enum ChangeState {
        Pending = "pending",
        Applied = "applied",
        Rejected = "rejected",
        /// Its target changed after it was proposed; it was closed, not applied.
        Stale = "stale",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeEvent {
    /// A second administrator approved it. Approving one's own change never reaches here: the
    /// service refuses it, and the database's four-eyes constraint would too.
    Approved,
    /// Another administrator rejected it, or its author withdrew it.
    Rejected,
    /// Its target was found changed when it was approved.
    FoundStale,
}

pub type InvalidChangeTransition = InvalidTransition<ChangeState>;

impl ChangeState {}

impl Lifecycle for ChangeState {
    type Event = ChangeEvent;

    const NOUN: &'static str = "change";

    fn next(self, event: ChangeEvent) -> Option<ChangeState> {
        match (self, event) {
            (ChangeState::Pending, ChangeEvent::Approved) => Some(ChangeState::Applied),
            (ChangeState::Pending, ChangeEvent::Rejected) => Some(ChangeState::Rejected),
            (ChangeState::Pending, ChangeEvent::FoundStale) => Some(ChangeState::Stale),
            _ => None,
        }
    }
}

/// A catalog change's change of state, as the state machine allowed it.
pub type ChangeStep = Step<ChangeState, ChangeEvent>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pending_change_moves() {
        let events = [
            ChangeEvent::Approved,
            ChangeEvent::Rejected,
            ChangeEvent::FoundStale,
        ];
        for state in ChangeState::ALL {
            for event in events {
                let next = state.on(event);
                assert_eq!(
                    next.is_ok(),
                    *state == ChangeState::Pending,
                    "{state} {event:?}"
                );
                if let Ok(next) = next {
                    assert_ne!(next, ChangeState::Pending);
                }
            }
        }
    }
}
