//! OpenTelemetry settings: the standard `OTEL_*` variables of the OTLP exporter specification,
//! read by clap (flattened into [`super::Config`]) and validated into [`OtelSettings`].
//! Tracing is off unless an OTLP endpoint is set.

use secrecy::{ExposeSecret, SecretString};

/// Raw `OTEL_*` settings.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OtelConfig {
    /// OTLP base URL; traces go to `{base}/v1/traces`.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// Full OTLP traces URL (wins over the base URL).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otel_exporter_otlp_traces_endpoint: Option<String>,
    /// `key=value,…` headers sent with every export (e.g. New Relic's `api-key`); secret.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_HEADERS", value_parser = super::secret, hide_env_values = true)]
    pub otel_exporter_otlp_headers: Option<SecretString>,
    /// Trace-only headers, merged over `OTEL_EXPORTER_OTLP_HEADERS`; secret.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_HEADERS", value_parser = super::secret, hide_env_values = true)]
    pub otel_exporter_otlp_traces_headers: Option<SecretString>,
    /// Only `http/protobuf` is built in.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL")]
    pub otel_exporter_otlp_protocol: Option<String>,
    /// `service.name` of the exported spans.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "merchant-api")]
    pub otel_service_name: String,
    /// Share of new traces sampled (0..1); a caller's sampling decision is always followed.
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", default_value_t = 1.0)]
    pub otel_traces_sampler_arg: f64,
    /// `true` turns tracing off whatever else is set.
    #[arg(long, env = "OTEL_SDK_DISABLED", default_value_t = false, action = clap::ArgAction::Set)]
    pub otel_sdk_disabled: bool,
}

/// Validated trace export settings.
#[derive(Debug, Clone)]
pub struct OtelSettings {
    /// Full URL spans are POSTed to.
    pub traces_endpoint: String,
    /// Export headers (values are secrets: API keys).
    pub headers: Vec<(String, SecretString)>,
    /// `service.name`.
    pub service_name: String,
    /// Ratio of new traces sampled.
    pub sample_ratio: f64,
}

impl OtelConfig {
    /// `None` when tracing is off; problems are pushed one per bad setting.
    pub fn validate(&self, problems: &mut Vec<String>) -> Option<OtelSettings> {
        let endpoint = self.traces_endpoint()?;
        if self.otel_sdk_disabled {
            return None;
        }
        let before = problems.len();
        self.check_export(&endpoint, problems);
        let headers = self.headers(problems);
        (problems.len() == before).then(|| OtelSettings {
            traces_endpoint: endpoint,
            headers,
            service_name: self.otel_service_name.trim().to_string(),
            sample_ratio: self.otel_traces_sampler_arg,
        })
    }

    /// Endpoint, protocol, sampler ratio and service name: one problem per bad setting.
    fn check_export(&self, endpoint: &str, problems: &mut Vec<String>) {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
            || reqwest::Url::parse(endpoint).is_err()
        {
            problems.push(format!(
                "OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT must be an http(s) URL (got {endpoint:?})"
            ));
        }
        if let Some(p) = &self.otel_exporter_otlp_protocol
            && p != "http/protobuf"
        {
            problems.push(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported (got {p:?})"
            ));
        }
        if !(0.0..=1.0).contains(&self.otel_traces_sampler_arg) {
            problems.push("OTEL_TRACES_SAMPLER_ARG must be between 0 and 1".into());
        }
        if self.otel_service_name.trim().is_empty() {
            problems.push("OTEL_SERVICE_NAME must not be empty".into());
        }
    }

    /// The export headers: the trace-only ones merged over the general ones.
    fn headers(&self, problems: &mut Vec<String>) -> Vec<(String, SecretString)> {
        let mut headers = Vec::new();
        for (name, value) in [
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                &self.otel_exporter_otlp_headers,
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                &self.otel_exporter_otlp_traces_headers,
            ),
        ] {
            let Some(value) = value else { continue };
            match parse_headers(value.expose_secret()) {
                Some(parsed) => {
                    for (k, v) in parsed {
                        headers.retain(|(old, _): &(String, SecretString)| *old != k);
                        headers.push((k, v));
                    }
                }
                // Never echo the value: it usually holds an API key.
                None => problems.push(format!(
                    "{name} must be a comma-separated list of name=value pairs"
                )),
            }
        }
        headers
    }

    /// The signal-specific URL as given, else `{base}/v1/traces` (OTLP exporter spec).
    fn traces_endpoint(&self) -> Option<String> {
        let non_empty = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        non_empty(&self.otel_exporter_otlp_traces_endpoint).or_else(|| {
            non_empty(&self.otel_exporter_otlp_endpoint)
                .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        })
    }
}

