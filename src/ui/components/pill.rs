use leptos::prelude::*;

/// A state as a coloured pill that also says it in words (never colour alone).
#[component]
pub fn StatePill(#[prop(into)] state: String) -> impl IntoView {
    let label = crate::text::state_label(&state);
    view! { <span class=format!("pill pill-{state}")>{label}</span> }
}
