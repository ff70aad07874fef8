use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SignedOutPage() -> impl IntoView {
    view! {
        <Title text="Signed out"/>
        <h1>"You have signed out"</h1>
        <p>"Your Leasegate session has ended. Close the browser if this is a shared computer."</p>
        <p><a class="button primary" href="/auth/login" rel="external">"Sign in again"</a></p>
    }
}
