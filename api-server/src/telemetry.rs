//! Tracing subscriber set-up: an `EnvFilter` from `LOG_LEVEL`, JSON lines (or pretty output
//! locally), optional Sentry reporting of error events and panics, and optional OpenTelemetry
//! export of the request spans over OTLP/HTTP. Request ids and HTTP attributes are span fields
//! set by the HTTP layer (`middleware::request_span`), not here.

use std::{collections::HashMap, time::Duration};

use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{Sampler, SdkTracerProvider},
};
use secrecy::ExposeSecret;
use tracing::{Level, Subscriber};
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{LevelFilter, Targets},
    fmt,
    prelude::*,
    registry::LookupSpan,
};

use crate::config::{OtelSettings, SentrySettings};

/// Keeps the exporters alive; [`Guard::shutdown`] flushes them.
#[derive(Default)]
pub struct Guard {
    _sentry: Option<sentry::ClientInitGuard>,
    tracer_provider: Option<SdkTracerProvider>,
}

impl Guard {
    /// Flush queued spans (bounded by the exporter timeout) and stop the batch thread; Sentry
    /// flushes when the guard drops.
    pub async fn shutdown(mut self) {
        let Some(provider) = self.tracer_provider.take() else {
            return;
        };
        // The SDK's shutdown blocks on the batch thread: keep it off the async workers.
        let result = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match result {
            Ok(Ok(())) => tracing::debug!("trace exporter flushed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "trace exporter shutdown failed"),
            Err(e) => tracing::warn!(error = %e, "trace exporter shutdown panicked"),
        }
    }
}

/// Start Sentry when configured (before the subscriber, so its layer has a client).
fn init_sentry(settings: Option<&SentrySettings>) -> Option<sentry::ClientInitGuard> {
    let s = settings?;
    let dsn: sentry::types::Dsn = s.dsn.expose_secret().parse().ok()?;
    let options = sentry::ClientOptions::new()
        .release(concat!("merchant-api@", env!("CARGO_PKG_VERSION")))
        .environment(s.environment.clone())
        .traces_sample_rate(s.traces_sample_rate)
        .send_default_pii(false);
    Some(sentry::init((dsn, options)))
}

/// The OTLP/HTTP exporter behind a batch processor (its own thread, off the request path).
fn tracer_provider(s: &OtelSettings) -> Result<SdkTracerProvider, String> {
    let headers: HashMap<String, String> = s
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.expose_secret().to_string()))
        .collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(&s.traces_endpoint)
        .with_headers(headers)
        .with_timeout(Duration::from_secs(10))
        .build()
        // The error names the failed step; it never contains header values.
        .map_err(|e| e.to_string())?;
    let resource = Resource::builder()
        .with_service_name(s.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            s.sample_ratio,
        ))))
        .with_resource(resource)
        .build())
}

/// The tracing → OpenTelemetry bridge, fed only by this crate's INFO spans (whatever
/// `LOG_LEVEL` says), so driver internals never become spans.
fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("merchant-api"))
        // Only the HTTP attributes: no source location, thread or busy/idle timings per span.
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(Targets::new().with_target("merchant_api", Level::INFO))
}

/// The endpoint without any user-info or query (which could carry credentials).
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => String::new(),
    }
}

/// Log output (JSON lines or pretty) and, with Sentry on, its error and span layers; all
/// filtered by `LOG_LEVEL` (the OTel layer has its own filter).
fn log_layer<S>(log_level: &str, json: bool, sentry: bool) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let filter = EnvFilter::try_new(log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    // Error events become Sentry issues; spans become sampled performance traces.
    let errors = sentry
        .then(|| sentry::integrations::tracing::ErrorLayer::new().with_filter(LevelFilter::ERROR));
    let spans = sentry
        .then(|| sentry::integrations::tracing::SpanLayer::new().with_filter(LevelFilter::INFO));
    let output = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        fmt::layer().boxed()
    };
    output.and_then(errors).and_then(spans).with_filter(filter)
}

/// Install the global subscriber once (later calls, e.g. several apps in one test process, keep
/// the first) and start Sentry and OTLP trace export when configured.
pub fn init(
    log_level: &str,
    json: bool,
    sentry: Option<&SentrySettings>,
    otel: Option<&OtelSettings>,
) -> Guard {
    let sentry_guard = init_sentry(sentry);
    let logs = log_layer(log_level, json, sentry_guard.is_some());
    let (tracer_provider, otel_error) = match otel.map(tracer_provider) {
        Some(Ok(p)) => (Some(p), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let traces = tracer_provider.as_ref().map(otel_layer);
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok();
    if let Some(e) = otel_error {
        tracing::error!(error = %e, "OpenTelemetry exporter not started");
    } else if let (Some(s), true) = (otel, installed) {
        tracing::info!(
            endpoint = %redacted(&s.traces_endpoint),
            service = %s.service_name,
            sample_ratio = s.sample_ratio,
            "exporting traces over OTLP/HTTP"
        );
    }
    Guard {
        _sentry: sentry_guard,
        tracer_provider: installed.then_some(tracer_provider).flatten(),
    }
}
