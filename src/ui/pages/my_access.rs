use leptos::prelude::*;
use leptos_meta::Title;

use crate::ui::components::notice::ComingSoon;

#[component]
pub fn MyAccessPage() -> impl IntoView {
    view! {
        <Title text="My access"/>
        <h1>"My access"</h1>
        <ComingSoon what="Your access will be listed here: what you hold now with the time left, what waits for approval, and your history. You will be able to extend access or give it back early."/>
    }
}
