//! Delivery through SMTP with lettre: one pooled transport, and the server's answers sorted into
//! "taken", "try again later" and "refused for good".

use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::server::app::config::{MailSettings, SmtpSettings, SmtpTls};
use crate::server::db::outbox::Outgoing;

/// What became of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The server could not be reached or answered 4xx: the same mail may be taken later.
    TryLater(String),
    /// The server answered 5xx, or the mail cannot be made (an address that is not one).
    Refused(String),
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of the Message-ID (the sender's).
    domain: String,
}

impl Mailer {
    pub fn new(settings: &MailSettings, smtp: &SmtpSettings) -> Result<Self, String> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| format!("LEASEGATE_MAIL_FROM: {e}"))?;
        let domain = from.email.domain().to_string();
        let tls = match smtp.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(tls_parameters(smtp)?),
            SmtpTls::Implicit => Tls::Wrapper(tls_parameters(smtp)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(smtp.timeout));
        if let Some((user, password)) = &smtp.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            domain,
        })
    }

    pub async fn deliver(&self, mail: &Outgoing) -> Delivery {
        let to: Mailbox = match mail.address.parse() {
            Ok(to) => to,
            Err(e) => return Delivery::Refused(format!("not a mail address: {e}")),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            // The same id on every attempt, so a mail sent twice (the server took it but the
            // answer was lost) can be recognised by the receiving side.
            .message_id(Some(format!("<{}@{}>", mail.id, self.domain)))
            .header(header::Date::new(mail.created_at.into()))
            .header(AutoSubmitted)
            .multipart(MultiPart::alternative_plain_html(
                mail.text_body.clone(),
                mail.html_body.clone(),
            ));
        let message = match message {
            Ok(m) => m,
            Err(e) => return Delivery::Refused(format!("the mail cannot be built: {e}")),
        };
        match self.transport.send(message).await {
            Ok(_) => Delivery::Sent,
            Err(e) if e.is_permanent() => Delivery::Refused(e.to_string()),
            Err(e) => Delivery::TryLater(e.to_string()),
        }
    }
}

fn tls_parameters(smtp: &SmtpSettings) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(smtp.host.clone());
    if let Some(path) = &smtp.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            format!(
                "LEASEGATE_SMTP_CA_FILE: cannot read {}: {e}",
                path.display()
            )
        })?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| format!("LEASEGATE_SMTP_CA_FILE: not a PEM certificate: {e}"))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("SMTP TLS settings: {e}"))
}

/// `Auto-Submitted: auto-generated` (RFC 3834): out-of-office replies are not sent back.
#[derive(Clone)]
struct AutoSubmitted;

impl header::Header for AutoSubmitted {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}
