//! `merchant-api healthcheck`: one GET to the admin listener of a server on this host, for
//! container health checks (Docker's HEALTHCHECK, compose) in an image without a shell or curl.
//! Exit 0 when the server answers 2xx; 1 with the reason otherwise.

use std::{process::ExitCode, time::Duration};

use crate::cli::HealthcheckArgs;

/// Check, print why on failure, and return the exit code.
pub async fn run(args: &HealthcheckArgs) -> ExitCode {
    match check(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("merchant-api healthcheck: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The URL asked: the admin listener on loopback.
pub fn url(args: &HealthcheckArgs) -> String {
    let path = if args.path.starts_with('/') {
        args.path.clone()
    } else {
        format!("/{}", args.path)
    };
    format!("http://127.0.0.1:{}{path}", args.admin_port)
}

async fn check(args: &HealthcheckArgs) -> Result<(), String> {
    let url = url(args);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout_seconds.max(1)))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", crate::error::chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(format!(
        "{url} answered {status}: {}",
        body.chars().take(300).collect::<String>()
    ))
}
