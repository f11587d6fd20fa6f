//! Kubernetes client construction: kubeconfig or in-cluster config, with a tower layer that
//! counts every request by verb into the operator's metrics, and (for the controller's client)
//! a leadership fence that refuses writes once the leader's renew deadline has passed.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use kube::{Client, Config, client::ClientBuilder};

use crate::metrics::{Metrics, verb};

/// Failure to build a client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Neither a kubeconfig nor an in-cluster service account was usable.
    #[error("failed to infer Kubernetes client configuration")]
    InferConfig(#[source] kube::config::InferConfigError),
    /// The HTTP stack could not be built from the configuration.
    #[error("failed to build Kubernetes client")]
    Build(#[source] kube::Error),
}

impl ClientError {
    /// Bounded label.
    pub fn category(&self) -> &'static str {
        match self {
            Self::InferConfig(_) => "InferConfig",
            Self::Build(_) => "BuildClient",
        }
    }
}

/// A write refused because this replica may no longer be the leader.
#[derive(Debug, thiserror::Error)]
#[error("write refused: leadership not confirmed within the renew deadline")]
pub struct Fenced;

/// Until when this replica may write, on the monotonic clock (wall-clock jumps cannot reopen
/// it). Leader election moves the deadline forward on each renewal; a stopped or partitioned
/// leader finds it passed the moment it runs again, before it could learn so from the API.
#[derive(Clone, Debug, Default)]
pub struct Fence {
    deadline: Arc<Mutex<Option<Instant>>>,
}

impl Fence {
    /// A closed fence: no writes until `open_until`.
    pub fn closed() -> Self {
        Self::default()
    }

    /// Allow writes until `deadline` (never moves it backwards).
    pub fn open_until(&self, deadline: Instant) {
        if let Ok(mut current) = self.deadline.lock() {
            *current = Some(current.map_or(deadline, |c| c.max(deadline)));
        }
    }

    /// Refuse writes from now on.
    pub fn close(&self) {
        if let Ok(mut current) = self.deadline.lock() {
            *current = None;
        }
    }

    /// Whether a write may be sent now.
    pub fn is_open(&self) -> bool {
        self.deadline
            .lock()
            .is_ok_and(|d| d.is_some_and(|d| Instant::now() < d))
    }
}

/// A client from the environment (KUBECONFIG or in-cluster) that counts its requests.
///
/// # Errors
/// `ClientError` when no configuration is found or the client cannot be built.
pub async fn counting_client(metrics: Arc<Metrics>) -> Result<Client, ClientError> {
    let config = Config::infer().await.map_err(ClientError::InferConfig)?;
    client_from_config(config, metrics)
}

/// A counting client from an explicit configuration.
///
/// # Errors
/// `ClientError::Build` when the HTTP stack cannot be built.
pub fn client_from_config(config: Config, metrics: Arc<Metrics>) -> Result<Client, ClientError> {
    let builder = ClientBuilder::try_from(config).map_err(ClientError::Build)?;
    Ok(builder.with_layer(&counting(metrics)).build())
}

/// A counting client whose writes (create, update, patch, delete) pass only while `fence` is
/// open. The fence is checked last, right before the request leaves, so a reconcile that was
/// paused mid-way cannot finish its writes after leadership moved on; refused writes are
/// counted and fail with `Fenced`.
///
/// # Errors
/// `ClientError::Build` when the HTTP stack cannot be built.
pub fn fenced_client_from_config(
    config: Config,
    metrics: Arc<Metrics>,
    fence: Fence,
) -> Result<Client, ClientError> {
    let builder = ClientBuilder::try_from(config).map_err(ClientError::Build)?;
    let counter = counting(metrics.clone());
    let gate = tower::filter::FilterLayer::new(move |req: http::Request<kube::client::Body>| {
        if is_write(req.method()) && !fence.is_open() {
            metrics.write_fenced();
            return Err(Fenced);
        }
        Ok(req)
    });
    // The last layer added is the outermost: refused writes never reach the counters.
    Ok(builder.with_layer(&counter).with_layer(&gate).build())
}

type Req = http::Request<kube::client::Body>;

fn counting(metrics: Arc<Metrics>) -> tower::util::MapRequestLayer<impl Fn(Req) -> Req + Clone> {
    tower::util::MapRequestLayer::new(move |req: Req| {
        metrics.request(verb(req.method(), req.uri().query()));
        req
    })
}

fn is_write(method: &http::Method) -> bool {
    !matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}
