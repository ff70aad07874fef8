//! The governance dashboard: the estate at a glance, over a range and narrowed by system, entry
//! and department (kept in the address). Charts are SVG drawn on the server, each with its
//! figures as a table beside it.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::dashboard::{
    AddressQuery as _, Dashboard, DashboardQuery, RANGES, SystemHealth, governance_dashboard,
};
use crate::domain::role::can_view_governance;
use crate::text::{labels, span};
use crate::ui::components::chart::{self, Series};
use crate::ui::components::notice::ErrorNotice;
use crate::ui::components::page_title::PageTitle;
use crate::ui::components::require_area::RequireArea;
use crate::ui::components::time::Time;

#[component]
pub fn DashboardPage() -> impl IntoView {
    view! {
        <PageTitle text=labels().dashboard_title/>
        <RequireArea allowed=can_view_governance>
            <p class="breadcrumb"><a href="/governance">{labels().nav_governance}</a> " / " {labels().dashboard_title}</p>
            <h1>{labels().dashboard_title}</h1>
            <p>{labels().dashboard_intro}</p>
            <Figures/>
        </RequireArea>
    }
}

#[component]
fn Figures() -> impl IntoView {
    let params = use_query_map();
    let query =
        Memo::new(move |_| params.with(|p| DashboardQuery::from_params(|name| p.get(name))));
    let answer = Resource::new(move || query.get(), governance_dashboard);
    view! {
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                let query = query.get_untracked();
                match answer.await {
                    Ok(board) => view! { <Filters query=query.clone() board=board.clone()/><Board board/> }.into_any(),
                    Err(error) => view! {
                        <ErrorNotice error/>
                        <p><a class="button subtle" href="/governance/dashboard">{labels().clear_search}</a></p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The range and the filters, as a form whose fields stand in the address.
#[component]
fn Filters(query: DashboardQuery, board: Dashboard) -> impl IntoView {
    let days = board.days;
    let system = query.system.trim().to_string();
    let department = query.department.trim().to_string();
    view! {
        <Form method="GET" action="/governance/dashboard" attr:class="event-search" attr:role="search" attr:aria-label=labels().dashboard_title>
            <div class="field">
                <label for="dashboard-days">{labels().dashboard_range}</label>
                <select id="dashboard-days" name="days">
                    {RANGES.into_iter().map(|n| view! {
                        <option value=n.to_string() selected={n == days}>{(labels().last_days)(n)}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="dashboard-system">{labels().filter_system}</label>
                <select id="dashboard-system" name="system">
                    <option value="" selected=system.is_empty()>{labels().any_system}</option>
                    {board.system_names.into_iter().map(|name| {
                        let chosen = name == system;
                        let shown = name.clone();
                        view! { <option value=name selected=chosen translate="no">{shown}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="dashboard-entitlement">{labels().findings_entry}</label>
                <input id="dashboard-entitlement" name="entitlement" type="text" autocomplete="off"
                    spellcheck="false" value=query.entitlement.trim().to_string()/>
            </div>
            <div class="field">
                <label for="dashboard-department">{labels().filter_department}</label>
                <select id="dashboard-department" name="department">
                    <option value="" selected=department.is_empty()>{labels().any_department}</option>
                    {board.departments.into_iter().map(|name| {
                        let chosen = name == department;
                        let shown = name.clone();
                        view! { <option value=name selected=chosen>{shown}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="actions">
                <button type="submit" class="button primary">{labels().show_dashboard}</button>
                <a class="button subtle" href="/governance/dashboard">{labels().clear_search}</a>
            </div>
        </Form>
    }
}

#[component]
fn Board(board: Dashboard) -> impl IntoView {
    let Dashboard {
        days,
        live_leases,
        days_series,
        approval,
        most_requested,
        removals,
        removal_grace_seconds,
        findings,
        reviews_due,
        systems,
        ..
    } = board;
    let approval_text = match (approval.median_seconds, approval.p90_seconds) {
        (Some(median), Some(p90)) => {
            (labels().approval_figures)(&span(median), &span(p90), approval.approved)
        }
        _ => labels().approval_none.to_string(),
    };
    let alert = |n: i64| {
        if n > 0 {
            "card tile alert"
        } else {
            "card tile"
        }
    };
    let removals_chart = chart::bars(
        labels().removals_title,
        &[
            (labels().removals_on_time.to_string(), removals.on_time),
            (labels().removals_late.to_string(), removals.late),
            (
                labels().removals_overdue_now.to_string(),
                removals.overdue_now,
            ),
        ],
    );
    view! {
        <div class="tiles stats" data-testid="dashboard-tiles">
            <div class="card tile"><p class="stat" data-testid="live-leases">{live_leases}</p><p>{labels().live_leases}</p></div>
            <div class="card tile">
                <p class="stat">{approval.median_seconds.map(span).unwrap_or_else(|| "–".into())}</p>
                <p>{labels().approval_time}</p>
            </div>
            <div class=alert(removals.overdue_now)><p class="stat">{removals.overdue_now}</p><p>{labels().removals_overdue_now}</p></div>
            <div class=alert(findings.open_shadow)><p class="stat" data-testid="open-shadow">{findings.open_shadow}</p><p>{labels().open_shadow}</p></div>
            <div class=alert(findings.open_drift)><p class="stat">{findings.open_drift}</p><p>{labels().open_drift}</p></div>
            <div class=alert(reviews_due)><p class="stat">{reviews_due}</p><p>{labels().reviews_due}</p></div>
        </div>
        <p class="muted">{approval_text}" "{(labels().findings_in_range)(findings.opened, findings.closed)}</p>
        <RequestsByDay days days_series/>
        <MostRequested days most_requested/>
        <section aria-labelledby="removals-title">
            <h2 id="removals-title">{labels().removals_title}</h2>
            <p class="muted">{(labels().removals_explained)(&span(removal_grace_seconds as f64))}</p>
            <div class="chart-box" inner_html=removals_chart></div>
            <table class="table compact" data-testid="removals">
                <tbody>
                    <tr><th scope="row">{labels().removals_on_time}</th><td>{removals.on_time}</td></tr>
                    <tr><th scope="row">{labels().removals_late}</th><td>{removals.late}</td></tr>
                    <tr><th scope="row">{labels().removals_overdue_now}</th><td>{removals.overdue_now}</td></tr>
                </tbody>
            </table>
        </section>
        <Systems systems/>
    }
}

#[component]
fn RequestsByDay(days: i64, days_series: Vec<crate::api::dashboard::Day>) -> impl IntoView {
    let dates: Vec<String> = days_series
        .iter()
        .map(|d| d.day.format("%m-%d").to_string())
        .collect();
    let pick = |f: fn(&crate::api::dashboard::Day) -> i64| -> Vec<i64> {
        days_series.iter().map(f).collect()
    };
    let series = [
        Series {
            name: labels().outcome_approved,
            class: "s-approved",
            values: pick(|d| d.approved),
        },
        Series {
            name: labels().outcome_denied,
            class: "s-denied",
            values: pick(|d| d.denied),
        },
        Series {
            name: labels().outcome_waiting,
            class: "s-waiting",
            values: pick(|d| d.pending),
        },
        Series {
            name: labels().outcome_other,
            class: "s-other",
            values: pick(|d| d.other),
        },
    ];
    let svg = chart::columns(&(labels().requests_chart)(days), &dates, &series, 8);
    let legend = series
        .iter()
        .map(|s| view! { <li><span class=format!("swatch {}", s.class) aria-hidden="true"></span>{s.name}</li> })
        .collect_view();
    let rows = days_series
        .iter()
        .filter(|d| d.submitted() > 0)
        .map(|d| view! {
            <tr>
                <th scope="row">{d.day.to_string()}</th><td>{d.submitted()}</td><td>{d.approved}</td>
                <td>{d.denied}</td><td>{d.pending}</td><td>{d.other}</td>
            </tr>
        })
        .collect_view();
    let any = days_series.iter().any(|d| d.submitted() > 0);
    view! {
        <section aria-labelledby="requests-title">
            <h2 id="requests-title">{labels().requests_by_day}</h2>
            <div class="chart-box" inner_html=svg></div>
            <ul class="legend">{legend}</ul>
            <p class="muted">{labels().days_in_utc}</p>
            {if any {
                view! {
                    <details>
                        <summary>{labels().as_table}</summary>
                        <table class="table" data-testid="requests-by-day">
                            <thead><tr>
                                <th scope="col">{labels().day_column}</th><th scope="col">{labels().submitted_column}</th>
                                <th scope="col">{labels().outcome_approved}</th><th scope="col">{labels().outcome_denied}</th>
                                <th scope="col">{labels().outcome_waiting}</th><th scope="col">{labels().outcome_other}</th>
                            </tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </details>
                }.into_any()
            } else {
                view! { <p class="empty">{labels().no_requests}</p> }.into_any()
            }}
        </section>
    }
}

#[component]
fn MostRequested(
    days: i64,
    most_requested: Vec<crate::api::dashboard::Requested>,
) -> impl IntoView {
    let bars: Vec<(String, i64)> = most_requested
        .iter()
        .map(|r| (r.name.clone(), r.requests))
        .collect();
    let svg = chart::bars(&(labels().most_requested_chart)(days), &bars);
    view! {
        <section aria-labelledby="top-title">
            <h2 id="top-title">{labels().most_requested}</h2>
            {if most_requested.is_empty() {
                view! { <p class="empty">{labels().no_requests}</p> }.into_any()
            } else {
                view! {
                    <div class="chart-box" inner_html=svg></div>
                    <table class="table compact" data-testid="most-requested">
                        <thead><tr><th scope="col">{labels().entry_column}</th><th scope="col">{labels().requests_column}</th></tr></thead>
                        <tbody>
                            {most_requested.into_iter().map(|r| view! {
                                <tr>
                                    <td><a href=format!("/governance/dashboard?entitlement={}", r.key) translate="no">{r.name}</a></td>
                                    <td>{r.requests}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Systems(systems: Vec<SystemHealth>) -> impl IntoView {
    view! {
        <section aria-labelledby="systems-title">
            <h2 id="systems-title">{labels().systems_title}</h2>
            <table class="table" data-testid="systems">
                <thead><tr>
                    <th scope="col">{labels().name}</th><th scope="col">{labels().health}</th>
                    <th scope="col">{labels().checked_column}</th><th scope="col">{labels().live_column}</th>
                    <th scope="col">{labels().failing_column}</th>
                </tr></thead>
                <tbody>
                    {systems.into_iter().map(|s| {
                        let (class, word) = match s.health.as_str() {
                            "healthy" => ("active", labels().healthy),
                            "down" => ("failed", labels().down),
                            _ => ("pending", labels().unknown),
                        };
                        view! {
                            <tr>
                                <td translate="no">{s.name}</td>
                                <td>
                                    <span class=format!("pill pill-{class}")>{word}</span>
                                    {s.detail.map(|d| view! { <span class="muted" dir="auto">{format!(" {d}")}</span> })}
                                </td>
                                <td>{match s.checked_at {
                                    Some(at) => view! { <Time at/> }.into_any(),
                                    None => labels().never_checked.into_any(),
                                }}</td>
                                <td>{s.live}</td>
                                <td>{s.failing_entries}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
