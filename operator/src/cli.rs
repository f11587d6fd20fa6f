//! Command-line interface of `merchant-operator`. Every flag can also come from the environment.

use std::{net::SocketAddr, path::PathBuf};

use crate::telemetry::LogFormat;

/// Kubernetes operator for the merchant API stack.
#[derive(Debug, clap::Parser)]
#[command(name = "merchant-operator", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// What the operator binary does.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the controller against a cluster (kubeconfig or in-cluster).
    Run(RunArgs),
    /// Print the MerchantBackend CustomResourceDefinition as YAML.
    Crd,
    /// Print, without a cluster, the manifests `run` would apply for a MerchantBackend.
    Render {
        /// MerchantBackend manifest to render (YAML, may also hold the referenced Secrets for an
        /// exact secrets checksum); `-` reads standard input.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
}

/// Flags of `merchant-operator run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Only watch MerchantBackends in this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Address of the admin server (/healthz, /readyz, /metrics).
    #[arg(long, env = "ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    pub admin_addr: SocketAddr,
    /// Log format: auto (JSON unless stderr is a terminal), json or text.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "auto")]
    pub log_format: LogFormat,
    /// Elect a leader through a Lease so several replicas are safe.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the leader-election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "merchant-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (default: POD_NAMESPACE, else the watch namespace, else `default`).
    #[arg(long, env = "LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Seconds a Lease is valid without renewal (renewed every third of it).
    #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 30)]
    pub lease_duration_seconds: u64,
    /// Reconciles running at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// This replica's name (Event reporter instance, Lease identity; default: hostname + pid).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Namespace this replica runs in (downward API).
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,
}
