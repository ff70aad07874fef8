use chrono::Utc;
use leptos::prelude::*;

use crate::text::labels;
use crate::ui::components::page_title::PageTitle;

use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::governance::{
    AddressQuery as _, ChainCheck, EventPage, EventQuery, EventView, Overview, VerifyAuditChain,
    governance_overview, search_events,
};
use crate::domain::audit::AuditAction;
use crate::domain::role::can_view_governance;
use crate::error::AppError;
use crate::ui::components::notice::ErrorNotice;
use crate::ui::components::pill::{StatePill, Status};
use crate::ui::components::require_area::RequireArea;
use crate::ui::components::time::{Time, When, clock};

/// Who holds what now, what is overdue, and what happened, for auditors and administrators.
#[component]
pub fn GovernancePage() -> impl IntoView {
    view! {
        <PageTitle text=labels().nav_governance/>
        <RequireArea allowed=can_view_governance>
            <h1>{labels().nav_governance}</h1>
            <GovernanceData/>
        </RequireArea>
    }
}

#[component]
fn GovernanceData() -> impl IntoView {
    let overview = Resource::new(|| (), |_| governance_overview());
    let now = clock();
    view! {
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => view! { <OverviewView overview=o now/> }.into_any(),
                    Err(error @ AppError::Forbidden) | Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
        // Their own resources, outside the overview's suspense (a resource made inside resolved
        // suspended content does not hydrate).
        <EventSearch/>
        <EmergencyUses/>
    }
}

