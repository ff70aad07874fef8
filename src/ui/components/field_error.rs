use leptos::prelude::*;

use crate::error::AppError;

/// The message for one form field, shown beside it, when the last answer named that field.
#[component]
pub fn FieldError(
    #[prop(into)] error: Signal<Option<AppError>>,
    field: &'static str,
    id: &'static str,
) -> impl IntoView {
    let message = move || match error.get() {
        Some(AppError::Invalid { field: f, problem }) if f == field => {
            Some(crate::text::problem(&problem))
        }
        _ => None,
    };
    view! {
        <p class="field-error" id=id role="alert" hidden=move || message().is_none()>
            {message}
        </p>
    }
}

/// An answer that belongs to no single field (or a refusal), shown above the form.
#[component]
pub fn FormError(
    #[prop(into)] error: Signal<Option<AppError>>,
    fields: &'static [&'static str],
) -> impl IntoView {
    let message = move || match error.get() {
        Some(AppError::Invalid { field, .. }) if fields.contains(&field.as_str()) => None,
        Some(e) => Some(e.to_string()),
        None => None,
    };
    view! {
        <div class="card notice error" role="alert" hidden=move || message().is_none()>
            <p>{message}</p>
        </div>
    }
}
