//! `merchant-operator healthcheck`: one GET to an operator's admin server, for the chart's
//! `helm test` pod and container health checks in an image without a shell or curl. Exit 0 when
//! the answer is 2xx; 1 with the reason otherwise.

use std::{process::ExitCode, time::Duration};

use crate::cli::HealthcheckArgs;

/// Check, print why on failure, and return the exit code.
pub async fn run(args: &HealthcheckArgs) -> ExitCode {
    match check(args).await {
        Ok(body) => {
            println!("{}: {}", args.url, body.trim());
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("merchant-operator healthcheck: {why}");
            ExitCode::FAILURE
        }
    }
}

async fn check(args: &HealthcheckArgs) -> Result<String, String> {
    let url = &args.url;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout_seconds.max(1)))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", crate::telemetry::chain(&e)))?;
    let status = response.status();
    let body: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{url} answered {status}: {body}"))
    }
}
