//! The life of a grant (a lease on access in a target system), and how a newly approved window
//! meets a lease the person already holds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::named::named;
use super::step::{InvalidTransition, Lifecycle, Step};
use super::violation::Violation;
use super::window::Window;

named! {
    /// Where a grant is. `Scheduled` and `Active` are *live*: at most one per person and
    /// entitlement. `Revoked` and `Failed` are final.
    pub enum GrantState {
        /// Approved; the access is added at `starts_at`.
        Scheduled = "scheduled",
        /// The access is in the target system until `ends_at`.
        Active = "active",
        /// Its end came (or it was given back): the access is being removed.
        Revoking = "revoking",
        /// Removed from the target system (how, [`Removal`] says).
        Revoked = "revoked",
        /// Could not be added, and a person must look at why.
        Failed = "failed",
    }
}

named! {
    /// How a revoked grant's access ended. Only `Verified` says the target was read back.
    pub enum Removal {
        /// Removed, and read back as absent.
        Verified = "verified",
        /// Never added (no attempt was ever made), so there was nothing to remove.
        NeverProvisioned = "never_provisioned",
        /// The account or group was gone; a person closed the removal with a note.
        Resolved = "resolved",
    }
}

named! {
    /// Why a removal needs a person: what it must act on cannot be found.
    pub enum Attention {
        AccountMissing = "account_missing",
        TargetMissing = "target_missing",
    }
}

named! {
    /// Why a grant ended.
    pub enum RevokeReason {
        /// Its end came.
        Expired = "expired",
        /// The holder gave it back.
        Returned = "returned",
        /// An administrator took it away.
        Revoked = "revoked",
        /// The holder left.
        Offboarding = "offboarding",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantEvent {
    /// The connector added the access.
    Provisioned,
    /// The connector refused for good (unknown account, missing group).
    ProvisioningFailed,
    /// `ends_at` arrived.
    EndReached,
    /// The holder gave it back early, or an administrator revoked it.
    Withdrawn,
    /// The connector removed the access and a read-back found it absent.
    RemovalConfirmed,
    /// The end came before any attempt to add the access: nothing to remove.
    NothingToRemove,
    /// The account or group is gone; a person closed the removal.
    ClosedByPerson,
    /// A new approval moved `ends_at` later.
    Extended,
    /// The holder moved out of the role that gave it: `ends_at` moved earlier (the end of
    /// the mover's grace).
    Shortened,
}

impl GrantEvent {
    /// How the access ended, for the events that end it.
    pub fn removal(self) -> Option<Removal> {
        match self {
            GrantEvent::RemovalConfirmed => Some(Removal::Verified),
            GrantEvent::NothingToRemove => Some(Removal::NeverProvisioned),
            GrantEvent::ClosedByPerson => Some(Removal::Resolved),
            _ => None,
        }
    }
}

pub type InvalidGrantTransition = InvalidTransition<GrantState>;

impl GrantState {
    /// The states in which a person holds (or is about to hold) the access.
    pub const LIVE: [GrantState; 2] = [GrantState::Scheduled, GrantState::Active];
    /// The states in which the access may be in the target system.
    pub const HELD: [GrantState; 3] = [
        GrantState::Scheduled,
        GrantState::Active,
        GrantState::Revoking,
    ];

    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }

    pub fn is_final(self) -> bool {
        matches!(self, GrantState::Revoked | GrantState::Failed)
    }
}

impl Lifecycle for GrantState {
    type Event = GrantEvent;

    const NOUN: &'static str = "grant";

    fn next(self, event: GrantEvent) -> Option<GrantState> {
        use GrantEvent as E;
        use GrantState as S;
        match (self, event) {
            (S::Scheduled, E::Provisioned) => Some(S::Active),
            (S::Scheduled, E::ProvisioningFailed) => Some(S::Failed),
            // A scheduled grant may have been half-added by an attempt that timed out: removing
            // it is idempotent, so it always goes through removal.
            (S::Scheduled | S::Active, E::EndReached | E::Withdrawn) => Some(S::Revoking),
            (S::Scheduled, E::Extended) => Some(S::Scheduled),
            (S::Active, E::Extended) => Some(S::Active),
            (S::Scheduled, E::Shortened) => Some(S::Scheduled),
            (S::Active, E::Shortened) => Some(S::Active),
            (S::Revoking, E::RemovalConfirmed | E::NothingToRemove | E::ClosedByPerson) => {
                Some(S::Revoked)
            }
            _ => None,
        }
    }
}

/// A grant's change of state, as the state machine allowed it.
pub type GrantStep = Step<GrantState, GrantEvent>;

/// What to do with an approved window, given the live grant the person may already hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantPlan {
    /// No live grant: create one for the window.
    Create(Window),
    /// The window overlaps or touches the live grant: move its end, keep one lease.
    Extend { ends_at: DateTime<Utc> },
}