/// `k1=v1,k2=v2` with percent-encoded values (W3C baggage octets, as the spec says).
fn parse_headers(raw: &str) -> Option<Vec<(String, SecretString)>> {
    raw.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            let v = percent_decode(v.trim())?;
            let valid_name =
                !k.is_empty() && axum::http::HeaderName::from_bytes(k.as_bytes()).is_ok();
            let valid_value = axum::http::HeaderValue::from_str(&v).is_ok();
            (valid_name && valid_value).then(|| (k.to_ascii_lowercase(), SecretString::from(v)))
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OtelConfig {
        OtelConfig {
            otel_service_name: "merchant-api".into(),
            otel_traces_sampler_arg: 1.0,
            ..OtelConfig::default()
        }
    }

    #[test]
    fn tracing_is_off_without_an_endpoint() {
        let mut problems = Vec::new();
        assert!(config().validate(&mut problems).is_none());
        assert!(problems.is_empty());
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_signal_endpoint_wins() {
        let mut problems = Vec::new();
        let mut c = config();
        c.otel_exporter_otlp_endpoint = Some("https://otlp.nr-data.net:4318/".into());
        let s = c.validate(&mut problems).expect("on");
        assert_eq!(s.traces_endpoint, "https://otlp.nr-data.net:4318/v1/traces");
        c.otel_exporter_otlp_traces_endpoint = Some("http://collector:4318/custom".into());
        let s = c.validate(&mut problems).expect("on");
        assert_eq!(s.traces_endpoint, "http://collector:4318/custom");
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn headers_are_parsed_decoded_and_merged_without_echoing_values() {
        let mut problems = Vec::new();
        let mut c = config();
        c.otel_exporter_otlp_endpoint = Some("http://localhost:4318".into());
        c.otel_exporter_otlp_headers = Some("api-key=abc%3D%3D, x-team = one".into());
        c.otel_exporter_otlp_traces_headers = Some("x-team=two".into());
        let s = c.validate(&mut problems).expect("on");
        let shown: Vec<(String, String)> = s
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose_secret().to_string()))
            .collect();
        assert_eq!(
            shown,
            [
                ("api-key".into(), "abc==".into()),
                ("x-team".into(), "two".into())
            ]
        );
        c.otel_exporter_otlp_headers = Some("api-key".into());
        c.otel_exporter_otlp_traces_headers = Some("sekrit-value-without-name".into());
        assert!(c.validate(&mut problems).is_none());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems.iter().all(|p| !p.contains("sekrit")),
            "{problems:?}"
        );
    }

    #[test]
    fn bad_protocol_ratio_and_url_are_reported() {
        let mut problems = Vec::new();
        let mut c = config();
        c.otel_exporter_otlp_endpoint = Some("collector:4317".into());
        c.otel_exporter_otlp_protocol = Some("grpc".into());
        c.otel_traces_sampler_arg = 1.5;
        assert!(c.validate(&mut problems).is_none());
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn sdk_disabled_turns_tracing_off() {
        let mut problems = Vec::new();
        let mut c = config();
        c.otel_exporter_otlp_endpoint = Some("http://localhost:4318".into());
        c.otel_sdk_disabled = true;
        assert!(c.validate(&mut problems).is_none());
    }
}
