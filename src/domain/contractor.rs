//! A contractor's temporary identity: asked for by a sponsor, approved, made in the
//! directories, active until its end, ended (disabled), and deleted after the retention.

use serde::{Deserialize, Serialize};

use super::named::named;
use super::step::{InvalidTransition, Lifecycle, Step};

named! {
    /// Where a contractor is. `Closed` and `Deleted` are final.
    pub enum ContractorState {
        /// Waiting for the request's approval.
        Requested = "requested",
        /// Not approved (denied, cancelled, lapsed), or a stopped onboarding an administrator
        /// closed: nothing was made.
        Closed = "closed",
        /// Approved: the identities are being made.
        Making = "making",
        /// An identity it would make is someone else's: nothing is due until an administrator
        /// settles it.
        Stopped = "stopped",
        /// Made; its access lasts until its end.
        Active = "active",
        /// Its end came: identities disabled, access removed, deleted after the retention.
        Ended = "ended",
        /// Its identities were deleted.
        Deleted = "deleted",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContractorEvent {
    /// Its request still waits: looked at again later.
    StillRequested,
    /// Its request was approved.
    Approved,
    /// Its request was denied, cancelled or lapsed.
    NotApproved,
    /// Every identity was made and the bundle granted.
    Made,
    /// An identity it would make is someone else's.
    FoundTaken,
    /// An administrator adopted the user found for it: the onboarding goes on with it.
    Adopted,
    /// An administrator closed the stopped onboarding.
    ClosedByAdmin,
    /// Looked at while active: the systems told its end, its sponsor reminded when due.
    Checked,
    /// Its end came.
    EndReached,
    /// Ended, its retention not over yet.
    Retained,
    /// Its retention is over: the identities were deleted.
    Deleted,
}

/// A transition the state machine does not allow.
pub type InvalidContractorTransition = InvalidTransition<ContractorState>;

impl ContractorState {
    /// The states in which the contractor is, or is about to be, someone: a sponsor who leaves
    /// hands these over, and one address has at most one of them at a time.
    pub const OPEN: [ContractorState; 3] = [
        ContractorState::Requested,
        ContractorState::Making,
        ContractorState::Active,
    ];

    pub fn is_final(self) -> bool {
        matches!(self, ContractorState::Closed | ContractorState::Deleted)
    }
}

impl Lifecycle for ContractorState {
    type Event = ContractorEvent;

    const NOUN: &'static str = "contractor";

    fn next(self, event: ContractorEvent) -> Option<ContractorState> {
        use ContractorEvent as E;
        use ContractorState as S;
        match (self, event) {
            (S::Requested, E::StillRequested) => Some(S::Requested),
            (S::Requested, E::Approved) => Some(S::Making),
            (S::Requested, E::NotApproved) => Some(S::Closed),
            (S::Making, E::Made) => Some(S::Active),
            (S::Making, E::FoundTaken) => Some(S::Stopped),
            (S::Stopped, E::Adopted) => Some(S::Making),
            (S::Stopped, E::ClosedByAdmin) => Some(S::Closed),
            (S::Active, E::Checked) => Some(S::Active),
            (S::Active, E::EndReached) => Some(S::Ended),
            (S::Ended, E::Retained) => Some(S::Ended),
            (S::Ended, E::Deleted) => Some(S::Deleted),
            _ => None,
        }
    }
}

/// A contractor's change of state, as the state machine allowed it.
pub type ContractorStep = Step<ContractorState, ContractorEvent>;

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: [ContractorEvent; 11] = [
        ContractorEvent::StillRequested,
        ContractorEvent::Approved,
        ContractorEvent::NotApproved,
        ContractorEvent::Made,
        ContractorEvent::FoundTaken,
        ContractorEvent::Adopted,
        ContractorEvent::ClosedByAdmin,
        ContractorEvent::Checked,
        ContractorEvent::EndReached,
        ContractorEvent::Retained,
        ContractorEvent::Deleted,
    ];

    #[test]
    fn final_states_take_no_event() {
        for state in ContractorState::ALL.iter().filter(|s| s.is_final()) {
            for event in EVENTS {
                let refused = state.step(event).unwrap_err();
                assert_eq!((refused.state, refused.event), (*state, event));
            }
        }
    }

    #[test]
    fn the_path_of_a_contractor() {
        use ContractorEvent as E;
        let mut state = ContractorState::Requested;
        for (event, expected) in [
            (E::StillRequested, ContractorState::Requested),
            (E::Approved, ContractorState::Making),
            (E::FoundTaken, ContractorState::Stopped),
            (E::Adopted, ContractorState::Making),
            (E::Made, ContractorState::Active),
            (E::Checked, ContractorState::Active),
            (E::EndReached, ContractorState::Ended),
            (E::Retained, ContractorState::Ended),
            (E::Deleted, ContractorState::Deleted),
        ] {
            let step = state.step(event).unwrap();
            assert_eq!(
                (step.from(), step.to(), step.event()),
                (state, expected, event)
            );
            state = step.to();
        }
    }

    #[test]
    fn nothing_is_made_or_ended_out_of_turn() {
        use ContractorEvent as E;
        use ContractorState as S;
        // Access is granted only from making, ended only from active, deleted only once ended.
        for state in ContractorState::ALL {
            assert_eq!(
                state.next(E::Made).is_some(),
                *state == S::Making,
                "{state}"
            );
            assert_eq!(
                state.next(E::EndReached).is_some(),
                *state == S::Active,
                "{state}"
            );
            assert_eq!(
                state.next(E::Deleted).is_some(),
                *state == S::Ended,
                "{state}"
            );
            assert_eq!(
                state.next(E::Adopted).is_some(),
                *state == S::Stopped,
                "{state}"
            );
        }
        assert_eq!(
            S::Active.step(E::Approved).unwrap_err().to_string(),
            "a active contractor cannot take Approved"
        );
    }
}
