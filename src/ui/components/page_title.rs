use leptos::prelude::*;
use leptos_meta::Title;

use crate::text::labels;

/// The document's title: the page's own words, then the product ("Governance · Leasegate"), or
/// the product alone for empty words. Each page sets its whole title; there is no app-wide
/// title formatter, because a formatter with no page's words yet blanks the title while a
/// split-off page's code is still loading (and axe, rightly, fails an empty title).
#[component]
pub fn PageTitle(#[prop(into)] text: String) -> impl IntoView {
    let product = labels().product;
    let full = if text.is_empty() {
        product.to_string()
    } else {
        format!("{text} · {product}")
    };
    view! { <Title text=full/> }
}
