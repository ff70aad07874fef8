//! The one error type that server functions return and the browser understands.
//!
//! Messages are written for the person using the portal. Internal detail never travels in them:
//! it is logged on the server beside a reference that the message carries.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in to continue.")]
    Unauthorized,
    #[error("You do not have permission to do this.")]
    Forbidden,
    #[error("Not found.")]
    NotFound,
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error(
        "This service is temporarily unavailable. Please try again shortly. (Reference {reference})"
    )]
    Unavailable { reference: String },
    /// One connected system did not answer (a directory, Microsoft Graph): named, so the
    /// person knows it is not the portal and not their input.
    #[error(
        "{system} does not answer just now, so nothing was changed. Please try again shortly. (Reference {reference})"
    )]
    SystemUnavailable { system: String, reference: String },
    #[error(
        "Something went wrong on our side. Please try again; if it keeps happening, quote reference {reference}."
    )]
    Internal { reference: String },
    /// The request never completed: the network or the browser failed before the server answered.
    #[error("The portal could not be reached. Check your connection and try again.")]
    Transport,
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status a response carrying this error should have.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Invalid { .. } => 422,
            Self::Conflict(_) => 409,
            Self::Unavailable { .. } | Self::SystemUnavailable { .. } => 503,
            Self::Internal { .. } | Self::Transport => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The caller sent something the function cannot read: say so, without echoing it.
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_) => {
                Self::invalid("request", "The request was not in the expected form.")
            }
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => Self::Transport,
            ServerFnErrorErr::UnsupportedRequestMethod(_) => Self::NotFound,
            other => Self::Internal {
                reference: crate::error::reference_for(&other.to_string()),
            },
        }
    }
}

/// A short reference for errors that happen outside a request's correlation scope. On the server
/// it is also logged with the full detail.
pub fn reference_for(detail: &str) -> String {
    #[cfg(feature = "ssr")]
    {
        crate::server::http::correlation::log_internal(detail)
    }
    #[cfg(not(feature = "ssr"))]
    {
        let _ = detail;
        "client".to_string()
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        let reference = reference_for(&format!("database: {error}"));
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Self::Unavailable { reference }
            }
            _ => Self::Internal { reference },
        }
    }
}

#[cfg(feature = "ssr")]
impl From<crate::server::connectors::ConnectorError> for AppError {
    fn from(error: crate::server::connectors::ConnectorError) -> Self {
        let reference = reference_for(&format!("directory: {error}"));
        if error.is_permanent() {
            Self::Internal { reference }
        } else {
            Self::Unavailable { reference }
        }
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// A connector's error for a call to the system named `system`: a transient failure says
    /// which system did not answer.
    pub fn from_system(system: &str, error: crate::server::connectors::ConnectorError) -> Self {
        if error.is_permanent() {
            error.into()
        } else {
            Self::SystemUnavailable {
                system: system.to_string(),
                reference: reference_for(&format!("{system}: {error}")),
            }
        }
    }
}

impl From<crate::domain::violation::Violation> for AppError {
    fn from(v: crate::domain::violation::Violation) -> Self {
        Self::invalid(v.field(), v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_no_internal_detail() {
        let err = AppError::from_server_fn_error(ServerFnErrorErr::Args(
            "missing field `secret_column` at line 1".into(),
        ));
        assert!(!err.to_string().contains("secret_column"));
        assert_eq!(err.status_code(), 422);
    }

    #[test]
    fn round_trips_through_json() {
        let err = AppError::Internal {
            reference: "abc".into(),
        };
        let bytes = err.ser();
        assert_eq!(AppError::de(bytes), err);
    }
}
