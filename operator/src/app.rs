//! `merchant-operator run`: client, CRD presence check, admin server, leader election, the
//! controller, and graceful shutdown on SIGTERM/SIGINT (or lost leadership).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use kube::{Api, Client, api::ListParams};
use tokio::sync::watch;
use tracing::{error, info};

use crate::{
    admin::{AdminState, router},
    cli::RunArgs,
    client::{ClientError, counting_client},
    controller::{self, Settings},
    crd::MerchantBackend,
    leader::{LeaderError, LeaseLock},
    metrics::Metrics,
};

/// Hint printed when the CRD is not installed.
pub const INSTALL_HINT: &str = "the MerchantBackend CRD is not installed: run `merchant-operator crd | kubectl apply --server-side -f -` (or install crds/merchantbackends.merchant.rezapp.com.yaml)";

/// Why `run` stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No usable client.
    #[error("failed to create the Kubernetes client")]
    Client(#[from] ClientError),
    /// The CRD is missing.
    #[error("{INSTALL_HINT}")]
    CrdMissing,
    /// Checking for the CRD failed.
    #[error("failed to list MerchantBackends")]
    CheckCrd(#[source] kube::Error),
    /// Binding the admin server failed.
    #[error("failed to bind the admin server")]
    BindAdmin(#[source] std::io::Error),
    /// Leader election failed.
    #[error("leader election failed")]
    Leader(#[from] LeaderError),
}

impl RunError {
    /// Bounded label.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Client(e) => e.category(),
            Self::CrdMissing => "CrdMissing",
            Self::CheckCrd(_) => "CheckCrd",
            Self::BindAdmin(_) => "BindAdmin",
            Self::Leader(e) => e.category(),
        }
    }
}

/// Fail with the install hint when the CRD is not served.
///
/// # Errors
/// `CrdMissing` on 404, `CheckCrd` on other failures.
pub async fn check_crd(client: &Client, namespace: Option<&str>) -> Result<(), RunError> {
    let api: Api<MerchantBackend> = controller::cache::api(client, namespace);
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(RunError::CrdMissing),
        Err(e) => Err(RunError::CheckCrd(e)),
    }
}

fn identity(args: &RunArgs) -> String {
    args.pod_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    info!("shutdown signal received");
}

/// Run the operator until a signal or lost leadership.
///
/// # Errors
/// See `RunError`; a lost Lease is reported as `Leader(Lost)` so the process exits non-zero.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let client = counting_client(metrics.clone()).await?;
    check_crd(&client, args.watch_namespace.as_deref()).await?;
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(args.admin_addr)
        .await
        .map_err(RunError::BindAdmin)?;
    let admin = router(AdminState {
        metrics: metrics.clone(),
        ready: ready.clone(),
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, admin).await {
            error!(error = %e, "admin server stopped");
        }
    });
    info!(addr = %args.admin_addr, "admin server listening");
    let (stop_tx, stop_rx) = watch::channel(false);
    let lock = if args.leader_election {
        Some(lease_lock(&client, &args))
    } else {
        None
    };
    let mut lost = None;
    // Ready means healthy and able to lead: a standby replica is ready too, so rollouts of a
    // two-replica operator Deployment complete.
    ready.store(true, Ordering::Relaxed);
    if let Some(lock) = &lock {
        tokio::select! {
            acquired = lock.acquire() => acquired?,
            () = shutdown_signal() => return Ok(()),
        }
    }
    let settings = Settings {
        namespace: args.watch_namespace.clone(),
        concurrency: args.concurrency,
        instance: Some(identity(&args)),
    };
    let mut rx = stop_rx.clone();
    let controller = tokio::spawn(controller::run(client, settings, metrics, async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }));
    tokio::select! {
        () = shutdown_signal() => {},
        error = hold(lock.as_ref()) => lost = Some(error),
    }
    let _ = stop_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(20), controller)
        .await
        .is_err()
    {
        error!("controller did not stop within 20 s");
    }
    if let (Some(lock), None) = (&lock, &lost) {
        lock.release().await;
    }
    lost.map_or(Ok(()), |e| Err(RunError::Leader(e)))
}

async fn hold(lock: Option<&LeaseLock>) -> LeaderError {
    match lock {
        Some(lock) => lock.hold().await,
        None => std::future::pending().await,
    }
}

fn lease_lock(client: &Client, args: &RunArgs) -> LeaseLock {
    let namespace = args
        .lease_namespace
        .clone()
        .or_else(|| args.pod_namespace.clone())
        .or_else(|| args.watch_namespace.clone())
        .unwrap_or_else(|| "default".to_owned());
    LeaseLock::new(
        client.clone(),
        &namespace,
        &args.lease_name,
        &identity(args),
        Duration::from_secs(args.lease_duration_seconds.max(3)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client whose API server answers every request with `status`.
    fn answering(status: u16) -> Client {
        let service = tower::service_fn(
            move |_req: http::Request<kube::client::Body>| async move {
                let body = serde_json::json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Failure", "message": "the server could not find the requested resource",
                    "reason": "NotFound", "code": status
                });
                http::Response::builder()
                    .status(status)
                    .body(kube::client::Body::from(
                        serde_json::to_vec(&body).unwrap_or_default(),
                    ))
            },
        );
        Client::new(service, "default")
    }

    #[tokio::test]
    async fn a_missing_crd_stops_the_operator_with_the_install_hint() {
        let error = check_crd(&answering(404), None)
            .await
            .expect_err("CRD missing");
        assert!(matches!(error, RunError::CrdMissing));
        assert!(
            error
                .to_string()
                .contains("merchant-operator crd | kubectl apply --server-side -f -")
        );
    }

    #[tokio::test]
    async fn other_failures_are_not_reported_as_a_missing_crd() {
        let error = check_crd(&answering(500), None)
            .await
            .expect_err("server error");
        assert_eq!(error.category(), "CheckCrd");
    }
}
