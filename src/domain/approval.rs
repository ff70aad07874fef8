//! Deciding a request: who may decide which stage, and what the decisions so far add up to.

use serde::{Deserialize, Serialize};

use super::named::named;

/// A stage as resolved when the request was submitted: the people who may decide it and how
/// many approvals it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedStage {
    /// Lower-case UPNs, sorted; never the requester or the beneficiary.
    pub approvers: Vec<String>,
    pub required: u32,
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
    /// Lower-case UPN.
    pub approver: String,
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
    #[error("This request is no longer waiting for decisions.")]
    NotPending,
}

/// Adds up the decisions stage by stage. A denial at any stage ends the request; a stage with
/// its quorum of approvals passes to the next; no stages at all means approved.
pub fn progress(stages: &[ResolvedStage], decisions: &[Decision]) -> Progress {
    for (index, stage) in stages.iter().enumerate() {
        let index = index as u32;
        let at_stage = || decisions.iter().filter(move |d| d.stage == index);
        if at_stage().any(|d| d.outcome == Outcome::Deny) {
            return Progress::Denied { stage: index };
        }
        let mut approvers: Vec<&str> = at_stage()
            .filter(|d| d.outcome == Outcome::Approve && stage.approvers.contains(&d.approver))
            .map(|d| d.approver.as_str())
            .collect();
        approvers.sort_unstable();
        approvers.dedup();
        let approvals = approvers.len() as u32;
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

/// May `approver` decide the request now? `requester` and `beneficiary` are lower-case UPNs.
pub fn may_decide(
    stages: &[ResolvedStage],
    decisions: &[Decision],
    requester: &str,
    beneficiary: &str,
    approver: &str,
) -> Result<u32, DecisionRefused> {
    let approver = approver.to_lowercase();
    if approver == requester.to_lowercase() || approver == beneficiary.to_lowercase() {
        return Err(DecisionRefused::OwnRequest);
    }
    let stage = match progress(stages, decisions) {
        Progress::Waiting { stage, .. } => stage,
        Progress::Approved | Progress::Denied { .. } => return Err(DecisionRefused::NotPending),
    };
    if !stages[stage as usize].approvers.contains(&approver) {
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
    Ok(stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(approvers: &[&str], required: u32) -> ResolvedStage {
        ResolvedStage {
            approvers: approvers.iter().map(|s| s.to_string()).collect(),
            required,
        }
    }

    fn approve(stage: u32, who: &str) -> Decision {
        Decision {
            stage,
            approver: who.into(),
            outcome: Outcome::Approve,
        }
    }

    fn deny(stage: u32, who: &str) -> Decision {
        Decision {
            stage,
            approver: who.into(),
            outcome: Outcome::Deny,
        }
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
        assert_eq!(may_decide(&stages, &[], "r", "r", "m"), Ok(0));
        assert_eq!(
            may_decide(&stages, &[], "r", "r", "R"),
            Err(DecisionRefused::OwnRequest)
        );
        // On-behalf: the beneficiary may not approve either.
        assert_eq!(
            may_decide(&stages, &[], "boss", "b", "b"),
            Err(DecisionRefused::OwnRequest)
        );
        assert_eq!(
            may_decide(&stages, &[], "r", "r", "o"),
            Err(DecisionRefused::NotAnApprover)
        );
        let after_first = [approve(0, "m")];
        assert_eq!(may_decide(&stages, &after_first, "r", "r", "o"), Ok(1));
        assert_eq!(
            may_decide(&stages, &after_first, "r", "r", "m"),
            Err(DecisionRefused::DecidedEarlierStage)
        );
        let two_of_two = [stage(&["a", "b"], 2)];
        assert_eq!(
            may_decide(&two_of_two, &[approve(0, "a")], "r", "r", "a"),
            Err(DecisionRefused::AlreadyDecided)
        );
        assert_eq!(
            may_decide(&stages, &[deny(0, "x")], "r", "r", "m"),
            Err(DecisionRefused::NotPending)
        );
        assert_eq!(
            may_decide(&[], &[], "r", "r", "m"),
            Err(DecisionRefused::NotPending)
        );
    }
}
