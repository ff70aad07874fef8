//! Deciding a request: who may decide which stage, and what the decisions so far add up to.
//!
//! People are *holders*: the person's id in the portal (as text), or, for a name nobody the
//! portal knew held when the request was submitted, that lower-case name until someone first
//! signs in with it. Never a UPN of someone known: Entra renames users and reuses names.
//!
//! A stage has *seats*: one for each approver resolved when the request was submitted, named by
//! that approver's holder. Whoever stands in for an approver (a deputy, the deputy's
//! deputy, an escalation backup, the manager an offboarding rerouted the request to) holds the
//! same seat, never a new one. A seat is decided once, by whoever of its holders decides first,
//! and a person decides at most once per stage, so a quorum of N needs N seats decided by N
//! different people: standing in never adds a vote.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::named::named;

/// A stage as resolved when the request was submitted: the people who may decide it and how
/// many approvals it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedStage {
    /// Sorted; never the requester or the beneficiary. In the snapshot kept at submission these
    /// are the lower-case UPNs the policy resolved to (for the trail); as read for a decision,
    /// the holders of every seat.
    pub approvers: Vec<String>,
    pub required: u32,
    /// Who holds which seat, as read for a decision. Empty in the snapshot kept at submission,
    /// where every approver holds their own seat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seats: Vec<Seat>,
}

/// One person holding one seat of a stage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Seat {
    /// The approver resolved at submission whose place this is (their holder then).
    pub seat: String,
    /// Who may fill it (a holder): the approver or someone standing in for them.
    pub holder: String,
}

impl ResolvedStage {
    /// A stage whose approvers each hold their own seat.
    pub fn new(approvers: Vec<String>, required: u32) -> Self {
        Self {
            approvers,
            required,
            seats: Vec::new(),
        }
    }

    /// A stage as its seats are held now; its approvers are everyone who holds one.
    pub fn seated(seats: Vec<Seat>, required: u32) -> Self {
        Self {
            approvers: holders(&seats),
            required,
            seats,
        }
    }

    /// Every (seat, holder) pair of the stage.
    pub fn holdings(&self) -> Vec<Seat> {
        if self.seats.is_empty() {
            self.approvers
                .iter()
                .map(|a| Seat {
                    seat: a.clone(),
                    holder: a.clone(),
                })
                .collect()
        } else {
            self.seats.clone()
        }
    }

    /// The seats' names.
    pub fn seat_names(&self) -> BTreeSet<String> {
        self.holdings().into_iter().map(|s| s.seat).collect()
    }
}

/// The person a holder names, if it names one (not a name nobody held).
pub fn holder_id(holder: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::try_parse(holder).ok()
}

/// Who holds any of `seats`, sorted, each once.
pub fn holders(seats: &[Seat]) -> Vec<String> {
    let people: BTreeSet<&str> = seats.iter().map(|s| s.holder.as_str()).collect();
    people.into_iter().map(str::to_string).collect()
}

named! {
    /// An approver's answer.
    pub enum Outcome {
        Approve = "approve",
        Deny = "deny",
    }
}

/// A decision already recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub stage: u32,
    /// Who decided (their id, as text).
    pub approver: String,
    /// The seat the decision filled.
    pub seat: String,
    pub outcome: Outcome,
}

/// Where a request stands after its decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Progress {
    /// Waiting at `stage` (0-based) with `approvals` of `required`.
    Waiting {
        stage: u32,
        approvals: u32,
        required: u32,
    },
    Approved,
    Denied {
        stage: u32,
    },
}

/// Why a person may not decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum DecisionRefused {
    #[error("You cannot decide on your own request or a request for yourself.")]
    OwnRequest,
    #[error("You are not an approver of this request at its current stage.")]
    NotAnApprover,
    #[error("You have already decided on this stage.")]
    AlreadyDecided,
    #[error("You approved an earlier stage; a later stage needs someone else.")]
    DecidedEarlierStage,
    #[error(
        "The approver you stand in for has already been decided for at this stage (by them or \
         by someone else standing in for them)."
    )]
    SeatTaken,
    #[error("This request is no longer waiting for decisions.")]
    NotPending,
}

