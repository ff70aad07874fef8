use leptos::prelude::*;

use crate::text::labels;
use crate::ui::components::page_title::PageTitle;

#[component]
pub fn SignedOutPage() -> impl IntoView {
    view! {
        <PageTitle text=labels().signed_out_title/>
        <h1>{labels().signed_out_heading}</h1>
        <p>{labels().signed_out_detail}</p>
        <p><a class="button primary" href="/auth/login" rel="external">{labels().sign_in_again}</a></p>
    }
}
