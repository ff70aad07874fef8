use leptos::prelude::*;

use crate::text::labels;
use crate::ui::components::page_title::PageTitle;
use leptos_router::hooks::use_params_map;

use crate::api::governance::request_trail;
use crate::domain::role::can_view_governance;
use crate::ui::components::notice::ErrorNotice;
use crate::ui::components::pill::StatePill;
use crate::ui::components::require_area::RequireArea;
use crate::ui::pages::governance::Events;

/// One request's whole story: submitted, decided, granted, removed, verified.
#[component]
pub fn TrailPage() -> impl IntoView {
    view! {
        <PageTitle text=labels().request_trail/>
        <RequireArea allowed=can_view_governance>
            <TrailData/>
        </RequireArea>
    }
}

#[component]
fn TrailData() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let trail = Resource::new(id, request_trail);
    view! {
        <p class="breadcrumb"><a href="/governance">{labels().nav_governance}</a> " / " {labels().request_trail}</p>
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                match trail.await {
                    Ok(t) => view! {
                        <h1>{(labels().for_whom)(&t.entitlement, &t.beneficiary)}</h1>
                        <p class="report-actions"><crate::ui::components::print::PrintButton/></p>
                        <p class="print-only muted">{labels().printed_note}</p>
                        <dl class="facts">
                            <dt>{labels().state}</dt><dd><StatePill state=t.state/></dd>
                            <dt>{labels().asked_by_label}</dt><dd translate="no">{t.requester}</dd>
                            <dt>{labels().why}</dt><dd dir="auto">{t.justification}</dd>
                            {t.ticket.map(|x| view! { <dt>{labels().ticket}</dt><dd translate="no">{x}</dd> })}
                        </dl>
                        <h2>{labels().trail}</h2>
                        <Events events=t.events/>
                        <p><a href=format!("/governance?request={}", t.request_id)>{labels().search_history}</a></p>
                    }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
