//! A change of state that an aggregate's state machine allowed.

/// A change of state from `from` to `to` on `event`. Only the state machines make one
/// ([`crate::domain::grant::GrantState::step`], [`crate::domain::request::RequestState::step`],
/// [`crate::domain::change::ChangeState::step`]), so whoever writes a `Step` to the database
/// writes a transition the domain allowed, and writes it `where state = from`: a row that moved
/// meanwhile is not touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<S, E> {
    from: S,
    to: S,
    event: E,
}

impl<S: Copy, E: Copy> Step<S, E> {
    pub(super) fn new(from: S, to: S, event: E) -> Self {
        Self { from, to, event }
    }

    pub fn from(&self) -> S {
        self.from
    }

    pub fn to(&self) -> S {
        self.to
    }

    pub fn event(&self) -> E {
        self.event
    }
}
