use leptos::prelude::*;

use crate::text::labels;
use crate::ui::components::page_title::PageTitle;

use crate::ui::components::status::set_http_status;

#[component]
pub fn NotFoundPage() -> impl IntoView {
    set_http_status(404);
    view! {
        <PageTitle text=labels().page_not_found/>
        <h1>{labels().page_not_found}</h1>
        <p>{labels().page_not_found_detail}</p>
        <p><a href="/">{labels().go_to_start}</a></p>
    }
}
