//! Who had access: "who held this entry at that moment", "what did this person hold in that
//! period", answered from every lease's history; and, for administrators and security
//! operations, taking live access away now (one lease, or a whole account's).

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::holdings::{
    AddressQuery as _, ContainAccount, HeldWithoutLease, Holding, HoldingQuery, Holdings,
    RevokeLease, who_held,
};
use crate::domain::grant::{GrantState, RevokeReason};
use crate::domain::role::can_view_governance;
use crate::text::{closure_in, finding_kind_in, labels, lang};
use crate::ui::components::notice::ErrorNotice;
use crate::ui::components::page_title::PageTitle;
use crate::ui::components::pill::StatePill;
use crate::ui::components::require_area::RequireArea;
use crate::ui::components::time::{Time, utc_offset};
use crate::ui::pages::governance::TrailLink;

#[component]
pub fn HoldingsPage() -> impl IntoView {
    view! {
        <PageTitle text=labels().holdings_title/>
        <RequireArea allowed=can_view_governance>
            <p class="breadcrumb"><a href="/governance">{labels().nav_governance}</a> " / " {labels().holdings_title}</p>
            <h1>{labels().holdings_title}</h1>
            <p>{labels().holdings_intro}</p>
            <Question/>
        </RequireArea>
    }
}

