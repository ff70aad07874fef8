use leptos::prelude::*;

use crate::domain::approval::Outcome;
use crate::domain::grant::GrantState;
use crate::domain::request::RequestState;

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

/// A state as a coloured pill that also says it in words (never colour alone).
#[component]
pub fn StatePill(#[prop(into)] state: Status) -> impl IntoView {
    let label = crate::text::status_label(state);
    view! { <span class=format!("pill pill-{}", state.css())>{label}</span> }
}
