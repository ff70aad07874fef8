//! A change of state that an aggregate's state machine allowed.

/// An aggregate's state machine: the states are `Self`, the events `Event`, and [`next`] is
/// the one table of what each event does in each state. [`Lifecycle::step`] is the only way to
/// make a [`Step`], so whoever writes one to the database writes a transition the domain
/// allowed, and writes it `where state = from`: a row that moved meanwhile is not touched.
///
/// [`next`]: Lifecycle::next
pub trait Lifecycle: Copy + Eq + std::fmt::Display + std::fmt::Debug + 'static {
    type Event: Copy + Eq + std::fmt::Debug + 'static;

    /// What the aggregate is called in messages: "grant", "request".
    const NOUN: &'static str;

    /// The state `event` leads to, or `None` where the machine does not allow it.
    fn next(self, event: Self::Event) -> Option<Self>;

    /// [`Lifecycle::next`], refused with the state and event when not allowed.
    fn on(self, event: Self::Event) -> Result<Self, InvalidTransition<Self>> {
        self.next(event)
            .ok_or(InvalidTransition { state: self, event })
    }

    /// [`Lifecycle::on`] as a [`Step`] to write.
    fn step(self, event: Self::Event) -> Result<Step<Self, Self::Event>, InvalidTransition<Self>> {
        self.on(event).map(|to| Step {
            from: self,
            to,
            event,
        })
    }
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition<S: Lifecycle> {
    pub state: S,
    pub event: S::Event,
}

impl<S: Lifecycle> std::fmt::Display for InvalidTransition<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a {} {} cannot take {:?}",
            self.state,
            S::NOUN,
            self.event
        )
    }
}

impl<S: Lifecycle> std::error::Error for InvalidTransition<S> {}

/// A change of state from `from` to `to` on `event`, as [`Lifecycle::step`] allowed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<S, E> {
    from: S,
    to: S,
    event: E,
}

impl<S: Copy, E: Copy> Step<S, E> {
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
