//! A person's standing and kind in the portal, as `principals.status` and `principals.kind`
//! store them.

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

named! {
    /// What kind of identity a person is. Only members sponsor, deputise or decide.
    pub enum PrincipalKind {
        /// Someone of the organisation.
        Member = "member",
        /// An Entra guest: a contractor, or a B2B guest the people sync read.
        Guest = "guest",
        /// A service account.
        Service = "service",
    }
}