/// What a permitted decision counts as: a seat of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub stage: u32,
    pub seat: String,
}

/// Adds up the decisions stage by stage. A denial at any stage ends the request; a stage with
/// its quorum of approvals passes to the next; no stages at all means approved. An approval
/// counts only for a seat of the stage that no earlier approval filled, and only once per
/// person.
pub fn progress(stages: &[ResolvedStage], decisions: &[Decision]) -> Progress {
    for (index, stage) in stages.iter().enumerate() {
        let index = index as u32;
        let at_stage = || decisions.iter().filter(move |d| d.stage == index);
        if at_stage().any(|d| d.outcome == Outcome::Deny) {
            return Progress::Denied { stage: index };
        }
        let seats = stage.seat_names();
        let mut filled = BTreeSet::new();
        let mut people = BTreeSet::new();
        for d in at_stage().filter(|d| d.outcome == Outcome::Approve) {
            if seats.contains(&d.seat)
                && !filled.contains(d.seat.as_str())
                && !people.contains(d.approver.as_str())
            {
                filled.insert(d.seat.as_str());
                people.insert(d.approver.as_str());
            }
        }
        let approvals = filled.len() as u32;
        if approvals < stage.required {
            return Progress::Waiting {
                stage: index,
                approvals,
                required: stage.required,
            };
        }
    }
    Progress::Approved
}

/// The seats of `stage` (0-based) that no decision has filled yet.
pub fn open_seats(stages: &[ResolvedStage], decisions: &[Decision], stage: u32) -> Vec<String> {
    let Some(resolved) = stages.get(stage as usize) else {
        return Vec::new();
    };
    resolved
        .seat_names()
        .into_iter()
        .filter(|seat| {
            !decisions
                .iter()
                .any(|d| d.stage == stage && &d.seat == seat)
        })
        .collect()
}

