//! Kubernetes client construction: kubeconfig or in-cluster config, with a tower layer that
//! counts every request by verb into the operator's metrics.

use std::sync::Arc;

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
    let layer = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        metrics.request(verb(req.method(), req.uri().query()));
        req
    });
    Ok(builder.with_layer(&layer).build())
}
