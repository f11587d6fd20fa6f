//! Tracing subscriber set-up: an `EnvFilter` from `LOG_LEVEL` and JSON lines (or pretty output
//! locally). Request ids are attached as span fields by the HTTP layer, not here.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Install the global subscriber once. Later calls (tests) are ignored.
pub fn init(log_level: &str, json: bool) {
    let filter = EnvFilter::try_new(log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false))
            .try_init()
    } else {
        registry.with(fmt::layer()).try_init()
    };
    // A second init (several apps in one test process) keeps the first subscriber.
    drop(result);
}
