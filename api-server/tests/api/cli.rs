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
