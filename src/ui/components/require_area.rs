use leptos::prelude::*;

use crate::text::labels;

use crate::api::types::me::Me;
use crate::domain::role::Role;
use crate::error::AppError;
use crate::ui::components::notice::{ErrorNotice, Forbidden, SignInAgain};
use crate::ui::layout::MeResource;

/// Renders its children only for people whose roles pass `allowed`; others get a 403 page.
#[component]
pub fn RequireArea(allowed: fn(&[Role]) -> bool, children: ChildrenFn) -> impl IntoView {
    let me = expect_context::<MeResource>().0;
    view! {
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    let me: Result<Me, AppError> = me.await;
                    match me {
                        Ok(me) if allowed(&me.roles) => children().into_any(),
                        Ok(_) => view! { <Forbidden/> }.into_any(),
                        Err(AppError::Unauthorized) => view! { <SignInAgain/> }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}
