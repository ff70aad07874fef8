use leptos::prelude::*;

use crate::domain::access::EntitlementKind;

/// A small picture of what kind of access an entry gives, beside its words (never instead of
/// them: it is hidden from assistive technology, which reads the words).
#[component]
pub fn KindIcon(kind: EntitlementKind) -> impl IntoView {
    // Stroked 24×24 outlines, one per kind.
    let path = match kind {
        // Two people: a directory group.
        EntitlementKind::AdGroup | EntitlementKind::EntraGroup => {
            "M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM3 20v-1a5 5 0 0 1 10 0v1M16 11a3 3 0 1 0 0-6M21 20v-1a5 5 0 0 0-3-4.6"
        }
        // A shield with a clock hand: time-bound privileged membership.
        EntitlementKind::PimGroup => {
            "M12 3l7 3v5c0 5-3 8.5-7 10-4-1.5-7-5-7-10V6l7-3zM12 8v4l2.5 2"
        }
        // A shield with a key: a directory role.
        EntitlementKind::EntraRole => {
            "M12 3l7 3v5c0 5-3 8.5-7 10-4-1.5-7-5-7-10V6l7-3zM10.5 11.5a1.5 1.5 0 1 0 3 0 1.5 1.5 0 0 0-3 0zM12 13v3"
        }
        // A speech bubble: a team.
        EntitlementKind::Team => "M4 5h16v11H9l-5 4V5zM8 9h8M8 12h5",
        // A document: a site and its files.
        EntitlementKind::SharepointSite => "M6 3h8l4 4v14H6V3zM14 3v4h4M9 12h6M9 16h6",
        // A screen with a prompt: a machine's admin port.
        EntitlementKind::AzureVmPort => "M3 5h18v12H3V5zM8 21h8M7 9l3 2-3 2M12 13h4",
        // A parcel: several entries given together.
        EntitlementKind::Bundle => "M3 8l9-5 9 5v8l-9 5-9-5V8zM3 8l9 5 9-5M12 13v8",
    };
    view! {
        <svg class="kind-icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"
            focusable="false" fill="none" stroke="currentColor" stroke-width="1.6"
            stroke-linecap="round" stroke-linejoin="round">
            <path d=path/>
        </svg>
    }
}
