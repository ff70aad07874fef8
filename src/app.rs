use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{Lazy, LazyRoute, ParamSegment, SsrMode, StaticSegment, lazy_route};

use crate::ui::layout::Layout;
use crate::ui::pages::{
    access_reviews::{CampaignPage, ReviewsPage},
    admin::AdminPage,
    approvals::{ApprovalsPage, DecisionPage},
    contractors::ContractorsPage,
    dashboard::DashboardPage,
    entitlement::EntitlementPage,
    findings::FindingsPage,
    governance::GovernancePage,
    holdings::HoldingsPage,
    home::HomePage,
    my_access::MyAccessPage,
    not_found::NotFoundPage,
    people::{PeoplePage, PersonPage},
    request_access::RequestAccessPage,
    settings::SettingsPage,
    signed_out::SignedOutPage,
    trail::TrailPage,
};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang=crate::text::lang::tag()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/leasegate.css"/>
        // Pages render once their data is ready (SsrMode::Async), so the server can answer with the
        // right status (403, 404) and the first paint is complete.
        <Router>
            <Layout>
                <Routes fallback=|| view! { <NotFoundPage/> }>
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("request") view=RequestAccessPage ssr=SsrMode::Async/>
                    // The pages below load their WebAssembly when first opened (`cargo leptos
                    // build --split`): the first page (the start page, the catalog) carries
                    // neither the request form's and My access's code nor the approver's, the
                    // sponsor's, the auditor's or the administrator's.
                    <Route path=(StaticSegment("request"), ParamSegment("key")) view={Lazy::<EntitlementRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("my-access") view={Lazy::<MyAccessRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("approvals") view={Lazy::<ApprovalsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("approvals"), ParamSegment("id")) view={Lazy::<DecisionRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("contractors") view={Lazy::<ContractorsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("governance") view={Lazy::<GovernanceRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("governance"), StaticSegment("requests"), ParamSegment("id")) view={Lazy::<TrailRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("governance"), StaticSegment("access")) view={Lazy::<HoldingsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("governance"), StaticSegment("findings")) view={Lazy::<FindingsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("governance"), StaticSegment("reviews")) view={Lazy::<ReviewsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("governance"), StaticSegment("reviews"), ParamSegment("id")) view={Lazy::<CampaignRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("governance"), StaticSegment("dashboard")) view={Lazy::<DashboardRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("governance"), StaticSegment("people")) view={Lazy::<PeopleRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("governance"), StaticSegment("people"), ParamSegment("id")) view={Lazy::<PersonRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("admin") view={Lazy::<AdminRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("settings") view={Lazy::<SettingsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("signed-out") view=SignedOutPage ssr=SsrMode::Async/>
                </Routes>
            </Layout>
        </Router>
    }
}

/// A page whose code is split off the main WebAssembly module and loaded when the route is
/// first opened. The page loads its own data, as it does when it is not lazy; `data()` has
/// nothing to start before the code arrives.
macro_rules! lazy_page {
    ($route:ident, $page:ident) => {
        #[doc = concat!("The route of [`", stringify!($page), "`], loaded when first opened.")]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(this: Self) -> AnyView {
                let _ = this;
                view! { <$page/> }.into_any()
            }
        }
    };
}

lazy_page!(EntitlementRoute, EntitlementPage);
lazy_page!(MyAccessRoute, MyAccessPage);
lazy_page!(ApprovalsRoute, ApprovalsPage);
lazy_page!(DecisionRoute, DecisionPage);
lazy_page!(ContractorsRoute, ContractorsPage);
lazy_page!(GovernanceRoute, GovernancePage);
lazy_page!(TrailRoute, TrailPage);
lazy_page!(HoldingsRoute, HoldingsPage);
lazy_page!(FindingsRoute, FindingsPage);
lazy_page!(DashboardRoute, DashboardPage);
lazy_page!(ReviewsRoute, ReviewsPage);
lazy_page!(CampaignRoute, CampaignPage);
lazy_page!(PeopleRoute, PeoplePage);
lazy_page!(PersonRoute, PersonPage);
lazy_page!(AdminRoute, AdminPage);
lazy_page!(SettingsRoute, SettingsPage);
