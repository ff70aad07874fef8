use leptos::prelude::*;

use crate::text::labels;
use crate::ui::components::page_title::PageTitle;

use crate::api::admin::{
    AdminEntitlement, AdminOverview, AdminPolicy, AdoptContractorUser, ApproveCatalogChange,
    CloseStoppedContractor, EditEntitlement, EditPolicy, MailOverview, PendingChange,
    PeopleSourceView, RejectCatalogChange, ReloadCatalog, ResolveRemoval, SetEntitlementEnabled,
    StoppedContractor, StuckRemoval, SyncPeople, get_admin_overview, get_jobs, get_mail_overview,
};
use crate::domain::grant::Attention;
use crate::domain::health::ConnectorHealth;
use crate::domain::role::can_administer;
use crate::ui::components::notice::ErrorNotice;
use crate::ui::components::require_area::RequireArea;

/// Connectors with their health, the catalog as stored, and reloading it from its file.
#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <PageTitle text=labels().nav_admin/>
        <RequireArea allowed=can_administer>
            <h1>{labels().nav_admin}</h1>
            <AdminData/>
            <MailDelivery/>
            <BackgroundJobs/>
        </RequireArea>
    }
}

#[component]
fn AdminData() -> impl IntoView {
    let actions = Actions {
        reload: ServerAction::new(),
        toggle: ServerAction::new(),
        edit_entitlement: ServerAction::new(),
        edit_policy: ServerAction::new(),
        resolve: ServerAction::new(),
        approve_change: ServerAction::new(),
        reject_change: ServerAction::new(),
        sync_people: ServerAction::new(),
        adopt: ServerAction::new(),
        close_contractor: ServerAction::new(),
    };
    let data = Resource::new(
        move || {
            (
                actions.reload.version().get(),
                actions.toggle.version().get(),
                actions.edit_entitlement.version().get(),
                actions.edit_policy.version().get(),
                actions.resolve.version().get(),
                actions.approve_change.version().get(),
                actions.reject_change.version().get(),
                actions.sync_people.version().get(),
                actions.adopt.version().get(),
                actions.close_contractor.version().get(),
            )
        },
        |_| get_admin_overview(),
    );
    let outcome = move || {
        actions
            .reload
            .value()
            .get()
            .or_else(|| actions.toggle.value().get())
            .or_else(|| actions.edit_entitlement.value().get())
            .or_else(|| actions.edit_policy.value().get())
            .or_else(|| actions.resolve.value().get())
            .or_else(|| actions.approve_change.value().get())
            .or_else(|| actions.reject_change.value().get())
            .or_else(|| actions.sync_people.value().get())
            .or_else(|| actions.adopt.value().get())
            .or_else(|| actions.close_contractor.value().get())
    };
    view! {
        {move || outcome().map(|result| match result {
            Ok(message) => view! { <div class="card notice success" role="status"><p>{message}</p></div> }.into_any(),
            Err(e) => view! { <div class="card notice error" role="alert"><p class="pre">{e.to_string()}</p></div> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().checking_connectors}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <Overview data actions/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    reload: ServerAction<ReloadCatalog>,
    toggle: ServerAction<SetEntitlementEnabled>,
    edit_entitlement: ServerAction<EditEntitlement>,
    edit_policy: ServerAction<EditPolicy>,
    resolve: ServerAction<ResolveRemoval>,
    approve_change: ServerAction<ApproveCatalogChange>,
    reject_change: ServerAction<RejectCatalogChange>,
    sync_people: ServerAction<SyncPeople>,
    adopt: ServerAction<AdoptContractorUser>,
    close_contractor: ServerAction<CloseStoppedContractor>,
}

#[component]
fn Overview(data: AdminOverview, actions: Actions) -> impl IntoView {
    let reload = actions.reload;
    let toggle = actions.toggle;
    let policies = data.policies.clone();
    let stuck = data.stuck;
    let changes = data.changes;
    let stopped = data.stopped_contractors;
    view! {
        {(!changes.is_empty()).then(|| view! { <WaitingChanges changes actions/> })}
        {(!stuck.is_empty()).then(|| view! { <StuckRemovals stuck action=actions.resolve/> })}
        {(!stopped.is_empty()).then(|| view! { <StoppedContractors stopped actions/> })}
        <section aria-labelledby="connectors-title">
            <h2 id="connectors-title">{labels().connectors}</h2>
            <table class="table">
                <thead><tr><th scope="col">{labels().name}</th><th scope="col">{labels().address}</th><th scope="col">{labels().health}</th><th scope="col">{labels().detail}</th></tr></thead>
                <tbody>
                    {data.connectors.into_iter().map(|c| {
                        let (pill, label) = match c.health {
                            ConnectorHealth::Healthy => ("active", labels().healthy),
                            ConnectorHealth::Down => ("failed", labels().down),
                            ConnectorHealth::Unknown => ("expired", labels().unknown),
                        };
                        view! {
                            <tr>
                                <td translate="no">{c.name}</td>
                                <td translate="no">{c.url}</td>
                                <td><span class=format!("pill pill-{pill}")>{label}</span></td>
                                <td dir="auto">{c.detail.unwrap_or_default()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
        {(!data.people_sources.is_empty()).then(|| view! { <PeopleSync sources=data.people_sources action=actions.sync_people/> })}
        <section aria-labelledby="catalog-title">
            <h2 id="catalog-title">{labels().catalog}</h2>
            <p>
                {match data.catalog_file {
                    Some(file) => (labels().catalog_declared_in)(&file),
                    None => labels().no_catalog_file.to_string(),
                }}
            </p>
            <ActionForm action=reload>
                <button type="submit" class="button primary">{labels().reload_catalog}</button>
            </ActionForm>
            <table class="table">
                <thead><tr>
                    <th scope="col">{labels().entry}</th><th scope="col">{labels().group}</th><th scope="col">{labels().policy}</th>
                    <th scope="col">{labels().owners}</th><th scope="col">{labels().live_leases}</th><th scope="col">{labels().offered}</th>
                </tr></thead>
                <tbody>
                    {data.entitlements.into_iter().map(|e| {
                        let entry = e.clone();
                        let next = (!e.enabled).to_string();
                        let action_label = if e.enabled { (labels().stop_offering)(&e.name) } else { (labels().offer_again)(&e.name) };
                        view! {
                            <tr>
                                <td translate="no">{e.name.clone()}<br/><span class="muted">{e.key.clone()}</span></td>
                                <td translate="no">{crate::text::short_dn(&e.target)}<br/><span class="muted">{e.connector}</span></td>
                                <td translate="no">{e.policy}</td>
                                <td translate="no">{e.owners.join(", ")}</td>
                                <td>{e.live_grants}</td>
                                <td>
                                    {if e.enabled { labels().offered_yes } else { labels().offered_no }}
                                    <ActionForm action=toggle>
                                        <input type="hidden" name="key" value=e.key.clone()/>
                                        <input type="hidden" name="enabled" value=next/>
                                        <button type="submit" class="button" aria-label=action_label>
                                            {if e.enabled { labels().offered_stop } else { labels().not_offered_offer }}
                                        </button>
                                    </ActionForm>
                                    <EditEntry entry=entry.clone() policies=policies.clone() action=actions.edit_entitlement/>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
        <section aria-labelledby="policies-title">
            <h2 id="policies-title">{labels().policies}</h2>
            <ul class="pending">
                {data.policies.into_iter().map(|p| view! { <PolicyItem policy=p action=actions.edit_policy/> }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn EditEntry(
    entry: AdminEntitlement,
    policies: Vec<AdminPolicy>,
    action: ServerAction<EditEntitlement>,
) -> impl IntoView {
    let id = |field: &str| format!("edit-{field}-{}", entry.key);
    let (name_id, description_id, owners_id, tags_id, policy_id) = (
        id("name"),
        id("description"),
        id("owners"),
        id("tags"),
        id("policy"),
    );
    view! {
        <details class="confirm">
            <summary class="button" aria-label=(labels().edit_named)(&entry.name)>{labels().edit}</summary>
            <ActionForm action>
                <input type="hidden" name="key" value=entry.key.clone()/>
                <label for=name_id.clone()>{labels().name}</label>
                <input type="text" id=name_id name="name" maxlength="200" value=entry.name.clone()/>
                <label for=description_id.clone()>{labels().description}</label>
                <textarea id=description_id name="description" rows="2" maxlength="2000" dir="auto">{entry.description.clone()}</textarea>
                <label for=owners_id.clone()>{labels().owners_hint}</label>
                <textarea id=owners_id name="owners" rows="2" translate="no" spellcheck="false">{entry.owners.join(", ")}</textarea>
                <label for=tags_id.clone()>{labels().tags_hint}</label>
                <input type="text" id=tags_id name="tags" value=entry.tags.join(", ")/>
                <label for=policy_id.clone()>{labels().policy}</label>
                <select id=policy_id name="policy">
                    {policies.into_iter().map(|p| {
                        let selected = p.key == entry.policy_key;
                        view! { <option value=p.key selected=selected translate="no">{p.name}</option> }
                    }).collect_view()}
                </select>
                <div class="actions"><button type="submit" class="button primary">{labels().save}</button></div>
            </ActionForm>
        </details>
    }
}

#[component]
fn PolicyItem(policy: AdminPolicy, action: ServerAction<EditPolicy>) -> impl IntoView {
    let rules_id = format!("rules-{}", policy.key);
    view! {
        <li class="card">
            <h3 translate="no">{policy.name.clone()}</h3>
            <p class="muted"><span translate="no">{policy.key.clone()}</span>" · "{(labels().policy_used_by)(policy.used_by)}</p>
            <details class="confirm">
                <summary class="button" aria-label=(labels().edit_rules_named)(&policy.name)>{labels().edit_rules}</summary>
                <ActionForm action>
                    <input type="hidden" name="key" value=policy.key.clone()/>
                    <label for=rules_id.clone()>{labels().rules_as_in_file}</label>
                    <textarea id=rules_id name="rules" rows="14" class="code" translate="no" spellcheck="false">{policy.rules_toml.clone()}</textarea>
                    <div class="actions"><button type="submit" class="button primary">{labels().save}</button></div>
                </ActionForm>
            </details>
        </li>
    }
}

/// Removals the engine cannot carry out, each with a form to close it after checking.
#[component]
fn StuckRemovals(stuck: Vec<StuckRemoval>, action: ServerAction<ResolveRemoval>) -> impl IntoView {
    view! {
        <section aria-labelledby="stuck-title" class="card notice error wide">
            <h2 id="stuck-title">{labels().stuck_removals}</h2>
            <p>{labels().stuck_removals_intro}</p>
            <table class="table">
                <thead><tr>
                    <th scope="col">{labels().holder}</th><th scope="col">{labels().access}</th>
                    <th scope="col">{labels().stuck_why}</th><th scope="col">{labels().close_removal}</th>
                </tr></thead>
                <tbody>
                    {stuck.into_iter().map(|s| {
                        let why = match s.attention {
                            Attention::TargetMissing => labels().stuck_target_missing,
                            Attention::AccountMissing => labels().stuck_account_missing,
                        };
                        let name = (labels().close_removal_named)(&s.holder, &s.entitlement);
                        let note_id = format!("note-{}", s.grant_id);
                        view! {
                            <tr data-testid="stuck-removal">
                                <td translate="no">{s.holder.clone()}<br/><span class="muted">{s.account.clone().unwrap_or_default()}</span></td>
                                <td translate="no">{s.entitlement.clone()}<br/><span class="muted">{format!("{} · {}", s.connector, crate::text::short_dn(&s.target))}</span></td>
                                <td>{why}</td>
                                <td>
                                    <ActionForm action>
                                        <input type="hidden" name="grant_id" value=s.grant_id.to_string()/>
                                        <label for=note_id.clone()>{labels().resolution_note}</label>
                                        <textarea id=note_id name="note" rows="2" required minlength="10" dir="auto"></textarea>
                                        <button type="submit" class="button" aria-label=name>{labels().close_removal}</button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// Contractor onboardings stopped on an identity that is someone else's; an Entra user found
/// can be adopted after checking, and any of them closed without making anything.
#[component]
fn StoppedContractors(stopped: Vec<StoppedContractor>, actions: Actions) -> impl IntoView {
    view! {
        <section aria-labelledby="stopped-title" class="card notice error wide">
            <h2 id="stopped-title">{labels().stopped_contractors}</h2>
            <p>{labels().stopped_contractors_intro}</p>
            <table class="table">
                <thead><tr>
                    <th scope="col">{labels().contractor}</th><th scope="col">{labels().stuck_why}</th>
                    <th scope="col">{labels().settle}</th>
                </tr></thead>
                <tbody>
                    {stopped.into_iter().map(|c| {
                        let id = c.contractor_id.to_string();
                        let adopt_id = id.clone();
                        let who = c.display_name.clone();
                        let adopt = c.adoptable.clone().map(move |user| {
                            let name = (labels().adopt_user_named)(&user, &who);
                            let note_id = format!("adopt-{adopt_id}");
                            view! {
                                <ActionForm action=actions.adopt>
                                    <input type="hidden" name="contractor_id" value=adopt_id.clone()/>
                                    <label for=note_id.clone()>{labels().adopt_note}</label>
                                    <textarea id=note_id name="note" rows="2" required minlength="10" dir="auto"></textarea>
                                    <button type="submit" class="button" aria-label=name>{labels().adopt_user}</button>
                                </ActionForm>
                            }
                        });
                        let close_name = (labels().close_onboarding_named)(&c.display_name);
                        let close_id = format!("close-{id}");
                        view! {
                            <tr data-testid="stopped-contractor">
                                <td translate="no">{c.display_name.clone()}<br/><span class="muted">{format!("{} · {}", c.email, c.sponsor)}</span></td>
                                <td dir="auto">
                                    {crate::text::onboarding_stopped(
                                        &c.last_error,
                                        c.found_holder.as_deref(),
                                    )}
                                </td>
                                <td>
                                    {adopt}
                                    <ActionForm action=actions.close_contractor>
                                        <input type="hidden" name="contractor_id" value=id.clone()/>
                                        <label for=close_id.clone()>{labels().close_note}</label>
                                        <textarea id=close_id name="note" rows="2" required minlength="10" dir="auto"></textarea>
                                        <button type="submit" class="button" aria-label=close_name>{labels().close_onboarding}</button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// Catalog changes waiting for a second administrator, each with its difference and impact.
#[component]
fn WaitingChanges(changes: Vec<PendingChange>, actions: Actions) -> impl IntoView {
    view! {
        <section aria-labelledby="changes-title" class="card notice wide">
            <h2 id="changes-title">{labels().waiting_changes}</h2>
            <p>{labels().waiting_changes_intro}</p>
            <ul class="pending">
                {changes.into_iter().map(|c| {
                    let approve_id = c.change_id.to_string();
                    let reject_id = approve_id.clone();
                    let comment_id = format!("comment-{approve_id}");
                    view! {
                        <li data-testid="waiting-change">
                            <h3>{crate::text::change_kind(c.kind)} " " <span translate="no">{c.key}</span></h3>
                            <p class="muted">{(labels().proposed_by)(&c.author)}</p>
                            <div class="diff">
                                <div><h4>{labels().before}</h4><pre translate="no">{c.before}</pre></div>
                                <div><h4>{labels().after}</h4><pre translate="no">{c.after}</pre></div>
                            </div>
                            <ul>{c.impact.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}</ul>
                            {if c.mine {
                                view! { <p>{labels().own_change_note}</p> }.into_any()
                            } else {
                                view! {
                                    <ActionForm action=actions.approve_change>
                                        <input type="hidden" name="change_id" value=approve_id/>
                                        <button type="submit" class="button primary">{labels().approve_change}</button>
                                    </ActionForm>
                                }.into_any()
                            }}
                            <ActionForm action=actions.reject_change>
                                <input type="hidden" name="change_id" value=reject_id/>
                                <label for=comment_id.clone()>{labels().comment}</label>
                                <input id=comment_id type="text" name="comment"/>
                                <button type="submit" class="button">
                                    {if c.mine { labels().withdraw_change } else { labels().reject_change }}
                                </button>
                            </ActionForm>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn PeopleSync(sources: Vec<PeopleSourceView>, action: ServerAction<SyncPeople>) -> impl IntoView {
    let when = |at: Option<chrono::DateTime<chrono::Utc>>| match at {
        Some(at) => crate::text::at(at),
        None => labels().never.to_string(),
    };
    view! {
        <section aria-labelledby="people-sync-title">
            <h2 id="people-sync-title">{labels().people_sync}</h2>
            <p>{labels().people_sync_intro}</p>
            <table class="table">
                <thead><tr>
                    <th scope="col">{labels().people_source}</th><th scope="col">{labels().last_pass}</th>
                    <th scope="col">{labels().last_complete_pass}</th><th scope="col">{labels().last_result}</th>
                    <th scope="col"><span class="visually-hidden">{labels().people_sync_actions}</span></th>
                </tr></thead>
                <tbody>
                    {sources.into_iter().map(|s| {
                        let (now_name, force_name) = (s.connector.clone(), s.connector.clone());
                        let (complete_name, accept_name) = (s.connector.clone(), s.connector.clone());
                        let now_label = (labels().sync_now)(&s.connector);
                        let force_label = (labels().sync_force)(&s.connector);
                        let complete_label = (labels().sync_complete)(&s.connector);
                        let accept_label = (labels().sync_accept_directory)(&s.connector);
                        view! {
                            <tr>
                                <td translate="no">{s.connector.clone()}</td>
                                <td>{when(s.last_pass_at)}</td>
                                <td>{when(s.last_complete_at)}</td>
                                <td>
                                    {s.error.clone().map(|e| view! { <p class="field-error" role="note" dir="auto">{e}</p> })}
                                    {s.result.clone().map(|r| view! { <p>{r}</p> })}
                                    {s.requested.then(|| view! { <p class="muted">{labels().sync_requested}</p> })}
                                </td>
                                <td>
                                    <ActionForm action>
                                        <input type="hidden" name="connector" value=now_name/>
                                        <input type="hidden" name="how" value="now"/>
                                        <button type="submit" class="button" aria-label=now_label>{labels().sync_now_short}</button>
                                    </ActionForm>
                                    <ActionForm action>
                                        <input type="hidden" name="connector" value=complete_name/>
                                        <input type="hidden" name="how" value="complete"/>
                                        <button type="submit" class="button" aria-label=complete_label>{labels().sync_complete_short}</button>
                                    </ActionForm>
                                    {s.refused.then(|| view! {
                                        <ActionForm action>
                                            <input type="hidden" name="connector" value=force_name/>
                                            <input type="hidden" name="how" value="force"/>
                                            <button type="submit" class="button danger" aria-label=force_label>{labels().sync_force_short}</button>
                                        </ActionForm>
                                    })}
                                    {s.other_directory.then(|| view! {
                                        <ActionForm action>
                                            <input type="hidden" name="connector" value=accept_name/>
                                            <input type="hidden" name="how" value="accept-directory"/>
                                            <button type="submit" class="button danger" aria-label=accept_label>{labels().sync_accept_directory_short}</button>
                                        </ActionForm>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// Mail delivery: the server, what waits, and what the server refused, with its answer.
#[component]
fn MailDelivery() -> impl IntoView {
    let mail = Resource::new(|| (), |_| get_mail_overview());
    view! {
        <section aria-labelledby="mail-title">
            <h2 id="mail-title">{labels().mail_delivery}</h2>
            <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
                {move || Suspend::new(async move {
                    match mail.await {
                        Ok(mail) => view! { <MailFacts mail/> }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn MailFacts(mail: MailOverview) -> impl IntoView {
    use crate::domain::mail::MailState;
    let server = match &mail.server {
        Some(server) => (labels().mail_server)(server),
        None => labels().mail_off.to_string(),
    };
    view! {
        <p>{server}</p>
        <p>{(labels().mail_counts)(mail.pending, mail.sent_last_day, mail.refused_last_month)}</p>
        {if mail.problems.is_empty() {
            view! { <p class="empty">{labels().mail_no_problems}</p> }.into_any()
        } else {
            view! {
                <table class="table">
                    <thead><tr>
                        <th scope="col">{labels().mail_to}</th><th scope="col">{labels().mail_subject}</th>
                        <th scope="col">{labels().health}</th><th scope="col">{labels().mail_answer}</th>
                        <th scope="col">{labels().when}</th>
                    </tr></thead>
                    <tbody>
                        {mail.problems.into_iter().map(|m| {
                            let (pill, state) = match m.state {
                                MailState::Refused => ("failed", labels().mail_refused),
                                _ => ("pending", labels().mail_retrying),
                            };
                            view! {
                                <tr>
                                    <td translate="no">{m.address}</td>
                                    <td dir="auto">{m.subject}</td>
                                    <td><span class=format!("pill pill-{pill}")>{state}</span>" "{(labels().mail_attempts)(m.attempts)}</td>
                                    <td dir="auto">{m.answer}</td>
                                    <td><crate::ui::components::time::Time at=m.refused_at.unwrap_or(m.written_at)/></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}

/// Every background job: whether it works, when it last ran and where, when it is next due, and
/// its last error.
#[component]
fn BackgroundJobs() -> impl IntoView {
    let jobs = Resource::new(|| (), |_| get_jobs());
    view! {
        <section aria-labelledby="jobs-title">
            <h2 id="jobs-title">{labels().jobs_title}</h2>
            <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">{labels().loading}</p> }>
                {move || Suspend::new(async move {
                    match jobs.await {
                        Ok(jobs) if jobs.is_empty() => view! { <p class="empty">{labels().jobs_none}</p> }.into_any(),
                        Ok(jobs) => view! { <JobTable jobs/> }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn JobTable(jobs: Vec<crate::api::admin::JobView>) -> impl IntoView {
    use crate::ui::components::time::Time;
    view! {
        <table class="table">
            <thead><tr>
                <th scope="col">{labels().job}</th><th scope="col">{labels().health}</th>
                <th scope="col">{labels().job_last_run}</th><th scope="col">{labels().job_next_due}</th>
                <th scope="col">{labels().job_ran_on}</th><th scope="col">{labels().job_problem}</th>
            </tr></thead>
            <tbody>
                {jobs.into_iter().map(|j| {
                    let (pill, state) = if j.failures > 0 {
                        ("failed", (labels().job_failing)(j.failures))
                    } else if j.late {
                        ("overdue", labels().job_late.to_string())
                    } else {
                        ("active", labels().job_ok.to_string())
                    };
                    view! {
                        <tr>
                            <th scope="row" translate="no">{j.job}</th>
                            <td><span class=format!("pill pill-{pill}")>{state}</span></td>
                            <td><Time at=j.last_run/></td>
                            <td><Time at=j.next_due/></td>
                            <td translate="no">{j.worker}</td>
                            <td dir="auto" class="pre">{j.error.unwrap_or_default()}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
