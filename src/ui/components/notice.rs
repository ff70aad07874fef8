use leptos::prelude::*;

use crate::error::AppError;
use crate::ui::components::status::set_http_status;

/// Says plainly that a part of the portal is not built yet, and what it will do.
#[component]
pub fn ComingSoon(#[prop(into)] what: String) -> impl IntoView {
    view! {
        <section class="card notice coming-soon" aria-labelledby="coming-soon-title">
            <h2 id="coming-soon-title">"Not available yet"</h2>
            <p>{what}</p>
            <p class="muted">"Nothing on this page works yet; it is here so you can see where it will be."</p>
        </section>
    }
}

/// Shown instead of a page the person may not open.
#[component]
pub fn Forbidden() -> impl IntoView {
    set_http_status(403);
    view! {
        <leptos_meta::Title text="Access denied"/>
        <h1>"You do not have access to this page"</h1>
        <p>
            "This area is for people with a particular portal role. If you need it, ask your "
            "Leasegate administrator to assign you the role in Entra ID, then sign in again."
        </p>
        <p><a href="/">"Back to the start page"</a></p>
    }
}

/// Shown when the session ended while the page was open.
#[component]
pub fn SignInAgain() -> impl IntoView {
    view! {
        <h1>"Your session has ended"</h1>
        <p>"For your security, sessions end after a period of inactivity."</p>
        <p><a class="button primary" href="/auth/login" rel="external">"Sign in again"</a></p>
    }
}

/// A failure to load something, with the reference support needs.
#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    set_http_status(error.status_code());
    view! {
        <div class="card notice error" role="alert">
            <p>{error.to_string()}</p>
        </div>
    }
}
