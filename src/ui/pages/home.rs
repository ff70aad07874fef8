use leptos::prelude::*;
use leptos_meta::Title;

use crate::ui::layout::MeResource;

#[component]
pub fn HomePage() -> impl IntoView {
    let me = expect_context::<MeResource>().0;
    view! {
        <Title text=""/>
        <Suspense fallback=|| view! { <h1>"Welcome"</h1> }>
            {move || Suspend::new(async move {
                let name = me.await.map(|m| m.display_name).unwrap_or_default();
                view! { <h1>"Welcome, " {name}</h1> }
            })}
        </Suspense>
        <p class="lead">
            "Leasegate gives you access for as long as you need it, and takes it away again on "
            "time. Nothing is granted for good."
        </p>
        <div class="tiles">
            <a class="card tile" href="/request">
                <h2>"Request access"</h2>
                <p>"Pick a group, role, team, site or VM from the catalog, say why and for how long."</p>
            </a>
            <a class="card tile" href="/my-access">
                <h2>"My access"</h2>
                <p>"See what you hold and until when; extend it or give it back."</p>
            </a>
            <a class="card tile" href="/approvals">
                <h2>"Approvals"</h2>
                <p>"Decide on requests that wait for you."</p>
            </a>
        </div>
        <p class="muted">
            "This build grants Active Directory (and other LDAP) group memberships. Entra ID "
            "groups and roles, Teams, SharePoint and VM access are not available yet."
        </p>
    }
}
