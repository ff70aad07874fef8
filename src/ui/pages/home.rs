use leptos::prelude::*;

use crate::text::labels;
use crate::ui::components::page_title::PageTitle;

use crate::ui::layout::MeResource;

#[component]
pub fn HomePage() -> impl IntoView {
    let me = expect_context::<MeResource>().0;
    view! {
        <PageTitle text=""/>
        <Suspense fallback=|| view! { <h1>{labels().welcome}</h1> }>
            {move || Suspend::new(async move {
                let name = me.await.map(|m| m.display_name).unwrap_or_default();
                view! { <h1>{labels().welcome_named} <span translate="no">{name}</span></h1> }
            })}
        </Suspense>
        <p class="lead">
            {labels().home_lead}
        </p>
        <div class="tiles">
            <a class="card tile" href="/request">
                <h2>{labels().nav_request}</h2>
                <p>{labels().home_request}</p>
            </a>
            <a class="card tile" href="/my-access">
                <h2>{labels().nav_my_access}</h2>
                <p>{labels().home_my_access}</p>
            </a>
            <a class="card tile" href="/approvals">
                <h2>{labels().nav_approvals}</h2>
                <p>{labels().home_approvals}</p>
            </a>
        </div>
        <p class="muted">
            {labels().home_scope}
        </p>
    }
}
