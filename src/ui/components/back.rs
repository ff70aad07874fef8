//! The first link of a breadcrumb shared by governance pages that owners and reviewers reach too.

use leptos::prelude::*;

use crate::text::labels;

/// Where a governance page was reached from: Governance for its roles, the approvals page
/// (where owners and reviewers find the way to it) for everyone else.
#[component]
pub fn BackToArea() -> impl IntoView {
    let me = expect_context::<crate::ui::layout::MeResource>().0;
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let governance = me
                    .await
                    .is_ok_and(|me| crate::domain::role::can_view_governance(&me.roles));
                if governance {
                    view! { <a href="/governance">{labels().nav_governance}</a> }.into_any()
                } else {
                    view! { <a href="/approvals">{labels().nav_approvals}</a> }.into_any()
                }
            })}
        </Transition>
    }
}
