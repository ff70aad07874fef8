use leptos::prelude::*;

use crate::text::labels;

use crate::error::AppError;
use crate::ui::components::page_title::PageTitle;
use crate::ui::components::status::set_http_status;

/// Shown instead of a page the person may not open.
#[component]
pub fn Forbidden() -> impl IntoView {
    set_http_status(403);
    view! {
        <PageTitle text=labels().access_denied_title/>
        <h1>{labels().access_denied_heading}</h1>
        <p>
            {labels().access_denied_detail}
        </p>
        <p><a href="/">{labels().back_to_start}</a></p>
    }
}

/// Shown when the session ended while the page was open.
#[component]
pub fn SignInAgain() -> impl IntoView {
    view! {
        <h1>{labels().session_ended}</h1>
        <p>{labels().session_ended_detail}</p>
        <p><a class="button primary" href="/auth/login" rel="external">{labels().sign_in_again}</a></p>
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
