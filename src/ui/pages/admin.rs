use leptos::prelude::*;
use leptos_meta::Title;

use crate::domain::role::can_administer;
use crate::ui::components::notice::ComingSoon;
use crate::ui::components::require_area::RequireArea;

#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <Title text="Admin"/>
        <RequireArea allowed=can_administer>
            <h1>"Admin"</h1>
            <ComingSoon what="Administrators will manage the catalog, its policies and the connectors to Active Directory and Entra ID here, with each connector's health."/>
        </RequireArea>
    }
}
