//! The life of an access request: pending until decided, cancelled or timed out; then final.

use serde::{Deserialize, Serialize};

use super::named::named;
use super::step::{self, Lifecycle, Step};

named! {
    /// Where a request is. Every state but `Pending` is final.
    pub enum RequestState {
        Pending = "pending",
        Approved = "approved",
        Denied = "denied",
        Cancelled = "cancelled",
        /// Nobody decided before the policy's deadline.
        Expired = "expired",
    }
}

/// What can happen to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestEvent {
    /// The last stage reached its quorum (or there were no stages).
    FullyApproved,
    /// A stage reached its quorum and the next one starts.
    StagePassed,
    Denied,
    /// The requester (or the beneficiary) withdrew it.
    Cancelled,
    DeadlinePassed,
}

/// A transition the state machine does not allow.
pub type InvalidTransition = step::InvalidTransition<RequestState>;

impl RequestState {
    pub fn is_final(self) -> bool {
        self != RequestState::Pending
    }
}

impl Lifecycle for RequestState {
    type Event = RequestEvent;

    const NOUN: &'static str = "request";

    fn next(self, event: RequestEvent) -> Option<RequestState> {
        use RequestEvent as E;
        use RequestState as S;
        match (self, event) {
            (S::Pending, E::FullyApproved) => Some(S::Approved),
            (S::Pending, E::StagePassed) => Some(S::Pending),
            (S::Pending, E::Denied) => Some(S::Denied),
            (S::Pending, E::Cancelled) => Some(S::Cancelled),
            (S::Pending, E::DeadlinePassed) => Some(S::Expired),
            _ => None,
        }
    }
}

/// A request's change of state, as the state machine allowed it.
pub type RequestStep = Step<RequestState, RequestEvent>;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EVENTS: [RequestEvent; 5] = [
        RequestEvent::FullyApproved,
        RequestEvent::StagePassed,
        RequestEvent::Denied,
        RequestEvent::Cancelled,
        RequestEvent::DeadlinePassed,
    ];

    #[test]
    fn names_round_trip() {
        for s in ["pending", "approved", "denied", "cancelled", "expired"] {
            assert_eq!(RequestState::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(RequestState::parse("Pending"), None);
    }

    #[test]
    fn pending_moves_on_every_event() {
        for event in EVENTS {
            assert!(RequestState::Pending.on(event).is_ok());
        }
    }

    proptest! {
        /// Once final, a request refuses every event and stays where it is.
        #[test]
        fn final_states_stay_final(events in proptest::collection::vec(0..EVENTS.len(), 0..40)) {
            let mut state = RequestState::Pending;
            let mut final_state: Option<RequestState> = None;
            for i in events {
                match state.on(EVENTS[i]) {
                    Ok(next) => {
                        prop_assert!(final_state.is_none(), "a final state moved");
                        state = next;
                        if state.is_final() {
                            final_state = Some(state);
                        }
                    }
                    Err(_) => prop_assert!(state.is_final()),
                }
            }
            if let Some(f) = final_state {
                prop_assert_eq!(state, f);
            }
        }
    }
}
