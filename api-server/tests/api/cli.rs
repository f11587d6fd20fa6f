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