#[component]
fn OverviewView(overview: Overview, now: ReadSignal<chrono::DateTime<Utc>>) -> impl IntoView {
    let Overview {
        live,
        overdue,
        pending_requests,
    } = overview;
    let tile_class = if overdue > 0 {
        "card tile alert"
    } else {
        "card tile"
    };
    view! {
        <div class="tiles stats">
            <div class="card tile"><p class="stat">{live.len()}</p><p>{labels().live_leases}</p></div>
            <div class=tile_class>
                <p class="stat">{overdue}</p><p>{labels().overdue_removals}</p>
            </div>
            <div class="card tile"><p class="stat">{pending_requests}</p><p>{labels().pending_requests}</p></div>
        </div>
        <VerifyTrail/>
        <p><a href="/governance/dashboard">{labels().open_dashboard}</a></p>
        <p><a href="/governance/people">{labels().open_people}</a></p>
        <p><a href="/governance/access">{labels().open_holdings}</a></p>
        <p><a href="/governance/findings">{labels().open_findings}</a></p>
        <p><a href="/governance/reviews">{labels().open_reviews}</a></p>
        <section aria-labelledby="live-title">
            <h2 id="live-title">{labels().live_leases}</h2>
            {if live.is_empty() {
                view! { <p class="empty">{labels().nobody_holds}</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <thead><tr>
                            <th scope="col">{labels().holder}</th><th scope="col">{labels().access}</th><th scope="col">{labels().state}</th>
                            <th scope="col">{labels().ends_column}</th><th scope="col">{labels().trail}</th>
                        </tr></thead>
                        <tbody>
                            {live.into_iter().map(|g| {
                                let state = if g.overdue_since.is_some() { Status::Overdue } else { Status::Grant(g.state) };
                                let row_class = if g.overdue_since.is_some() { "overdue" } else { "" };
                                view! {
                                    <tr class=row_class>
                                        <td><a href=format!("/governance/people/{}", g.holder_id) translate="no">{g.holder}</a></td>
                                        <td translate="no">{g.entitlement}{g.bundle.map(|b| view! { <span class="muted">{format!(" · {b}")}</span> })}</td>
                                        <td>
                                            <StatePill state/>
                                            {g.last_error.map(|e| view! { <span class="muted" dir="auto">{format!(" {e}")}</span> })}
                                        </td>
                                        <td><When at=g.ends_at now/></td>
                                        <td><TrailLink request=g.request_id/></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

/// The auditor's search of the trail: a form whose fields stand in the address (so a search can
/// be kept, shared and reloaded), a hundred matches at a time, newest first, and the matches'
/// export as CSV or as JSON with the proof.
#[component]
fn EventSearch() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(|p| EventQuery::from_params(|name| p.get(name))));
    let found = Resource::new(move || query.get(), search_events);
    let value = move |name: &'static str| move || params.with(|p| p.get(name).unwrap_or_default());
    view! {
        <section aria-labelledby="events-title">
            <h2 id="events-title">{labels().search_trail}</h2>
            <p class="muted">{labels().search_trail_intro}</p>
            <Form method="GET" action="/governance" attr:class="event-search" attr:role="search" attr:aria-labelledby="events-title">
                <SearchText name="who" label=labels().search_who hint=labels().search_who_hint value=Signal::derive(value("who"))/>
                <SearchText name="what" label=labels().search_what hint=labels().search_what_hint value=Signal::derive(value("what"))/>
                <div class="field">
                    <label for="search-action">{labels().search_action}</label>
                    <select id="search-action" name="action">
                        <option value="" selected=move || value("action")().is_empty()>{labels().any_action}</option>
                        {AuditAction::groups().into_iter().map(|group| view! {
                            <option value=group selected=move || value("action")() == group>
                                {crate::text::action_group(group)}
                            </option>
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="search-from">{labels().search_from}</label>
                    <input id="search-from" name="from" type="date" prop:value=value("from") value=value("from")/>
                </div>
                <div class="field">
                    <label for="search-to">{labels().search_to}</label>
                    <input id="search-to" name="to" type="date" prop:value=value("to") value=value("to")/>
                </div>
                // A search narrowed from a person's or a request's page keeps that narrowing.
                {move || (!value("person")().is_empty()).then(|| view! { <input type="hidden" name="person" value=value("person")/> })}
                {move || (!value("request")().is_empty()).then(|| view! { <input type="hidden" name="request" value=value("request")/> })}
                <div class="actions">
                    <button type="submit" class="button primary">{labels().search}</button>
                    <a class="button subtle" href="/governance">{labels().clear_search}</a>
                </div>
            </Form>
            <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
                {move || Suspend::new(async move {
                    let query = query.get_untracked();
                    match found.await {
                        Ok(page) => view! { <Matches page query/> }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// A text field of the search with its hint, showing what the address holds.
#[component]
fn SearchText(
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: Signal<String>,
) -> impl IntoView {
    let id = format!("search-{name}");
    let hint_id = format!("{id}-hint");
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            // The hint under the field, so the row's labels and fields line up.
            <input id=id name=name type="search" maxlength="200" aria-describedby=hint_id.clone()
                prop:value=value value=value/>
            <p class="muted" id=hint_id>{hint}</p>
        </div>
    }
}

#[component]
fn Matches(page: EventPage, query: EventQuery) -> impl IntoView {
    let EventPage {
        events,
        older,
        person,
    } = page;
    // The export is a POST (it is audited, and a GET never writes): a form that carries the
    // search in hidden fields; the button pressed names the format.
    let hidden = query
        .first_page()
        .pairs()
        .into_iter()
        .map(|(name, value)| view! { <input type="hidden" name=name value=value/> })
        .collect_view();
    let older_link = older.map(|position| {
        let next = EventQuery {
            before: position.to_string(),
            ..query.clone()
        };
        view! { <a class="button subtle" href=next.link("/governance")>{labels().older_events}</a> }
    });
    let newest_link = (!query.before.is_empty()).then(|| {
        view! { <a class="button subtle" href=query.first_page().link("/governance")>{labels().newest_events}</a> }
    });
    view! {
        {person.map(|name| view! { <p class="muted">{(labels().events_about)(&name)}</p> })}
        {(!query.request.is_empty()).then(|| view! { <p class="muted">{labels().events_of_request}</p> })}
        <form class="export-links" data-testid="evidence-export" method="post"
            action="/governance/evidence">
            {hidden}
            <button class="button" type="submit" name="format" value="csv">{labels().export_csv}</button>
            <button class="button" type="submit" name="format" value="json">{labels().export_json}</button>
            <crate::ui::components::print::PrintButton/>
            <p class="muted">{labels().export_hint}</p>
        </form>
        {if events.is_empty() {
            view! { <p class="empty">{labels().no_matching_events}</p> }.into_any()
        } else {
            view! { <Events events/> }.into_any()
        }}
        <p class="pager">{newest_link}{older_link}</p>
    }
}

/// The audit events as a table, newest or oldest first as given.
#[component]
pub fn Events(events: Vec<EventView>) -> impl IntoView {
    view! {
        <table class="table events">
            <thead><tr>
                <th scope="col">"#"</th><th scope="col">{labels().when}</th><th scope="col">{labels().who}</th>
                <th scope="col">{labels().what}</th><th scope="col">{labels().request}</th>
            </tr></thead>
            <tbody>
                {events.into_iter().map(|e| view! {
                    <tr data-action=e.action.clone()>
                        <td>{e.position}</td>
                        <td><Time at=e.occurred_at/></td>
                        <td translate="no">{e.actor}</td>
                        <td>{e.summary}</td>
                        <td><TrailLink request=e.request_id/></td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// A link to a request's trail, when the row belongs to a request.
#[component]
pub fn TrailLink(request: Option<uuid::Uuid>) -> impl IntoView {
    request.map(|id| view! { <a href=format!("/governance/requests/{id}")>{labels().trail}</a> })
}

/// Checks the signed checkpoints and recomputes the chain after the last good one, or all of
/// it, on demand.
#[component]
fn VerifyTrail() -> impl IntoView {
    let verify = ServerAction::<VerifyAuditChain>::new();
    let result = move || {
        verify.value().get().map(|r| match r {
            Ok(check) => view! { <ChainResult check/> }.into_any(),
            Err(error) => view! { <ErrorNotice error/> }.into_any(),
        })
    };
    view! {
        <section aria-labelledby="verify-title">
            <h2 id="verify-title">{labels().audit_trail}</h2>
            <div class="actions">
                <ActionForm action=verify>
                    <input type="hidden" name="whole" value="false"/>
                    <button type="submit" class="button">{labels().verify_trail}</button>
                </ActionForm>
                <ActionForm action=verify>
                    <input type="hidden" name="whole" value="true"/>
                    <button type="submit" class="button">{labels().verify_whole_trail}</button>
                </ActionForm>
            </div>
            <div aria-live="polite">{result}</div>
        </section>
    }
}

#[component]
fn ChainResult(check: ChainCheck) -> impl IntoView {
    let (class, text) = if check.intact {
        (
            "card notice success",
            (labels().trail_intact)(check.events, check.checkpoints),
        )
    } else {
        (
            "card notice error",
            (labels().trail_broken)(check.first_break, &check.mismatched),
        )
    };
    let scope = match check.checked_after {
        Some(position) => (labels().trail_checked_since)(position),
        None => labels().trail_checked_whole.to_string(),
    };
    view! {
        <div class=class role="status" data-testid="chain-check">
            <p>{text}</p>
            <p class="muted">{scope}</p>
            {(!check.signed).then(|| view! { <p>{labels().trail_unsigned}</p> })}
        </div>
    }
}

/// Every emergency (break-glass) use with its review.
#[component]
fn EmergencyUses() -> impl IntoView {
    let uses = Resource::new(|| (), |_| crate::api::emergency::emergency_uses());
    view! {
        <section aria-labelledby="emergency-title">
            <h2 id="emergency-title">{labels().emergency_title}</h2>
            <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
                {move || Suspend::new(async move {
                    match uses.await {
                        Ok(uses) if uses.is_empty() => view! { <p class="empty">{labels().no_emergency_uses}</p> }.into_any(),
                        Ok(uses) => view! {
                            <table class="table">
                                <thead><tr>
                                    <th scope="col">{labels().access}</th><th scope="col">{labels().for_label}</th>
                                    <th scope="col">{labels().why}</th><th scope="col">{labels().when}</th>
                                    <th scope="col">{labels().outcome}</th>
                                </tr></thead>
                                <tbody>
                                    {uses.into_iter().map(|u| {
                                        let review = match (&u.verdict, &u.closed_by) {
                                            (Some(v), Some(by)) => {
                                                let verdict = if v == "justified" { labels().review_justified } else { labels().review_not_justified };
                                                let note = u.note.clone().unwrap_or_default();
                                                view! { {format!("{}: ", (labels().reviewed_by)(by, verdict))}<span dir="auto">{note}</span> }.into_any()
                                            }
                                            _ => labels().review_open.into_any(),
                                        };
                                        view! {
                                            <tr data-emergency=u.request_id.to_string()>
                                                <td><a href=format!("/governance/requests/{}", u.request_id) translate="no">{u.entitlement}</a></td>
                                                <td translate="no">{u.who}</td>
                                                <td dir="auto">{u.justification}</td>
                                                <td><Time at=u.starts_at/></td>
                                                <td>{review}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
