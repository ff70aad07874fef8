use leptos::prelude::*;
use leptos_meta::Title;

use crate::domain::role::can_view_governance;
use crate::ui::components::notice::ComingSoon;
use crate::ui::components::require_area::RequireArea;

#[component]
pub fn GovernancePage() -> impl IntoView {
    view! {
        <Title text="Governance"/>
        <RequireArea allowed=can_view_governance>
            <h1>"Governance"</h1>
            <ComingSoon what="Auditors and administrators will see here who held which access, when, why, who approved it and the proof that it was removed, and export it as evidence."/>
        </RequireArea>
    }
}
