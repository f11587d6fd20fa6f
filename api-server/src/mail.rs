//! Outgoing e-mail: a bounded queue drained by one background worker that sends through SMTP
//! (lettre) or SendGrid's HTTP API, retrying with backoff. Requests only enqueue; they never
//! wait for delivery and never see its errors.

use std::{sync::Arc, time::Duration};

use backon::{ExponentialBuilder, Retryable};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::authentication::Credentials,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    config::{MailSettings, SmtpTls},
    metrics::Metrics,
};

/// One message to send.
#[derive(Debug, Clone)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
}

/// Handle for enqueueing e-mail (cheap to clone). Without a transport it drops messages.
#[derive(Debug, Clone, Default)]
pub struct Mailer {
    tx: Option<mpsc::Sender<Email>>,
}

/// Transport construction failed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// SMTP relay settings rejected.
    #[error("invalid SMTP settings")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// Sender address rejected.
    #[error("invalid sender address")]
    Address(#[from] lettre::address::AddressError),
    /// HTTP client could not be built.
    #[error("failed to build the SendGrid client")]
    Http(#[from] reqwest::Error),
}

enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    SendGrid {
        client: reqwest::Client,
        key: SecretString,
        from: String,
        url: String,
    },
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("failed to build the message")]
    Build(#[from] lettre::error::Error),
    #[error("invalid recipient")]
    Address(#[from] lettre::address::AddressError),
    #[error("SMTP delivery failed")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("SendGrid request failed")]
    Http(#[from] reqwest::Error),
}

/// Delivery tries per message: the first and three retries, 500 ms, 1 s and 2 s apart.
const ATTEMPTS: usize = 4;

/// The waits between delivery tries.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_factor(2.0)
        .with_max_times(ATTEMPTS - 1)
}

impl Mailer {
    /// Start the worker for `settings`; `None` settings give a mailer that drops messages.
    pub fn start(
        settings: Option<&MailSettings>,
        metrics: Arc<Metrics>,
    ) -> Result<(Self, Option<JoinHandle<()>>), MailError> {
        let Some(settings) = settings else {
            tracing::warn!(
                "no mailer configured (SENDGRID_API_KEY or SMTP_HOST): verification and reset e-mails are not sent"
            );
            return Ok((Self::default(), None));
        };
        let transport = build_transport(settings)?;
        let (tx, rx) = mpsc::channel(1024);
        let worker = tokio::spawn(run(transport, rx, metrics));
        Ok((Self { tx: Some(tx) }, Some(worker)))
    }

    /// True when a transport is configured.
    pub fn is_configured(&self) -> bool {
        self.tx.is_some()
    }

    /// Queue a message; drops it with a warning when the queue is full.
    pub fn send(&self, email: Email) {
        let Some(tx) = &self.tx else { return };
        if let Err(e) = tx.try_send(email) {
            tracing::warn!(error = %e, "mail queue full or closed; message dropped");
        }
    }
}

fn build_transport(settings: &MailSettings) -> Result<Transport, MailError> {
    Ok(match settings {
        MailSettings::SendGrid { api_key, from, url } => Transport::SendGrid {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            key: api_key.clone(),
            from: from.clone(),
            url: url.clone(),
        },
        MailSettings::Smtp {
            host,
            port,
            credentials,
            from,
            tls,
        } => {
            let builder = match tls {
                SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
                SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
            };
            let mut builder = builder.port(*port).timeout(Some(Duration::from_secs(10)));
            if let Some((user, pass)) = credentials {
                builder = builder.credentials(Credentials::new(
                    user.clone(),
                    pass.expose_secret().to_string(),
                ));
            }
            Transport::Smtp {
                transport: builder.build(),
                from: from.parse()?,
            }
        }
    })
}

async fn run(transport: Transport, mut rx: mpsc::Receiver<Email>, metrics: Arc<Metrics>) {
    while let Some(email) = rx.recv().await {
        let mut attempt = 0;
        let sent = (|| deliver(&transport, &email))
            .retry(backoff())
            .sleep(tokio::time::sleep)
            .notify(|e, delay| {
                attempt += 1;
                tracing::warn!(error = %e, attempt, ?delay, "e-mail delivery failed; retrying");
            })
            .await;
        match sent {
            Ok(()) => {
                metrics.email("sent");
                tracing::info!(subject = %email.subject, "e-mail sent");
            }
            Err(e) => {
                metrics.email("failed");
                tracing::error!(error = %e, subject = %email.subject, "e-mail delivery failed; giving up");
            }
        }
    }
}

async fn deliver(transport: &Transport, email: &Email) -> Result<(), SendError> {
    match transport {
        Transport::Smtp { transport, from } => {
            let message = Message::builder()
                .from(from.clone())
                .to(email.to.parse()?)
                .subject(&email.subject)
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone())?;
            transport.send(message).await?;
        }
        Transport::SendGrid {
            client,
            key,
            from,
            url,
        } => {
            let body = json!({
                "personalizations": [{ "to": [{ "email": email.to }] }],
                "from": { "email": from },
                "subject": email.subject,
                "content": [{ "type": "text/plain", "value": email.text }],
            });
            client
                .post(url)
                .bearer_auth(key.expose_secret())
                .json(&body)
                .send()
                .await?
                .error_for_status()?;
        }
    }
    Ok(())
}

/// The verification e-mail.
pub fn verification(to: &str, name: &str, link: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Verify your e-mail address".into(),
        text: format!(
            "Hello {name},\n\nPlease confirm your e-mail address by opening this link within 24 hours:\n\n{link}\n\nIf you did not create a merchant account, ignore this message.\n"
        ),
    }
}

/// The password-reset e-mail.
pub fn password_reset(to: &str, name: &str, link: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Reset your password".into(),
        text: format!(
            "Hello {name},\n\nA password reset was requested for your merchant account. Open this link within 1 hour to choose a new password:\n\n{link}\n\nIf you did not ask for this, ignore this message; your password stays unchanged.\n"
        ),
    }
}

/// The password-changed notice.
pub fn password_changed(to: &str, name: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Your password was changed".into(),
        text: format!(
            "Hello {name},\n\nThe password of your merchant account was just changed. If this was not you, reset your password immediately.\n"
        ),
    }
}

/// The team invitation e-mail.
pub fn invitation(to: &str, name: &str, business: &str, role: &str, link: &str) -> Email {
    Email {
        to: to.into(),
        subject: format!("You are invited to join {business}"),
        text: format!(
            "Hello {name},\n\nYou have been invited to join {business} as {role}. Open this link within 24 hours to set your password and accept the invitation:\n\n{link}\n\nIf you did not expect this invitation, ignore this message.\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use backon::BackoffBuilder;

    use super::*;

    #[test]
    fn delivery_is_retried_three_times_half_a_second_doubling() {
        let delays: Vec<Duration> = backoff().build().collect();
        assert_eq!(
            delays,
            [500, 1000, 2000].map(Duration::from_millis),
            "the waits before the second, third and fourth tries"
        );
    }
}
