//! Printing a page as a report: a button that opens the browser's print dialog, and the print
//! stylesheet (style/main.css, `@media print`) that leaves out the portal's navigation, forms
//! and buttons, so one request's trail, one person's access or one period's events print (or
//! save as PDF) as a report. Without JavaScript the browser's own Print does the same.

use leptos::prelude::*;

use crate::text::labels;

#[component]
pub fn PrintButton() -> impl IntoView {
    view! {
        <button type="button" class="button subtle print-button" on:click=|_| {
            let _ = window().print();
        }>{labels().print_report}</button>
    }
}
