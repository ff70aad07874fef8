use leptos::prelude::*;
use leptos_meta::Title;

use crate::ui::components::notice::ComingSoon;

#[component]
pub fn RequestAccessPage() -> impl IntoView {
    view! {
        <Title text="Request access"/>
        <h1>"Request access"</h1>
        <ComingSoon what="Requesting access is not available yet. You will search the catalog here (AD groups, Entra groups and roles, Teams, SharePoint sites, VM admin ports), read who approves and for how long you may have it, and submit a request with a reason."/>
    }
}
