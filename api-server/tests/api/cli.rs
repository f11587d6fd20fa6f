//! The binary's subcommands: `openapi` output and start-up validation of `serve`.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_merchant-api");

#[test]
fn the_openapi_subcommand_prints_the_document_the_server_serves() {
    let out = Command::new(BIN).arg("openapi").output().expect("runs");
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let served = serde_json::to_value(merchant_api::openapi::document()).expect("json");
    assert_eq!(printed, served);
}

#[test]
fn serve_without_settings_exits_2_with_one_line_per_problem() {
    let out = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("JWT_MERCHANT_SECRET", "short")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [
        "  - MONGODB_URI is required",
        "  - JWT_MERCHANT_SECRET must be at least 32 characters long",
        "  - JWT_REFRESH_SECRET is required",
    ] {
        assert!(
            stderr.lines().any(|l| l == line),
            "{line:?} missing in {stderr}"
        );
    }
    assert!(!stderr.contains("short"), "secret values are never printed");
}

// Multi-threaded: the server answers while this thread waits for the child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_0_for_a_ready_server_and_1_with_the_reason_otherwise() {
    let app = crate::helpers::spawn_app().await;
    let admin_port = app
        .admin_address
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let run = |path: &str| {
        Command::new(BIN)
            .args(["healthcheck", "--path", path])
            .env("ADMIN_PORT", &admin_port)
            .output()
            .expect("runs")
    };
    let ready = run("/health/ready");
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    assert!(run("/health/live").status.success());
    let missing = run("/no-such-check");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));

    // Nothing listening: a clear refusal, not a hang.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let free = listener.local_addr().expect("addr").port().to_string();
    drop(listener);
    let down = Command::new(BIN)
        .args(["healthcheck", "--admin-port", &free])
        .output()
        .expect("runs");
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains(&format!("127.0.0.1:{free}")));
}

/// Variables read outside clap (the OpenTelemetry SDK's standard names, in telemetry.rs).
const OTEL: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SDK_DISABLED",
];

#[test]
fn the_production_env_example_lists_every_setting_with_its_real_default() {
    use clap::CommandFactory;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.production.example");
    let text = std::fs::read_to_string(path).expect(".env.production.example");
    // `NAME=value` or `# NAME=value` (a default shown commented out).
    let listed: std::collections::BTreeMap<String, (bool, String)> = text
        .lines()
        .filter_map(|line| {
            let (commented, rest) = match line.strip_prefix("# ") {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let (name, value) = rest.split_once('=')?;
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            is_name.then(|| (name.to_owned(), (commented, value.to_owned())))
        })
        .collect();
    let cli = merchant_api::cli::Cli::command();
    let serve = cli.find_subcommand("serve").expect("serve");
    let mut read: std::collections::BTreeMap<String, Option<String>> = serve
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_str()?.to_owned();
            let default = a
                .get_default_values()
                .first()
                .and_then(|d| d.to_str())
                .map(str::to_owned);
            Some((env, default))
        })
        .collect();
    read.extend(OTEL.iter().map(|n| ((*n).to_owned(), None)));
    let missing: Vec<&String> = read.keys().filter(|n| !listed.contains_key(*n)).collect();
    assert!(
        missing.is_empty(),
        "settings the API reads but the example omits: {missing:?}"
    );
    let unknown: Vec<&String> = listed.keys().filter(|n| !read.contains_key(*n)).collect();
    assert!(
        unknown.is_empty(),
        "names the API does not read: {unknown:?}"
    );
    // A commented line shows the default: it must be the binary's.
    for (name, (commented, value)) in &listed {
        if let (true, Some(Some(default))) = (*commented && !value.is_empty(), read.get(name)) {
            let same = value == default
                || value.parse::<f64>().ok() == default.parse::<f64>().ok()
                    && value.parse::<f64>().is_ok();
            assert!(
                same,
                "{name}: the example shows {value:?}, the default is {default:?}"
            );
        }
    }
}
