//! Shadow access and drift: what reconciliation found in the target systems beyond (or short
//! of) the leases, each entry's last pass, and the standing holders owners declared.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::findings::{
    AddressQuery as _, Declaration, DeclareStanding, Finding, FindingQuery, Findings, Pass,
    ReconcileNow, Reconciled, RemoveFinding, WithdrawDeclaration, list_findings,
};
use crate::domain::reconcile::{FindingAction, FindingKind};
use crate::text::{closure_in, finding_kind_in, labels, lang};

use crate::ui::components::back::BackToArea;
use crate::ui::components::notice::ErrorNotice;
use crate::ui::components::page_title::PageTitle;
use crate::ui::components::time::{Time, utc_offset};

#[component]
pub fn FindingsPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(|p| FindingQuery::from_params(|name| p.get(name))));
    let reconcile = ServerAction::<ReconcileNow>::new();
    let declare = ServerAction::<DeclareStanding>::new();
    let withdraw = ServerAction::<WithdrawDeclaration>::new();
    let remove = ServerAction::<RemoveFinding>::new();
    let answer = Resource::new(
        move || {
            (
                query.get(),
                reconcile.version().get(),
                declare.version().get(),
                withdraw.version().get(),
                remove.version().get(),
            )
        },
        |(query, ..)| list_findings(query),
    );
    let value = move |name: &'static str| move || params.with(|p| p.get(name).unwrap_or_default());
    let outcome = move || {
        reconcile
            .value()
            .get()
            .map(|r| r.map(|done| reconciled(&done)))
            .or_else(|| {
                declare
                    .value()
                    .get()
                    .map(|r| r.map(|()| labels().declared.into()))
            })
            .or_else(|| {
                withdraw
                    .value()
                    .get()
                    .map(|r| r.map(|()| labels().withdrawn.into()))
            })
            .or_else(|| {
                remove.value().get().map(|r| {
                    r.map(|gone| {
                        if gone {
                            labels().removed_read_back.into()
                        } else {
                            labels().remove_not_confirmed.into()
                        }
                    })
                })
            })
    };
    view! {
        <PageTitle text=labels().findings_title/>
        <p class="breadcrumb"><BackToArea/> " / " {labels().findings_title}</p>
        <h1>{labels().findings_title}</h1>
        <p>{labels().findings_intro}</p>
        <Form method="GET" action="/governance/findings" attr:class="event-search" attr:role="search" attr:aria-label=labels().findings_title>
            <div class="field">
                <label for="findings-state">{labels().findings_state}</label>
                <select id="findings-state" name="state">
                    <option value="open" selected=move || matches!(value("state")().as_str(), "" | "open")>{labels().findings_open}</option>
                    <option value="closed" selected=move || value("state")() == "closed">{labels().findings_closed}</option>
                    <option value="all" selected=move || value("state")() == "all">{labels().findings_all}</option>
                </select>
            </div>
            <div class="field">
                <label for="findings-entitlement">{labels().findings_entry}</label>
                <input id="findings-entitlement" name="entitlement" type="search" maxlength="100" prop:value=value("entitlement") value=value("entitlement")/>
            </div>
            <div class="actions">
                <button type="submit" class="button primary">{labels().show}</button>
                <a class="button subtle" href="/governance/findings">{labels().clear_search}</a>
            </div>
        </Form>
        {move || outcome().map(|result| match result {
            Ok(message) => view! { <div class="card notice success" role="status"><p>{message}</p></div> }.into_any(),
            Err(error) => view! { <ErrorNotice error/> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
            {move || Suspend::new(async move {
                match answer.await {
                    Ok(found) => view! { <Answer found reconcile declare withdraw remove/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn reconciled(done: &Reconciled) -> String {
    if done.queued > 0 {
        (labels().reconcile_queued)(done.queued)
    } else if done.failed > 0 {
        labels().reconcile_failed.into()
    } else {
        (labels().reconciled)(done.opened, done.closed, done.removed)
    }
}

#[component]
fn Answer(
    found: Findings,
    reconcile: ServerAction<ReconcileNow>,
    declare: ServerAction<DeclareStanding>,
    withdraw: ServerAction<WithdrawDeclaration>,
    remove: ServerAction<RemoveFinding>,
) -> impl IntoView {
    let Findings {
        rows,
        more,
        passes,
        declarations,
        may_reconcile,
        may_declare,
        me,
        people_links,
    } = found;
    let may_remove = may_reconcile;
    view! {
        <section aria-labelledby="findings-list">
            <h2 id="findings-list">{labels().findings_state}</h2>
            {more.then(|| view! { <p class="card notice" role="status">{labels().findings_more}</p> })}
            {if rows.is_empty() {
                view! { <p class="empty">{labels().findings_none}</p> }.into_any()
            } else {
                view! { <Rows rows may_declare may_remove me people_links declare remove/> }.into_any()
            }}
        </section>
        <section aria-labelledby="declarations-title">
            <h2 id="declarations-title">{labels().declarations_title}</h2>
            {if declarations.is_empty() {
                view! { <p class="empty">{labels().declarations_none}</p> }.into_any()
            } else {
                view! { <Declarations declarations withdraw/> }.into_any()
            }}
        </section>
        <section aria-labelledby="passes-title">
            <h2 id="passes-title">{labels().passes_title}</h2>
            {may_reconcile.then(|| view! {
                <ActionForm action=reconcile>
                    <input type="hidden" name="entitlement" value=""/>
                    <button type="submit" class="button">{labels().reconcile_all}</button>
                </ActionForm>
            })}
            <Passes passes may_reconcile reconcile/>
        </section>
    }
}

#[component]
fn Rows(
    rows: Vec<Finding>,
    may_declare: Vec<String>,
    may_remove: bool,
    /// The caller: nobody declares their own access.
    me: uuid::Uuid,
    /// Whether the caller may open the people pages (the governance roles).
    people_links: bool,
    declare: ServerAction<DeclareStanding>,
    remove: ServerAction<RemoveFinding>,
) -> impl IntoView {
    // Keyed rows: a row acted on leaves, and the others keep their own (closed) forms.
    view! {
        <table class="table" data-testid="findings">
            <thead><tr>
                <th scope="col">{labels().finding_kind}</th><th scope="col">{labels().account}</th>
                <th scope="col">{labels().access}</th><th scope="col">{labels().first_seen}</th>
                <th scope="col">{labels().last_seen}</th><th scope="col">{labels().what_was_done}</th>
                <th scope="col">{labels().actions}</th>
            </tr></thead>
            <tbody>
                <For each=move || rows.clone() key=|f| f.id children=move |f| {
                    let open = f.closed_at.is_none();
                    let held = f.kind != FindingKind::DriftAbsent;
                    let own = f.holder_id == Some(me);
                    let name = if f.account_label.is_empty() { f.account_ref.clone() } else { f.account_label.clone() };
                    let can_declare = open && held && !own && may_declare.contains(&f.entitlement_key);
                    let can_remove = open && held && !own && may_remove;
                    let person = match (f.holder_id, f.holder.clone()) {
                        (Some(id), Some(holder)) if people_links => view! { <a href=format!("/governance/people/{id}") translate="no">{holder}</a> }.into_any(),
                        (Some(_), Some(holder)) => view! { <span translate="no">{holder}</span> }.into_any(),
                        _ => view! { <span class="muted">{labels().unknown_person}</span> }.into_any(),
                    };
                    let pill = if open { "pill pill-failed" } else { "pill pill-revoked" };
                    view! {
                        <tr>
                            <td><span class=pill>{finding_kind_in(lang::current(), f.kind)}</span></td>
                            <td><span translate="no">{name.clone()}</span><br/><span class="muted mono" translate="no">{f.account_ref.clone()}</span><br/>{person}</td>
                            <td translate="no">{f.entitlement.clone()}<br/><span class="muted">{f.entitlement_key.clone()}{" · "}{f.system.clone()}</span></td>
                            <td><Time at=f.first_seen/></td>
                            <td><Time at=f.last_seen/></td>
                            <td><Done finding=f.clone()/></td>
                            <td>
                                {can_declare.then(|| view! { <Declare finding=f.id name=name.clone() declare/> })}
                                {can_remove.then(|| view! { <Remove finding=f.id name=name.clone() remove/> })}
                            </td>
                        </tr>
                    }
                }/>
            </tbody>
        </table>
    }
}

/// What happened to a finding: what the portal did, and how it closed.
#[component]
fn Done(finding: Finding) -> impl IntoView {
    let action = match finding.action {
        FindingAction::Reported => labels().finding_reported,
        FindingAction::Removed => labels().finding_removed,
        FindingAction::RemoveFailed => labels().finding_remove_failed,
    };
    let by = match (&finding.action, finding.acted_by.clone()) {
        (FindingAction::Reported, _) => None,
        (_, Some(who)) => Some(who),
        (_, None) => Some(labels().by_policy.to_string()),
    };
    view! {
        <span>{action}</span>
        {by.map(|by| view! { " " <span class="muted" translate="no">{by}</span> })}
        {finding.acted_at.map(|at| view! { <br/><Time at/> })}
        {finding.last_error.clone().filter(|_| finding.action == FindingAction::RemoveFailed).map(|e| view! { <br/><span class="muted">{e}</span> })}
        {finding.closed_reason.map(|reason| view! {
            <br/><strong>{labels().findings_closed}</strong>": " {closure_in(lang::current(), reason)}
        })}
    }
}

#[component]
fn Declare(
    finding: uuid::Uuid,
    name: String,
    declare: ServerAction<DeclareStanding>,
) -> impl IntoView {
    let reason_id = format!("declare-reason-{finding}");
    let until_id = format!("declare-until-{finding}");
    let offset = utc_offset();
    let named = (labels().declare_named)(&name);
    view! {
        <details class="confirm">
            <summary class="button" aria-label=named.clone()>{labels().declare}</summary>
            <ActionForm action=declare>
                <input type="hidden" name="finding_id" value=finding.to_string()/>
                <input type="hidden" name="offset" prop:value=move || offset.get().to_string()/>
                <label for=reason_id.clone()>{labels().declare_reason}</label>
                <textarea id=reason_id name="reason" rows="2" required minlength="10" maxlength="1000" dir="auto"></textarea>
                <label for=until_id.clone()>{labels().declare_until}</label>
                <input id=until_id name="until" type="date" required/>
                <div class="actions">
                    <button type="submit" class="button primary" aria-label=named>{labels().declare}</button>
                </div>
            </ActionForm>
        </details>
    }
}

#[component]
fn Remove(finding: uuid::Uuid, name: String, remove: ServerAction<RemoveFinding>) -> impl IntoView {
    let named = (labels().remove_now_named)(&name);
    view! {
        <ActionForm action=remove>
            <input type="hidden" name="finding_id" value=finding.to_string()/>
            <button type="submit" class="button danger" aria-label=named>{labels().remove_now}</button>
        </ActionForm>
    }
}

#[component]
fn Declarations(
    declarations: Vec<Declaration>,
    withdraw: ServerAction<WithdrawDeclaration>,
) -> impl IntoView {
    view! {
        <table class="table" data-testid="declarations">
            <thead><tr>
                <th scope="col">{labels().account}</th><th scope="col">{labels().access}</th>
                <th scope="col">{labels().reason}</th><th scope="col">{labels().seen_until}</th>
                <th scope="col">{labels().declared_by}</th><th scope="col">{labels().actions}</th>
            </tr></thead>
            <tbody>
                {declarations.into_iter().map(|d| {
                    let name = if d.account_label.is_empty() { d.account_ref.clone() } else { d.account_label.clone() };
                    view! {
                        <tr>
                            <td translate="no">{name.clone()}<br/><span class="muted mono">{d.account_ref}</span></td>
                            <td translate="no">{d.entitlement}<br/><span class="muted">{d.entitlement_key}</span></td>
                            <td dir="auto">{d.reason}</td>
                            <td><Time at=d.until/></td>
                            <td translate="no">{d.declared_by}<br/><Time at=d.declared_at/></td>
                            <td>
                                <ActionForm action=withdraw>
                                    <input type="hidden" name="declaration_id" value=d.id.to_string()/>
                                    <button type="submit" class="button" aria-label=(labels().withdraw_named)(&name)>{labels().withdraw}</button>
                                </ActionForm>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Passes(
    passes: Vec<Pass>,
    may_reconcile: bool,
    reconcile: ServerAction<ReconcileNow>,
) -> impl IntoView {
    view! {
        <table class="table" data-testid="passes">
            <thead><tr>
                <th scope="col">{labels().access}</th><th scope="col">{labels().system}</th>
                <th scope="col">{labels().last_pass}</th><th scope="col">{labels().holders_listed}</th>
                <th scope="col">{labels().state}</th>
                {may_reconcile.then(|| view! { <th scope="col">{labels().actions}</th> })}
            </tr></thead>
            <tbody>
                {passes.into_iter().map(|p| {
                    let state = match &p.last_error {
                        Some(_) if !p.readable => view! { <span class="muted">{labels().pass_unreadable}</span> }.into_any(),
                        Some(why) => view! { <span class="pill pill-failed">{(labels().pass_failed)(why)}</span> }.into_any(),
                        None if p.last_ok_at.is_some() => view! { <span class="pill pill-active">{labels().pass_ok}</span> }.into_any(),
                        None => view! { <span class="muted">{labels().never}</span> }.into_any(),
                    };
                    let named = (labels().reconcile_entry_named)(&p.entitlement);
                    view! {
                        <tr>
                            <td translate="no">{p.entitlement.clone()}<br/><span class="muted">{p.entitlement_key.clone()}</span></td>
                            <td translate="no">{p.system}</td>
                            <td>{match p.last_pass_at {
                                Some(at) => view! { <Time at/> }.into_any(),
                                None => view! { <span class="muted">{labels().never}</span> }.into_any(),
                            }}
                            {p.last_complete_at.filter(|at| Some(*at) != p.last_pass_at).map(|at| view! {
                                <br/><span class="muted">{labels().read_in_full}" "<Time at/></span>
                            })}</td>
                            <td>{p.holders.map(|n| n.to_string()).unwrap_or_default()}</td>
                            <td>{state}</td>
                            {may_reconcile.then(|| view! {
                                <td>
                                    <ActionForm action=reconcile>
                                        <input type="hidden" name="entitlement" value=p.entitlement_key.clone()/>
                                        <button type="submit" class="button" aria-label=named>{labels().reconcile_entry}</button>
                                    </ActionForm>
                                </td>
                            })}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
