//! A person's standing in the portal, as `principals.status` stores it.

use super::named::named;

named! {
    /// Whether a person may use the portal. A person the people sync found gone is also
    /// `Disabled` (with `left_at` set), and comes back only through the sync.
    pub enum PrincipalStatus {
        Active = "active",
        /// Barred: by the account watch (the account is disabled or gone in a directory), by the
        /// people sync (a leaver), or at a contractor's end.
        Disabled = "disabled",
    }
}
