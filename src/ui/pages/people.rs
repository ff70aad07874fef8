//! People, for administrators and auditors: a searchable list, and each person's accounts in
//! every system, managers, reports, leases and history.

use crate::ui::components::page_title::PageTitle;
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::api::people::{PersonDetail, PersonLink, PersonRow, Standing, find_people, get_person};
use crate::api::url_escape;
use crate::domain::role::can_view_governance;
use crate::text::labels;
use crate::ui::components::notice::ErrorNotice;
use crate::ui::components::pill::StatePill;
use crate::ui::components::require_area::RequireArea;
use crate::ui::components::time::Time;
use crate::ui::pages::governance::Events;

#[component]
pub fn PeoplePage() -> impl IntoView {
    view! {
        <PageTitle text=labels().people_title/>
        <RequireArea allowed=can_view_governance>
            <p class="breadcrumb"><a href="/governance">{labels().nav_governance}</a> " / " {labels().people_title}</p>
            <h1>{labels().people_title}</h1>
            <p>{labels().people_intro}</p>
            <PeopleList/>
        </RequireArea>
    }
}

#[component]
fn PeopleList() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let people = Resource::new(q, find_people);
    let navigate = use_navigate();
    let on_input = move |ev: leptos::ev::Event| {
        let encoded = url_escape(&event_target_value(&ev));
        navigate(
            &format!("/governance/people?q={encoded}"),
            leptos_router::NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    };
    view! {
        <Form method="GET" action="/governance/people" attr:class="search" attr:role="search">
            <label for="people-search">{labels().people_search}</label>
            <input id="people-search" type="search" name="q" maxlength="200" prop:value=q on:input=on_input/>
            <button type="submit" class="button">{labels().search}</button>
        </Form>
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                match people.await {
                    Ok(list) if list.is_empty() => view! { <p>{labels().people_none}</p> }.into_any(),
                    Ok(list) => view! { <PeopleTable list/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn PeopleTable(list: Vec<PersonRow>) -> impl IntoView {
    view! {
        <table class="table">
            <thead><tr>
                <th scope="col">{labels().name}</th><th scope="col">{labels().department}</th>
                <th scope="col">{labels().person_standing}</th><th scope="col">{labels().live_leases}</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|p| view! {
                    <tr>
                        <td>
                            <a href=format!("/governance/people/{}", p.id) translate="no">{p.display_name.clone()}</a>
                            <br/><span class="muted" translate="no">{p.upn.clone()}</span>
                        </td>
                        <td translate="no">
                            {p.department.clone().unwrap_or_default()}
                            {p.job_title.clone().map(|t| view! { <br/><span class="muted">{t}</span> })}
                        </td>
                        <td><StandingWords standing=p.standing guest=p.guest/></td>
                        <td>{p.live_leases}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn StandingWords(standing: Standing, guest: bool) -> impl IntoView {
    let (class, words) = match standing {
        Standing::Active => ("pill pill-active", labels().standing_active),
        Standing::Barred => ("pill pill-failed", labels().standing_barred),
        Standing::Left => ("pill pill-expired", labels().standing_left),
    };
    view! {
        <span class=class>{words}</span>
        {guest.then(|| view! { " " <span class="tag">{labels().guest}</span> })}
    }
}

#[component]
pub fn PersonPage() -> impl IntoView {
    view! {
        <PageTitle text=labels().people_title/>
        <RequireArea allowed=can_view_governance>
            <PersonData/>
        </RequireArea>
    }
}

#[component]
fn PersonData() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let detail = Resource::new(id, get_person);
    view! {
        <p class="breadcrumb">
            <a href="/governance">{labels().nav_governance}</a> " / "
            <a href="/governance/people">{labels().people_title}</a>
        </p>
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <PersonView detail=d/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn PersonView(detail: PersonDetail) -> impl IntoView {
    let PersonDetail {
        person,
        left_at,
        synced_at,
        last_sign_in_at,
        accounts,
        managers,
        reports,
        leases,
        events,
    } = detail;
    let id = person.id;
    view! {
        <h1 translate="no">{person.display_name.clone()}</h1>
        <p class="report-actions"><crate::ui::components::print::PrintButton/></p>
        <p class="print-only muted">{labels().printed_note}</p>
        <dl class="facts">
            <dt>{labels().sign_in_name}</dt><dd translate="no">{person.upn.clone()}</dd>
            <dt>{labels().person_standing}</dt><dd><StandingWords standing=person.standing guest=person.guest/></dd>
            {left_at.map(|at| view! { <dt>{labels().left_on}</dt><dd><Time at/></dd> })}
            <dt>{labels().department}</dt><dd translate="no">{person.department.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>{labels().job_title}</dt><dd translate="no">{person.job_title.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>{labels().managers}</dt><dd><Links people=managers separator=" → "/></dd>
            <dt>{labels().reports}</dt><dd><Links people=reports separator=", "/></dd>
            <dt>{labels().last_synced}</dt>
            <dd>{match synced_at { Some(at) => view! { <Time at/> }.into_any(), None => labels().not_synced.into_any() }}</dd>
            <dt>{labels().last_sign_in}</dt>
            <dd>{match last_sign_in_at { Some(at) => view! { <Time at/> }.into_any(), None => labels().never.into_any() }}</dd>
        </dl>
        <section aria-labelledby="accounts-title">
            <h2 id="accounts-title">{labels().accounts}</h2>
            <table class="table">
                <thead><tr>
                    <th scope="col">{labels().people_source}</th><th scope="col">{labels().account}</th>
                    <th scope="col">{labels().person_standing}</th><th scope="col">{labels().last_synced}</th>
                </tr></thead>
                <tbody>
                    {accounts.into_iter().map(|a| view! {
                        <tr>
                            <td translate="no">{a.connector}</td>
                            <td translate="no">
                                {crate::text::short_dn(&a.reference)}
                                {a.upn.map(|u| view! { <br/><span class="muted">{u}</span> })}
                            </td>
                            <td>{match (a.gone_at, a.enabled) {
                                (Some(_), _) => labels().account_deleted,
                                (None, Some(false)) => labels().account_disabled,
                                (None, Some(true)) => labels().account_enabled,
                                (None, None) => labels().account_unknown,
                            }}</td>
                            <td>{match a.synced_at { Some(at) => view! { <Time at/> }.into_any(), None => labels().not_synced.into_any() }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
        <section aria-labelledby="leases-title">
            <h2 id="leases-title">{labels().leases}</h2>
            {if leases.is_empty() {
                view! { <p>{labels().no_leases}</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <thead><tr>
                            <th scope="col">{labels().entry}</th><th scope="col">{labels().state}</th>
                            <th scope="col">{labels().lease_from}</th><th scope="col">{labels().lease_until}</th>
                            <th scope="col">{labels().request}</th>
                        </tr></thead>
                        <tbody>
                            {leases.into_iter().map(|l| view! {
                                <tr>
                                    <td translate="no">{l.entitlement}</td>
                                    <td>
                                        <StatePill state=l.state/>
                                        {l.revoke_reason.map(|r| view! { " " <span class="muted">{crate::text::revoke_reason(&r)}</span> })}
                                    </td>
                                    <td><Time at=l.starts_at/></td>
                                    <td><Time at=l.ends_at/></td>
                                    <td>{l.request_id.map(|id| view! { <a href=format!("/governance/requests/{id}")>{labels().trail}</a> })}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="history-title">
            <h2 id="history-title">{labels().history}</h2>
            {if events.is_empty() {
                view! { <p>{labels().person_no_history}</p> }.into_any()
            } else {
                view! { <Events events/> }.into_any()
            }}
            <p><a href=format!("/governance?person={id}")>{labels().search_history}</a></p>
            <p><a href=format!("/governance/access?person={id}")>{labels().held_by_person}</a></p>
        </section>
    }
}

#[component]
fn Links(people: Vec<PersonLink>, separator: &'static str) -> impl IntoView {
    if people.is_empty() {
        return view! { "—" }.into_any();
    }
    let last = people.len() - 1;
    people
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            view! {
                <a href=format!("/governance/people/{}", p.id) translate="no">{p.display_name}</a>
                {(i < last).then_some(separator)}
            }
        })
        .collect_view()
        .into_any()
}
