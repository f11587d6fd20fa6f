//! `merchant-operator run`: clients, CRD presence check, admin server, leader election, the
//! controller (stopped and restarted as leadership is lost and won again), and graceful shutdown
//! on SIGTERM/SIGINT.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use kube::{Api, Client, Config, api::ListParams};
use tokio::sync::watch;
use tracing::{error, info};

use crate::{
    admin::{AdminState, router},
    cli::RunArgs,
    client::{ClientError, client_from_config, fenced_client_from_config},
    controller::{self, Settings},
    crd::{MerchantBackend, MerchantBackup, MerchantRestore},
    leader::{LeaderError, LeaseLock, Timing},
    metrics::Metrics,
};

/// Hint printed when the CRD is not installed.
pub const INSTALL_HINT: &str = "run `merchant-operator crd | kubectl apply --server-side -f -` (or install every file of crds/)";

/// Why `run` stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No usable client.
    #[error("failed to create the Kubernetes client")]
    Client(#[from] ClientError),
    /// A CRD is missing (its kind).
    #[error("the {0} CRD is not installed: {INSTALL_HINT}")]
    CrdMissing(&'static str),
    /// Checking for a CRD failed (its kind).
    #[error("failed to list {0} objects")]
    CheckCrd(&'static str, #[source] kube::Error),
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
            Self::CrdMissing(_) => "CrdMissing",
            Self::CheckCrd(..) => "CheckCrd",
            Self::BindAdmin(_) => "BindAdmin",
            Self::Leader(e) => e.category(),
        }
    }
}

/// Fail with the install hint when one of the CRDs (MerchantBackend, MerchantBackup,
/// MerchantRestore) is not served.
///
/// # Errors
/// `CrdMissing` on 404, `CheckCrd` on other failures.
pub async fn check_crd(client: &Client, namespace: Option<&str>) -> Result<(), RunError> {
    served::<MerchantBackend>(client, namespace, "MerchantBackend").await?;
    served::<MerchantBackup>(client, namespace, "MerchantBackup").await?;
    served::<MerchantRestore>(client, namespace, "MerchantRestore").await
}

async fn served<K>(
    client: &Client,
    namespace: Option<&str>,
    kind: &'static str,
) -> Result<(), RunError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(RunError::CrdMissing(kind)),
        Err(e) => Err(RunError::CheckCrd(kind, e)),
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

/// Run the operator until a signal. With leader election, a replica that loses the Lease stops
/// its controller (its writes are already fenced) and stands by to lead again.
///
/// # Errors
/// See `RunError`.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let config = Config::infer()
        .await
        .map_err(|e| RunError::Client(ClientError::InferConfig(e)))?;
    let namespaces = args.watch_namespaces();
    let lease_client = client_from_config(config.clone(), metrics.clone())?;
    check_crd(&lease_client, namespaces.first().map(String::as_str)).await?;
    let lock = leader_lock(&lease_client, &args)?;
    // The controller writes through the fence of the Lease it holds; without election it is the
    // only replica and writes freely.
    let client = match &lock {
        Some(lock) => fenced_client_from_config(config, metrics.clone(), lock.fence())?,
        None => client_from_config(config, metrics.clone())?,
    };
    serve_admin(&args, &metrics).await?;
    crate::memory::spawn_trimmer();
    let settings = Settings {
        namespaces,
        secret_selector: args.secret_selector.clone(),
        concurrency: args.concurrency,
        max_concurrent_rollouts: Some(args.max_concurrent_rollouts),
        instance: Some(identity(&args)),
    };
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        if let Some(lock) = &lock {
            tokio::select! {
                acquired = lock.acquire() => acquired?,
                () = &mut shutdown => return Ok(()),
            }
        }
        let stopping = lead(
            &client,
            &settings,
            &metrics,
            lock.as_ref(),
            shutdown.as_mut(),
        )
        .await;
        if stopping {
            if let Some(lock) = &lock {
                lock.release().await;
            }
            return Ok(());
        }
    }
}

/// The Lease lock, with leader election; its timing checked.
fn leader_lock(client: &Client, args: &RunArgs) -> Result<Option<LeaseLock>, RunError> {
    if !args.leader_election {
        return Ok(None);
    }
    let lock = lease_lock(client, args);
    lock.timing().check()?;
    Ok(Some(lock))
}

/// One term as leader: run the controller until `shutdown` (returns true) or until the Lease
/// is lost (false), then stop it.
async fn lead(
    client: &Client,
    settings: &Settings,
    metrics: &Arc<Metrics>,
    lock: Option<&LeaseLock>,
    shutdown: Pin<&mut impl Future<Output = ()>>,
) -> bool {
    metrics.set_leader(true);
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let mut controller = tokio::spawn(controller::run(
        client.clone(),
        settings.clone(),
        metrics.clone(),
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        },
    ));
    let stopping = tokio::select! {
        () = shutdown => true,
        _lost = hold(lock) => false,
    };
    metrics.set_leader(false);
    let _ = stop_tx.send(true);
    // Bounded: a controller that does not stop is aborted, never left running into a later
    // term (it could not write anyway: the fence is closed).
    if tokio::time::timeout(Duration::from_secs(20), &mut controller)
        .await
        .is_err()
    {
        error!("controller did not stop within 20 s; aborted");
        controller.abort();
    }
    stopping
}

async fn serve_admin(args: &RunArgs, metrics: &Arc<Metrics>) -> Result<(), RunError> {
    let listener = tokio::net::TcpListener::bind(args.admin_addr)
        .await
        .map_err(RunError::BindAdmin)?;
    let addr = listener.local_addr().map_err(RunError::BindAdmin)?;
    // Ready means healthy and able to lead: a standby replica is ready too, so rollouts of a
    // two-replica operator Deployment complete.
    let admin = router(AdminState {
        metrics: metrics.clone(),
        ready: Arc::new(AtomicBool::new(true)),
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, admin).await {
            error!(error = %e, "admin server stopped");
        }
    });
    info!(addr = %addr, "admin server listening");
    Ok(())
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
        .or_else(|| args.watch_namespaces().first().cloned())
        .unwrap_or_else(|| "default".to_owned());
    let timing = Timing {
        lease_duration: Duration::from_secs(args.lease_duration_seconds),
        renew_deadline: Duration::from_secs(args.lease_renew_deadline_seconds),
        retry_period: Duration::from_secs(args.lease_retry_period_seconds),
    };
    LeaseLock::with_timing(
        client.clone(),
        &namespace,
        &args.lease_name,
        &identity(args),
        timing,
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
        assert!(matches!(error, RunError::CrdMissing("MerchantBackend")));
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
