use leptos::prelude::*;

use crate::text::labels;
use leptos_router::components::A;

use crate::api::approvals::waiting_count;
use crate::api::me::{Me, get_me};
use crate::domain::role::{can_administer, can_view_governance};
use crate::error::AppError;

/// The signed-in person, loaded once per page load and shared by the shell and the pages.
#[derive(Clone, Copy)]
pub struct MeResource(pub Resource<Result<Me, AppError>>);

/// Bumped to read the navigation's inbox count again now (the approvals page does after a
/// decision).
#[derive(Clone, Copy)]
pub struct InboxCountTick(pub RwSignal<u32>);

/// How often the navigation reads the inbox count while a page is open, and the longest wait
/// after failures (each failure doubles the wait).
const COUNT_EVERY_SECONDS: u64 = 30;
const COUNT_BACKOFF_MAX_SECONDS: u64 = 300;

/// Banner, navigation by role, and the main area.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    provide_context(MeResource(me));
    provide_context(InboxCountTick(RwSignal::new(0)));
    view! {
        <a class="skip-link" href="#main">{labels().skip_to_main}</a>
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"L"</span>
                {labels().product}
            </a>
            <div class="topbar-end">
            <LanguageSwitch/>
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
            </div>
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

/// "Deutsch" on English pages, "English" on German ones: a plain form post (it works before the
/// page is hydrated and without JavaScript) that stores the choice and comes back to this page.
#[component]
fn LanguageSwitch() -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let back = move || {
        let (path, search) = (location.pathname.get(), location.search.get());
        match search.trim_start_matches('?') {
            "" => path,
            query => format!("{path}?{query}"),
        }
    };
    view! {
        <form method="post" action="/language" class="language-switch" aria-label=labels().language_switch>
            <input type="hidden" name="language" value=labels().other_language_tag/>
            <input type="hidden" name="back" prop:value=back value=back/>
            <button type="submit" class="button subtle" lang=labels().other_language_tag
                data-testid="language-switch">{labels().other_language}</button>
        </form>
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
                <li><A href="/approvals">{labels().nav_approvals}<InboxCount/></A></li>
                <li><A href="/contractors">{labels().nav_contractors}</A></li>
                <li><A href="/settings">{labels().nav_settings}</A></li>
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

/// The number of requests waiting for the signed-in person, after "Approvals": read in the
/// browser once the page is up and then every 30 seconds while it is open (polling keeps no
/// connection open per visitor, unlike server-sent events; the count is a hint, the inbox is
/// the truth). After a failure the next read waits twice as long, up to five minutes; a lapsed
/// session stops it. Browser-only (a local resource), so the server's page and the hydrated one
/// agree: neither shows a count until the browser has read it.
#[component]
fn InboxCount() -> impl IntoView {
    let Some(InboxCountTick(tick)) = use_context::<InboxCountTick>() else {
        return ().into_any();
    };
    let count = LocalResource::new(move || {
        tick.track();
        waiting_count()
    });
    // Read only once the page is live: on the server a read would hold the navigation's
    // suspense open for a resource that only the browser resolves, and the server's page
    // would lose its navigation.
    let mounted = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    {
        Effect::new(move |_| mounted.set(true));
        let failures = StoredValue::new(0u32);
        Effect::new(move |_| {
            let Some(outcome) = count.get() else {
                return;
            };
            let seconds = match outcome {
                Ok(_) => {
                    failures.set_value(0);
                    COUNT_EVERY_SECONDS
                }
                Err(AppError::Unauthorized) => return,
                Err(_) => {
                    failures.update_value(|f| *f = f.saturating_add(1));
                    (COUNT_EVERY_SECONDS << failures.get_value().min(4))
                        .min(COUNT_BACKOFF_MAX_SECONDS)
                }
            };
            let seen = tick.get_untracked();
            set_timeout(
                move || {
                    // Only if nothing read it again meanwhile (a decision bumps it).
                    if tick.get_untracked() == seen {
                        tick.update(|t| *t = t.wrapping_add(1));
                    }
                },
                std::time::Duration::from_secs(seconds),
            );
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (COUNT_EVERY_SECONDS, COUNT_BACKOFF_MAX_SECONDS);
    view! {
        {move || mounted.get().then(|| count.get()).flatten().and_then(Result::ok).filter(|n| *n > 0).map(|n| view! {
            <span class="count" data-testid="inbox-count">
                <span class="visually-hidden">", "</span>{(labels().nav_waiting)(n)}
            </span>
        })}
    }
    .into_any()
}
