//! What a state pill shows, one value for every state a page marks with a pill.

use super::approval::Outcome;
use super::grant::GrantState;
use super::request::RequestState;

/// What a state pill shows: where a request or a grant is, an approver's answer, or that a
/// removal is overdue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Request(RequestState),
    Grant(GrantState),
    Decision(Outcome),
    Overdue,
}

impl Status {
    /// The pill's CSS class suffix (`pill-active`).
    pub fn css(self) -> &'static str {
        match self {
            Status::Request(s) => s.as_str(),
            Status::Grant(s) => s.as_str(),
            Status::Decision(o) => o.as_str(),
            Status::Overdue => "overdue",
        }
    }
}

impl From<RequestState> for Status {
    fn from(state: RequestState) -> Self {
        Status::Request(state)
    }
}

impl From<GrantState> for Status {
    fn from(state: GrantState) -> Self {
        Status::Grant(state)
    }
}

impl From<Outcome> for Status {
    fn from(outcome: Outcome) -> Self {
        Status::Decision(outcome)
    }
}
