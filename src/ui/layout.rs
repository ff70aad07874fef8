use leptos::prelude::*;

use crate::text::labels;
use leptos_router::components::A;

use crate::api::me::{Me, get_me};
use crate::domain::role::{can_administer, can_view_governance};
use crate::error::AppError;

/// The signed-in person, loaded once per page load and shared by the shell and the pages.
#[derive(Clone, Copy)]
pub struct MeResource(pub Resource<Result<Me, AppError>>);

/// Banner, navigation by role, and the main area.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    provide_context(MeResource(me));
    view! {
        <a class="skip-link" href="#main">{labels().skip_to_main}</a>
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"L"</span>
                {labels().product}
            </a>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(me) => view! { <UserMenu me/> }.into_any(),
                        Err(_) => view! {
                            <a class="button" href="/auth/login" rel="external">{labels().sign_in}</a>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </header>
        <div class="frame">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    me.await.ok().map(|me| view! { <MainNav me/> })
                })}
            </Suspense>
            <main id="main" tabindex="-1">{children()}</main>
        </div>
    }
}

#[component]
fn UserMenu(me: Me) -> impl IntoView {
    view! {
        <div class="user-menu">
            <span class="user-name" data-testid="signed-in-user">{me.display_name}</span>
            <span class="user-upn muted">{me.upn}</span>
            <form method="post" action="/auth/logout">
                <button type="submit" class="button subtle">{labels().sign_out}</button>
            </form>
        </div>
    }
}

#[component]
fn MainNav(me: Me) -> impl IntoView {
    view! {
        <nav class="main-nav" aria-label=labels().main_navigation>
            <ul>
                <li><A href="/request">{labels().nav_request}</A></li>
                <li><A href="/my-access">{labels().nav_my_access}</A></li>
                <li><A href="/approvals">{labels().nav_approvals}</A></li>
                {can_view_governance(&me.roles).then(|| view! {
                    <li><A href="/governance">{labels().nav_governance}</A></li>
                })}
                {can_administer(&me.roles).then(|| view! {
                    <li><A href="/admin">{labels().nav_admin}</A></li>
                })}
            </ul>
        </nav>
    }
}
