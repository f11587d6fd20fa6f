//! Tracing subscriber set-up: an `EnvFilter` from `LOG_LEVEL`, JSON lines (or pretty output
//! locally), and optional Sentry reporting of error events and panics. Request ids are attached
//! as span fields by the HTTP layer, not here.

use secrecy::ExposeSecret;
use tracing_subscriber::{EnvFilter, filter::LevelFilter, fmt, prelude::*};

use crate::config::SentrySettings;

/// Keeps the Sentry client alive (flushes on drop); `None` when Sentry is off.
pub type Guard = Option<sentry::ClientInitGuard>;

/// Start Sentry when configured (before the subscriber, so its layer has a client).
fn init_sentry(settings: Option<&SentrySettings>) -> Guard {
    let s = settings?;
    let dsn: sentry::types::Dsn = s.dsn.expose_secret().parse().ok()?;
    let options = sentry::ClientOptions::new()
        .release(concat!("merchant-api@", env!("CARGO_PKG_VERSION")))
        .environment(s.environment.clone())
        .traces_sample_rate(s.traces_sample_rate)
        .send_default_pii(false);
    Some(sentry::init((dsn, options)))
}

/// Install the global subscriber once (later calls, e.g. several apps in one test process, keep
/// the first) and start Sentry when `sentry` is set.
pub fn init(log_level: &str, json: bool, sentry: Option<&SentrySettings>) -> Guard {
    let guard = init_sentry(sentry);
    let filter = EnvFilter::try_new(log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    // Error events become Sentry issues; spans become sampled performance traces.
    let errors = guard
        .is_some()
        .then(|| sentry::integrations::tracing::ErrorLayer::new().with_filter(LevelFilter::ERROR));
    let spans = guard
        .is_some()
        .then(|| sentry::integrations::tracing::SpanLayer::new().with_filter(LevelFilter::INFO));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(errors)
        .with(spans);
    let result = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init()
    } else {
        registry.with(fmt::layer()).try_init()
    };
    drop(result);
    guard
}