/// May `approver` decide the request now, and which seat would the decision fill?
/// `requester`, `beneficiary` and `approver` are holders (ids as text).
pub fn may_decide(
    stages: &[ResolvedStage],
    decisions: &[Decision],
    requester: &str,
    beneficiary: &str,
    approver: &str,
) -> Result<Vote, DecisionRefused> {
    let approver = approver.to_lowercase();
    if approver == requester.to_lowercase() || approver == beneficiary.to_lowercase() {
        return Err(DecisionRefused::OwnRequest);
    }
    let stage = match progress(stages, decisions) {
        Progress::Waiting { stage, .. } => stage,
        Progress::Approved | Progress::Denied { .. } => return Err(DecisionRefused::NotPending),
    };
    let holdings = stages[stage as usize].holdings();
    let held: BTreeSet<&str> = holdings
        .iter()
        .filter(|s| s.holder == approver)
        .map(|s| s.seat.as_str())
        .collect();
    if held.is_empty() {
        return Err(DecisionRefused::NotAnApprover);
    }
    if decisions
        .iter()
        .any(|d| d.approver == approver && d.stage == stage)
    {
        return Err(DecisionRefused::AlreadyDecided);
    }
    if decisions
        .iter()
        .any(|d| d.approver == approver && d.stage < stage)
    {
        return Err(DecisionRefused::DecidedEarlierStage);
    }
    let open = open_seats(stages, decisions, stage);
    let mine: Vec<&str> = held
        .into_iter()
        .filter(|seat| open.iter().any(|o| o == seat))
        .collect();
    // The approver's own seat first; else the seat the fewest others could still fill, so a
    // person standing in for several leaves the others as many seats as it can.
    let seat = if mine.contains(&approver.as_str()) {
        approver.clone()
    } else {
        let holders = |seat: &str| holdings.iter().filter(|s| s.seat == seat).count();
        mine.iter()
            .min_by_key(|seat| (holders(seat), **seat))
            .ok_or(DecisionRefused::SeatTaken)?
            .to_string()
    };
    Ok(Vote { stage, seat })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(approvers: &[&str], required: u32) -> ResolvedStage {
        ResolvedStage::new(approvers.iter().map(|s| s.to_string()).collect(), required)
    }

    /// A stage whose seats are held as `(seat, holder)` says.
    fn seated(holdings: &[(&str, &str)], required: u32) -> ResolvedStage {
        let seats = holdings
            .iter()
            .map(|(seat, holder)| Seat {
                seat: seat.to_string(),
                holder: holder.to_string(),
            })
            .collect();
        ResolvedStage::seated(seats, required)
    }

    fn approve(stage: u32, who: &str) -> Decision {
        Decision {
            stage,
            approver: who.into(),
            seat: who.into(),
            outcome: Outcome::Approve,
        }
    }

    fn deny(stage: u32, who: &str) -> Decision {
        Decision {
            stage,
            approver: who.into(),
            seat: who.into(),
            outcome: Outcome::Deny,
        }
    }

    /// Decides as `who` if allowed, recording the seat the decision fills.
    fn vote(
        stages: &[ResolvedStage],
        decisions: &mut Vec<Decision>,
        who: &str,
        outcome: Outcome,
    ) -> Result<String, DecisionRefused> {
        let vote = may_decide(stages, decisions, "r", "b", who)?;
        decisions.push(Decision {
            stage: vote.stage,
            approver: who.into(),
            seat: vote.seat.clone(),
            outcome,
        });
        Ok(vote.seat)
    }

    #[test]
    fn no_stages_is_approved() {
        assert_eq!(progress(&[], &[]), Progress::Approved);
    }

    #[test]
    fn two_of_three() {
        let stages = [stage(&["a", "b", "c"], 2)];
        assert_eq!(
            progress(&stages, &[approve(0, "a")]),
            Progress::Waiting {
                stage: 0,
                approvals: 1,
                required: 2
            }
        );
        // The same person twice is one approval.
        assert_eq!(
            progress(&stages, &[approve(0, "a"), approve(0, "a")]),
            Progress::Waiting {
                stage: 0,
                approvals: 1,
                required: 2
            }
        );
        assert_eq!(
            progress(&stages, &[approve(0, "a"), approve(0, "c")]),
            Progress::Approved
        );
    }

    #[test]
    fn stages_in_order_and_denial_ends() {
        let stages = [stage(&["m"], 1), stage(&["o1", "o2"], 1)];
        assert_eq!(
            progress(&stages, &[approve(0, "m")]),
            Progress::Waiting {
                stage: 1,
                approvals: 0,
                required: 1
            }
        );
        assert_eq!(
            progress(&stages, &[approve(0, "m"), approve(1, "o2")]),
            Progress::Approved
        );
        assert_eq!(
            progress(&stages, &[approve(0, "m"), deny(1, "o1"), approve(1, "o2")]),
            Progress::Denied { stage: 1 }
        );
        assert_eq!(
            progress(&stages, &[deny(0, "m")]),
            Progress::Denied { stage: 0 }
        );
    }

    #[test]
    fn approvals_from_strangers_do_not_count() {
        let stages = [stage(&["a"], 1)];
        assert_eq!(
            progress(&stages, &[approve(0, "mallory")]),
            Progress::Waiting {
                stage: 0,
                approvals: 0,
                required: 1
            }
        );
    }

    #[test]
    fn who_may_decide() {
        let stages = [stage(&["m", "x"], 1), stage(&["o", "m"], 1)];
        let stage_of = |r: Result<Vote, DecisionRefused>| r.map(|v| v.stage);
        assert_eq!(stage_of(may_decide(&stages, &[], "r", "r", "m")), Ok(0));
        assert_eq!(
            stage_of(may_decide(&stages, &[], "r", "r", "R")),
            Err(DecisionRefused::OwnRequest)
        );
        // On-behalf: the beneficiary may not approve either.
        assert_eq!(
            stage_of(may_decide(&stages, &[], "boss", "b", "b")),
            Err(DecisionRefused::OwnRequest)
        );
        assert_eq!(
            stage_of(may_decide(&stages, &[], "r", "r", "o")),
            Err(DecisionRefused::NotAnApprover)
        );
        let after_first = [approve(0, "m")];
        assert_eq!(
            stage_of(may_decide(&stages, &after_first, "r", "r", "o")),
            Ok(1)
        );
        assert_eq!(
            stage_of(may_decide(&stages, &after_first, "r", "r", "m")),
            Err(DecisionRefused::DecidedEarlierStage)
        );
        let two_of_two = [stage(&["a", "b"], 2)];
        assert_eq!(
            stage_of(may_decide(&two_of_two, &[approve(0, "a")], "r", "r", "a")),
            Err(DecisionRefused::AlreadyDecided)
        );
        assert_eq!(
            stage_of(may_decide(&stages, &[deny(0, "x")], "r", "r", "m")),
            Err(DecisionRefused::NotPending)
        );
        assert_eq!(
            stage_of(may_decide(&[], &[], "r", "r", "m")),
            Err(DecisionRefused::NotPending)
        );
    }

    #[test]
    fn an_owner_and_their_deputy_fill_one_seat() {
        // 2 of 3 owners; o1 names d as deputy, who stands in o1's seat.
        let stages = [seated(
            &[("o1", "o1"), ("o1", "d"), ("o2", "o2"), ("o3", "o3")],
            2,
        )];
        let mut decisions = Vec::new();
        assert_eq!(
            vote(&stages, &mut decisions, "o1", Outcome::Approve),
            Ok("o1".into())
        );
        assert_eq!(
            vote(&stages, &mut decisions, "d", Outcome::Approve),
            Err(DecisionRefused::SeatTaken)
        );
        assert!(matches!(
            progress(&stages, &decisions),
            Progress::Waiting { approvals: 1, .. }
        ));
        // The other way round: the deputy first, then the owner has nothing left to fill.
        let mut decisions = Vec::new();
        vote(&stages, &mut decisions, "d", Outcome::Approve).unwrap();
        assert_eq!(
            vote(&stages, &mut decisions, "o1", Outcome::Approve),
            Err(DecisionRefused::SeatTaken)
        );
        vote(&stages, &mut decisions, "o3", Outcome::Approve).unwrap();
        assert_eq!(progress(&stages, &decisions), Progress::Approved);
    }

    #[test]
    fn a_chain_and_a_backup_for_one_seat_count_once() {
        // o1 -> deputy d -> d's deputy e; escalation adds backup m for o1's seat too.
        let stages = [seated(
            &[
                ("o1", "o1"),
                ("o1", "d"),
                ("o1", "e"),
                ("o1", "m"),
                ("o2", "o2"),
                ("o3", "o3"),
            ],
            2,
        )];
        let mut decisions = Vec::new();
        vote(&stages, &mut decisions, "e", Outcome::Approve).unwrap();
        assert_eq!(
            vote(&stages, &mut decisions, "m", Outcome::Approve),
            Err(DecisionRefused::SeatTaken)
        );
        assert!(matches!(
            progress(&stages, &decisions),
            Progress::Waiting { approvals: 1, .. }
        ));
    }

    #[test]
    fn one_person_in_two_seats_counts_once() {
        // a is an owner and a's colleague q's deputy: a decides once.
        let stages = [seated(&[("a", "a"), ("q", "a"), ("q", "q"), ("c", "c")], 2)];
        let mut decisions = Vec::new();
        assert_eq!(
            vote(&stages, &mut decisions, "a", Outcome::Approve),
            Ok("a".into())
        );
        assert_eq!(
            vote(&stages, &mut decisions, "a", Outcome::Approve),
            Err(DecisionRefused::AlreadyDecided)
        );
        // q's own seat is still open for q.
        assert_eq!(
            vote(&stages, &mut decisions, "q", Outcome::Approve),
            Ok("q".into())
        );
        assert_eq!(progress(&stages, &decisions), Progress::Approved);
    }

    #[test]
    fn a_stand_in_takes_the_seat_fewest_others_could_fill() {
        // x stands in for a (whom only x covers) and for q (whom q covers too).
        let stages = [seated(&[("a", "x"), ("q", "x"), ("q", "q")], 2)];
        let mut decisions = Vec::new();
        assert_eq!(
            vote(&stages, &mut decisions, "x", Outcome::Approve),
            Ok("a".into())
        );
        vote(&stages, &mut decisions, "q", Outcome::Approve).unwrap();
        assert_eq!(progress(&stages, &decisions), Progress::Approved);
    }

    #[test]
    fn a_stand_in_cannot_fill_a_seat_twice_in_the_record() {
        // Two decisions on one seat (as written before seats existed) count once.
        let stages = [seated(&[("o1", "o1"), ("o1", "d"), ("o2", "o2")], 2)];
        let decisions = [
            approve(0, "o1"),
            Decision {
                stage: 0,
                approver: "d".into(),
                seat: "o1".into(),
                outcome: Outcome::Approve,
            },
        ];
        assert!(matches!(
            progress(&stages, &decisions),
            Progress::Waiting { approvals: 1, .. }
        ));
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        const PEOPLE: [&str; 8] = ["p0", "p1", "p2", "p3", "p4", "p5", "r", "b"];

        /// A stage: its seats (people resolved at submission), its quorum and who stands in
        /// for which seat (deputies, their deputies, backups, a rerouted manager alike).
        fn a_stage() -> impl Strategy<Value = ResolvedStage> {
            (
                proptest::sample::subsequence(&PEOPLE[..6], 1..=4),
                proptest::collection::vec((0usize..4, 0usize..PEOPLE.len()), 0..6),
            )
                .prop_flat_map(|(seats, stand_ins)| {
                    let count = seats.len() as u32;
                    (Just(seats), Just(stand_ins), 1..=count)
                })
                .prop_map(|(seats, stand_ins, required)| {
                    let mut holdings: Vec<(&str, &str)> = seats.iter().map(|s| (*s, *s)).collect();
                    for (seat, holder) in stand_ins {
                        holdings.push((seats[seat % seats.len()], PEOPLE[holder]));
                    }
                    holdings.sort();
                    holdings.dedup();
                    seated(&holdings, required)
                })
        }

        proptest! {
            #[test]
            fn a_stage_passes_only_with_its_quorum_of_seats_and_people(
                stages in proptest::collection::vec(a_stage(), 1..=3),
                attempts in proptest::collection::vec(
                    (0usize..PEOPLE.len(), prop_oneof![9 => Just(Outcome::Approve), 1 => Just(Outcome::Deny)]),
                    0..30,
                ),
            ) {
                let mut decisions = Vec::new();
                for (who, outcome) in attempts {
                    let who = PEOPLE[who];
                    if let Ok(seat) = vote(&stages, &mut decisions, who, outcome) {
                        // Only a holder of that seat, never the requester or beneficiary.
                        prop_assert!(who != "r" && who != "b");
                        let stage = decisions.last().unwrap().stage as usize;
                        prop_assert!(stages[stage].holdings().iter().any(|s| s.seat == seat && s.holder == who));
                    }
                }
                for index in 0..stages.len() {
                    let at: Vec<&Decision> = decisions.iter().filter(|d| d.stage as usize == index).collect();
                    let seats: BTreeSet<&str> = at.iter().map(|d| d.seat.as_str()).collect();
                    let people: BTreeSet<&str> = at.iter().map(|d| d.approver.as_str()).collect();
                    // Each seat and each person decided at most once.
                    prop_assert_eq!(seats.len(), at.len());
                    prop_assert_eq!(people.len(), at.len());
                }
                let passed = match progress(&stages, &decisions) {
                    Progress::Approved => stages.len(),
                    Progress::Waiting { stage, .. } | Progress::Denied { stage } => stage as usize,
                };
                for (index, stage) in stages.iter().enumerate().take(passed) {
                    let approving: Vec<&Decision> = decisions
                        .iter()
                        .filter(|d| d.stage as usize == index && d.outcome == Outcome::Approve)
                        .collect();
                    let seats: BTreeSet<&str> = approving.iter().map(|d| d.seat.as_str()).collect();
                    let people: BTreeSet<&str> = approving.iter().map(|d| d.approver.as_str()).collect();
                    prop_assert!(seats.len() as u32 >= stage.required);
                    prop_assert!(people.len() as u32 >= stage.required);
                    prop_assert!(seats.iter().all(|s| stage.seat_names().contains(*s)));
                }
            }
        }
    }
}
