//! Who is calling: Entra ID sign-in (OpenID Connect), the session that remembers it, and the
//! portal roles that come with it.

pub mod bearer;
pub mod caller;
pub mod oidc;
pub mod routes;
pub mod sealed;
pub mod session;
