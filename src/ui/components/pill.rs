use leptos::prelude::*;

pub use crate::domain::status::Status;

/// A state as a coloured pill that also says it in words (never colour alone).
#[component]
pub fn StatePill(#[prop(into)] state: Status) -> impl IntoView {
    let label = crate::text::status_label(state);
    view! { <span class=format!("pill pill-{}", state.css())>{label}</span> }
}