#[component]
fn Question() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(|p| HoldingQuery::from_params(|name| p.get(name))));
    let revoke = ServerAction::<RevokeLease>::new();
    let contain = ServerAction::<ContainAccount>::new();
    // The page without a question asks nothing (the governance page lists every live lease).
    let answer = Resource::new(
        move || (query.get(), revoke.version().get(), contain.version().get()),
        |(query, _, _)| async move {
            if query.asks_nothing() {
                Ok(None)
            } else {
                who_held(query).await.map(Some)
            }
        },
    );
    let value = move |name: &'static str| move || params.with(|p| p.get(name).unwrap_or_default());
    // A shared link keeps the zone its times were typed in; a new question is asked in the
    // browser's own.
    let browser_offset = utc_offset();
    let offset = move || match value("offset")() {
        given if !given.is_empty() => given,
        _ => browser_offset.get().to_string(),
    };
    let outcome = move || {
        revoke
            .value()
            .get()
            .map(|r| r.map(|_| labels().taken_away.to_string()))
            .or_else(|| {
                contain
                    .value()
                    .get()
                    .map(|r| r.map(|done| (labels().contained)(done.leases)))
            })
    };
    view! {
        <Form method="GET" action="/governance/access" attr:class="event-search" attr:role="search" attr:aria-label=labels().holdings_title>
            <Field name="entitlement" label=labels().holdings_entry kind="search" value=Signal::derive(value("entitlement"))/>
            <Field name="person" label=labels().holdings_person kind="search" value=Signal::derive(value("person"))/>
            <Field name="at" label=labels().holdings_at kind="datetime-local" value=Signal::derive(value("at"))/>
            <Field name="until" label=labels().holdings_until kind="datetime-local" value=Signal::derive(value("until"))/>
            <input type="hidden" name="offset" prop:value=offset/>
            <p class="muted whole-row">{labels().holdings_times_hint}</p>
            <div class="actions">
                <button type="submit" class="button primary">{labels().ask}</button>
                <a class="button subtle" href="/governance/access">{labels().clear_search}</a>
            </div>
        </Form>
        {move || outcome().map(|result| match result {
            Ok(message) => view! { <div class="card notice success" role="status"><p>{message}</p></div> }.into_any(),
            Err(error) => view! { <ErrorNotice error/> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                match answer.await {
                    Ok(Some(holdings)) => view! { <Answer holdings revoke contain/> }.into_any(),
                    Ok(None) => ().into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// One field of the question, showing what the address holds.
#[component]
fn Field(
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    value: Signal<String>,
) -> impl IntoView {
    let id = format!("holdings-{name}");
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input id=id name=name type=kind maxlength="200" prop:value=value value=value/>
        </div>
    }
}

#[component]
fn Answer(
    holdings: Holdings,
    revoke: ServerAction<RevokeLease>,
    contain: ServerAction<ContainAccount>,
) -> impl IntoView {
    let Holdings {
        rows,
        without_lease,
        more,
        entitlement,
        person,
        may_revoke,
        ..
    } = holdings;
    let about = [entitlement, person.as_ref().map(|(_, name)| name.clone())]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <section aria-labelledby="answer-title">
            <h2 id="answer-title" class="visually-hidden">{labels().holdings_title}</h2>
            {(!about.is_empty()).then(|| view! { <p class="muted" translate="no">{(labels().holdings_about)(&about)}</p> })}
            {more.then(|| view! { <p class="card notice" role="status">{labels().holdings_more}</p> })}
            {match (rows.is_empty(), without_lease.is_empty()) {
                (true, true) => view! { <p class="empty">{labels().holdings_none}</p> }.into_any(),
                (true, false) => view! { <p class="empty">{labels().holdings_no_lease}</p> }.into_any(),
                _ => view! { <Periods rows may_revoke revoke/> }.into_any(),
            }}
        </section>
        {(!without_lease.is_empty()).then(|| view! { <WithoutLease rows=without_lease/> })}
        {person.filter(|_| may_revoke).map(|(id, name)| view! { <Contain id name contain/> })}
    }
}

#[component]
fn Periods(
    rows: Vec<Holding>,
    may_revoke: bool,
    revoke: ServerAction<RevokeLease>,
) -> impl IntoView {
    view! {
        <table class="table" data-testid="holdings">
            <thead><tr>
                <th scope="col">{labels().holder}</th><th scope="col">{labels().access}</th>
                <th scope="col">{labels().held_added}</th><th scope="col">{labels().held_removed}</th>
                <th scope="col">{labels().state}</th><th scope="col">{labels().trail}</th>
                {may_revoke.then(|| view! { <th scope="col">{labels().take_away}</th> })}
            </tr></thead>
            <tbody>
                {rows.into_iter().map(|h| {
                    let live = matches!(h.state, GrantState::Scheduled | GrantState::Active);
                    let take_away = (may_revoke && live).then(|| view! { <TakeAway holding=h.clone() revoke/> });
                    let cell = may_revoke.then(|| view! { <td>{take_away}</td> });
                    view! {
                        <tr>
                            <td><a href=format!("/governance/people/{}", h.holder_id) translate="no">{h.holder}</a><br/><span class="muted" translate="no">{h.upn}</span></td>
                            <td translate="no">{h.entitlement}<br/><span class="muted">{h.entitlement_key}</span></td>
                            <td><Time at=h.from/></td>
                            <td>{match h.until {
                                Some(at) => view! { <Time at/> }.into_any(),
                                None => view! { <strong>{labels().still_held}</strong> }.into_any(),
                            }}</td>
                            <td><StatePill state=h.state/>{h.reason.map(|r| view! { <br/><span class="muted">{ended(r)}</span> })}</td>
                            <td><TrailLink request=h.request_id/></td>
                            {cell}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// What the target systems held without a lease, as reconciliation saw it.
#[component]
fn WithoutLease(rows: Vec<HeldWithoutLease>) -> impl IntoView {
    view! {
        <section aria-labelledby="without-lease-title">
            <h2 id="without-lease-title">{labels().held_without_lease}</h2>
            <p class="muted">{labels().held_without_lease_intro}</p>
            <table class="table" data-testid="without-lease">
                <thead><tr>
                    <th scope="col">{labels().account}</th><th scope="col">{labels().access}</th>
                    <th scope="col">{labels().finding_kind}</th><th scope="col">{labels().seen_from}</th>
                    <th scope="col">{labels().seen_until}</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|h| {
                        let name = if h.account_label.is_empty() { h.account_ref.clone() } else { h.account_label.clone() };
                        let person = match (h.holder_id, h.holder) {
                            (Some(id), Some(holder)) => view! { <br/><a href=format!("/governance/people/{id}") translate="no">{holder}</a> }.into_any(),
                            _ => ().into_any(),
                        };
                        view! {
                            <tr>
                                <td><span translate="no">{name}</span>{person}</td>
                                <td translate="no">{h.entitlement}<br/><span class="muted">{h.entitlement_key}</span></td>
                                <td>{match h.kind {
                                    Some(kind) => finding_kind_in(lang::current(), kind),
                                    None => labels().declared_standing,
                                }}</td>
                                <td><Time at=h.from/></td>
                                <td>{match h.until {
                                    Some(at) => view! { <Time at/>{h.closed_reason.map(|r| view! { <br/><span class="muted">{closure_in(lang::current(), r)}</span> })} }.into_any(),
                                    None => view! { <strong>{labels().still_held}</strong> }.into_any(),
                                }}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            <p><a href="/governance/findings">{labels().open_findings}</a></p>
        </section>
    }
}

fn ended(reason: RevokeReason) -> &'static str {
    match reason {
        RevokeReason::Expired => labels().ended_expired,
        RevokeReason::Returned => labels().ended_returned,
        RevokeReason::Revoked => labels().ended_revoked,
        RevokeReason::Offboarding => labels().ended_offboarding,
    }
}

/// The reason and the button that take one live lease away.
#[component]
fn TakeAway(holding: Holding, revoke: ServerAction<RevokeLease>) -> impl IntoView {
    let reason_id = format!("reason-{}", holding.grant_id);
    let name = (labels().take_away_named)(&holding.holder, &holding.entitlement);
    view! {
        <details class="confirm">
            <summary class="button" aria-label=name.clone()>{labels().take_away}</summary>
            <ActionForm action=revoke>
                <input type="hidden" name="grant_id" value=holding.grant_id.to_string()/>
                <label for=reason_id.clone()>{labels().take_away_reason}</label>
                <textarea id=reason_id name="reason" rows="3" required minlength="10" maxlength="1000" dir="auto"></textarea>
                <div class="actions">
                    <button type="submit" class="button danger" aria-label=name>{labels().take_away}</button>
                </div>
            </ActionForm>
        </details>
    }
}

/// Every live lease of one person, taken away at once.
#[component]
fn Contain(id: uuid::Uuid, name: String, contain: ServerAction<ContainAccount>) -> impl IntoView {
    view! {
        <section aria-labelledby="contain-title" class="card notice error wide">
            <h2 id="contain-title">{labels().contain_title}</h2>
            <p translate="no">{(labels().contain_intro)(&name)}</p>
            <ActionForm action=contain>
                <input type="hidden" name="person_id" value=id.to_string()/>
                <label for="contain-reason">{labels().take_away_reason}</label>
                <textarea id="contain-reason" name="reason" rows="2" required minlength="10" maxlength="1000" dir="auto"></textarea>
                <div class="actions">
                    <button type="submit" class="button danger">{labels().contain_button}</button>
                </div>
            </ActionForm>
        </section>
    }
}