/// Plans an approved window against the live grant, if any. A window that ends within the live
/// grant adds nothing; one that starts after the live grant ends would need a second lease at
/// once, which the portal never creates: the person asks again once the first has ended.
pub fn plan_grant(live: Option<Window>, window: Window) -> Result<GrantPlan, Violation> {
    match live {
        None => Ok(GrantPlan::Create(window)),
        Some(live) if window.starts_at > live.ends_at => Err(Violation::LaterThanLiveGrant {
            until: live.ends_at,
        }),
        Some(live) if window.ends_at <= live.ends_at => Err(Violation::AlreadyCovered {
            until: live.ends_at,
        }),
        Some(_) => Ok(GrantPlan::Extend {
            ends_at: window.ends_at,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    fn w(from: i64, to: i64) -> Window {
        Window {
            starts_at: t(from),
            ends_at: t(to),
        }
    }

    #[test]
    fn names_round_trip() {
        for s in ["scheduled", "active", "revoking", "revoked", "failed"] {
            assert_eq!(GrantState::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(GrantState::parse("Active"), None);
        for removal in Removal::ALL {
            assert_eq!(Removal::parse(removal.as_str()), Some(*removal));
        }
    }

    #[test]
    fn only_ending_events_say_how_the_access_ended() {
        for event in EVENTS {
            let ends = GrantState::Revoking.on(event) == Ok(GrantState::Revoked);
            assert_eq!(event.removal().is_some(), ends, "{event:?}");
        }
    }

    #[test]
    fn planning_against_a_live_grant() {
        assert_eq!(plan_grant(None, w(0, 60)), Ok(GrantPlan::Create(w(0, 60))));
        assert_eq!(
            plan_grant(Some(w(0, 60)), w(30, 120)),
            Ok(GrantPlan::Extend { ends_at: t(120) })
        );
        // Touching counts as overlapping: the lease continues without a gap.
        assert_eq!(
            plan_grant(Some(w(0, 60)), w(60, 90)),
            Ok(GrantPlan::Extend { ends_at: t(90) })
        );
        assert_eq!(
            plan_grant(Some(w(0, 60)), w(10, 60)),
            Err(Violation::AlreadyCovered { until: t(60) })
        );
        assert_eq!(
            plan_grant(Some(w(0, 60)), w(61, 90)),
            Err(Violation::LaterThanLiveGrant { until: t(60) })
        );
    }

    #[test]
    fn final_states_refuse_everything() {
        for state in [GrantState::Revoked, GrantState::Failed] {
            for event in EVENTS {
                assert!(state.on(event).is_err());
            }
        }
    }

    const EVENTS: [GrantEvent; 8] = [
        GrantEvent::Provisioned,
        GrantEvent::ProvisioningFailed,
        GrantEvent::EndReached,
        GrantEvent::Withdrawn,
        GrantEvent::RemovalConfirmed,
        GrantEvent::NothingToRemove,
        GrantEvent::ClosedByPerson,
        GrantEvent::Extended,
    ];

    /// A model of one person's grants of one entitlement, driven the way the service and the
    /// engine drive the database: approvals plan against the live grant, events move grants.
    #[derive(Default)]
    struct Book {
        grants: Vec<(GrantState, Window)>,
    }

    impl Book {
        fn live(&self) -> Option<usize> {
            self.grants.iter().position(|(s, _)| s.is_live())
        }

        fn approve(&mut self, window: Window) {
            let live = self.live();
            match plan_grant(live.map(|i| self.grants[i].1), window) {
                Ok(GrantPlan::Create(window)) => self.grants.push((GrantState::Scheduled, window)),
                Ok(GrantPlan::Extend { ends_at }) => {
                    let i = live.expect("extend needs a live grant");
                    let state = self.grants[i].0.on(GrantEvent::Extended).unwrap();
                    self.grants[i] = (
                        state,
                        Window {
                            ends_at,
                            ..self.grants[i].1
                        },
                    );
                }
                Err(_) => {}
            }
        }

        fn event(&mut self, index: usize, event: GrantEvent) {
            if self.grants.is_empty() {
                return;
            }
            let i = index % self.grants.len();
            if let Ok(next) = self.grants[i].0.on(event) {
                self.grants[i].0 = next;
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Approve(i64, i64),
        Event(usize, usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0i64..500, 1i64..300).prop_map(|(start, len)| Step::Approve(start, start + len)),
            (0usize..8, 0..EVENTS.len()).prop_map(|(g, e)| Step::Event(g, e)),
        ]
    }

    proptest! {
        /// No sequence of approvals and engine events ever leaves two live grants.
        #[test]
        fn never_two_live_grants(steps in proptest::collection::vec(step(), 0..60)) {
            let mut book = Book::default();
            for step in steps {
                match step {
                    Step::Approve(from, to) => book.approve(w(from, to)),
                    Step::Event(g, e) => book.event(g, EVENTS[e]),
                }
                let live = book.grants.iter().filter(|(s, _)| s.is_live()).count();
                prop_assert!(live <= 1, "{} live grants", live);
                for (_, window) in &book.grants {
                    prop_assert!(window.ends_at > window.starts_at);
                }
            }
        }

        /// A grant in a final state never moves again, whatever happens next.
        #[test]
        fn final_grants_stay_final(events in proptest::collection::vec(0..EVENTS.len(), 0..40)) {
            let mut state = GrantState::Scheduled;
            let mut reached_final = None;
            for e in events {
                if let Ok(next) = state.on(EVENTS[e]) {
                    prop_assert!(reached_final.is_none());
                    state = next;
                }
                if state.is_final() && reached_final.is_none() {
                    reached_final = Some(state);
                }
            }
            if let Some(f) = reached_final {
                prop_assert_eq!(state, f);
            }
        }
    }
}
