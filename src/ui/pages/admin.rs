use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin::{AdminOverview, ReloadCatalog, SetEntitlementEnabled, get_admin_overview};
use crate::domain::role::can_administer;
use crate::ui::components::notice::ErrorNotice;
use crate::ui::components::require_area::RequireArea;

/// Connectors with their health, the catalog as stored, and reloading it from its file.
#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <Title text="Admin"/>
        <RequireArea allowed=can_administer>
            <h1>"Admin"</h1>
            <AdminData/>
        </RequireArea>
    }
}

#[component]
fn AdminData() -> impl IntoView {
    let reload = ServerAction::<ReloadCatalog>::new();
    let toggle = ServerAction::<SetEntitlementEnabled>::new();
    let data = Resource::new(
        move || (reload.version().get(), toggle.version().get()),
        |_| get_admin_overview(),
    );
    let outcome = move || reload.value().get().or_else(|| toggle.value().get());
    view! {
        {move || outcome().map(|result| match result {
            Ok(message) => view! { <div class="card notice success" role="status"><p>{message}</p></div> }.into_any(),
            Err(e) => view! { <div class="card notice error" role="alert"><p class="pre">{e.to_string()}</p></div> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="skeleton" aria-busy="true">"Checking the connectors…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <Overview data reload toggle/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Overview(
    data: AdminOverview,
    reload: ServerAction<ReloadCatalog>,
    toggle: ServerAction<SetEntitlementEnabled>,
) -> impl IntoView {
    view! {
        <section aria-labelledby="connectors-title">
            <h2 id="connectors-title">"Connectors"</h2>
            <table class="table">
                <thead><tr><th scope="col">"Name"</th><th scope="col">"Address"</th><th scope="col">"Health"</th><th scope="col">"Detail"</th></tr></thead>
                <tbody>
                    {data.connectors.into_iter().map(|c| {
                        let pill = match c.health.as_str() {
                            "healthy" => "active",
                            "down" => "failed",
                            _ => "expired",
                        };
                        let label = match c.health.as_str() { "healthy" => "Healthy", "down" => "Down", _ => "Unknown" };
                        view! {
                            <tr>
                                <td>{c.name}</td>
                                <td>{c.url}</td>
                                <td><span class=format!("pill pill-{pill}")>{label}</span></td>
                                <td>{c.detail.unwrap_or_default()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
        <section aria-labelledby="catalog-title">
            <h2 id="catalog-title">"Catalog"</h2>
            <p>
                {match data.catalog_file {
                    Some(file) => format!("Declared in {file}. Change the file, then reload it here; every load is audited."),
                    None => "No catalog file is configured (LEASEGATE_CATALOG).".to_string(),
                }}
            </p>
            <ActionForm action=reload>
                <button type="submit" class="button primary">"Reload the catalog file"</button>
            </ActionForm>
            <table class="table">
                <thead><tr>
                    <th scope="col">"Entry"</th><th scope="col">"Group"</th><th scope="col">"Policy"</th>
                    <th scope="col">"Owners"</th><th scope="col">"Live leases"</th><th scope="col">"Offered"</th>
                </tr></thead>
                <tbody>
                    {data.entitlements.into_iter().map(|e| {
                        let next = (!e.enabled).to_string();
                        let action_label = if e.enabled { format!("Stop offering {}", e.name) } else { format!("Offer {} again", e.name) };
                        view! {
                            <tr>
                                <td>{e.name.clone()}<br/><span class="muted">{e.key.clone()}</span></td>
                                <td>{crate::text::short_dn(&e.target)}<br/><span class="muted">{e.connector}</span></td>
                                <td>{e.policy}</td>
                                <td>{e.owners.join(", ")}</td>
                                <td>{e.live_grants}</td>
                                <td>
                                    <ActionForm action=toggle>
                                        <input type="hidden" name="key" value=e.key.clone()/>
                                        <input type="hidden" name="enabled" value=next/>
                                        <button type="submit" class="button" aria-label=action_label>
                                            {if e.enabled { "Offered · stop" } else { "Not offered · offer" }}
                                        </button>
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
