//! The one error type that server functions return and the browser understands.
//!
//! Messages are written for the person using the portal. Internal detail never travels in them:
//! it is logged on the server beside a reference that the message carries.

use std::borrow::Cow;

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::domain::problem::Problem;
use crate::text::lang::{self, Language};

/// Its `Display` is the message for the person, in the language of the current page or server
/// function (see [`AppError::message`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppError {
    Unauthorized,
    Forbidden,
    NotFound,
    /// What is wrong with one field of the form (or `request` for the call as a whole).
    Invalid {
        field: String,
        problem: Problem,
    },
    /// What was asked cannot be done in the state things are in.
    Conflict(Problem),
    Unavailable {
        reference: String,
    },
    /// One connected system did not answer (a directory, Microsoft Graph): named, so the
    /// person knows it is not the portal and not their input.
    SystemUnavailable {
        system: String,
        reference: String,
    },
    Internal {
        reference: String,
    },
    /// The request never completed: the network or the browser failed before the server answered.
    Transport,
}

impl AppError {
    /// The message for the person, in `language`.
    pub fn message(&self, language: Language) -> Cow<'_, str> {
        match (self, language) {
            (Self::Unauthorized, Language::English) => "Please sign in to continue.".into(),
            (Self::Unauthorized, Language::German) => {
                "Bitte melden Sie sich an, um fortzufahren.".into()
            }
            (Self::Forbidden, Language::English) => "You do not have permission to do this.".into(),
            (Self::Forbidden, Language::German) => "Dazu fehlt Ihnen die Berechtigung.".into(),
            (Self::NotFound, Language::English) => "Not found.".into(),
            (Self::NotFound, Language::German) => "Nicht gefunden.".into(),
            (Self::Invalid { problem, .. }, _) | (Self::Conflict(problem), _) => {
                crate::text::problem::problem_in(language, problem).into()
            }
            (Self::Unavailable { reference }, Language::English) => format!(
                "This service is temporarily unavailable. Please try again shortly. (Reference \
                 {reference})"
            )
            .into(),
            (Self::Unavailable { reference }, Language::German) => format!(
                "Der Dienst ist vorübergehend nicht verfügbar. Bitte versuchen Sie es in Kürze \
                 erneut. (Referenz {reference})"
            )
            .into(),
            (Self::SystemUnavailable { system, reference }, Language::English) => format!(
                "{system} does not answer just now, so nothing was changed. Please try again \
                 shortly. (Reference {reference})"
            )
            .into(),
            (Self::SystemUnavailable { system, reference }, Language::German) => format!(
                "{system} antwortet gerade nicht, daher wurde nichts geändert. Bitte versuchen \
                 Sie es in Kürze erneut. (Referenz {reference})"
            )
            .into(),
            (Self::Internal { reference }, Language::English) => format!(
                "Something went wrong on our side. Please try again; if it keeps happening, quote \
                 reference {reference}."
            )
            .into(),
            (Self::Internal { reference }, Language::German) => format!(
                "Auf unserer Seite ist ein Fehler aufgetreten. Bitte versuchen Sie es erneut; \
                 tritt er weiterhin auf, nennen Sie die Referenz {reference}."
            )
            .into(),
            (Self::Transport, Language::English) => {
                "The portal could not be reached. Check your connection and try again.".into()
            }
            (Self::Transport, Language::German) => {
                "Das Portal ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es \
                 erneut."
                    .into()
            }
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(lang::current()))
    }
}

impl std::error::Error for AppError {}

impl AppError {
    pub fn invalid(field: impl Into<String>, problem: Problem) -> Self {
        Self::Invalid {
            field: field.into(),
            problem,
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
                Self::invalid("request", Problem::MalformedRequest)
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
        crate::server::app::http::correlation::log_internal(detail)
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
        Self::invalid(v.field(), Problem::Rule(v))
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
    fn messages_speak_german() {
        let err = AppError::Unavailable {
            reference: "abc".into(),
        };
        assert_eq!(err.message(Language::English), err.to_string());
        assert_eq!(
            err.message(Language::German),
            "Der Dienst ist vorübergehend nicht verfügbar. Bitte versuchen Sie es in Kürze \
             erneut. (Referenz abc)"
        );
        // A problem travels as data and is put in words by the side that shows it.
        let conflict = AppError::Conflict(Problem::AlreadySent);
        assert_eq!(
            conflict.message(Language::German),
            "Dieses Formular wurde bereits gesendet."
        );
        assert_eq!(
            conflict.message(Language::English),
            "This form was already sent."
        );
        assert_eq!(
            AppError::Forbidden.message(Language::German),
            "Dazu fehlt Ihnen die Berechtigung."
        );
    }

    #[test]
    fn round_trips_through_json() {
        let err = AppError::Internal {
            reference: "abc".into(),
        };
        let bytes = err.ser();
        assert_eq!(AppError::de(bytes), err);
        let invalid = AppError::invalid("end", Problem::ContractorTooLong { max_days: 90 });
        assert_eq!(AppError::de(invalid.ser()), invalid);
    }
}
