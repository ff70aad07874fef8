use leptos::prelude::*;
use leptos_meta::Title;

use crate::ui::components::notice::ComingSoon;

#[component]
pub fn ApprovalsPage() -> impl IntoView {
    view! {
        <Title text="Approvals"/>
        <h1>"Approvals"</h1>
        <ComingSoon what="Requests that wait for your decision will appear here, with who asked, for what, for how long and why, so you can approve or deny them."/>
    }
}
