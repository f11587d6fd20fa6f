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
    /// Print the CustomResourceDefinitions as multi-document YAML (MerchantBackend,
    /// MerchantBackup, MerchantRestore), or only the one named.
    Crd {
        /// Name of one CRD, e.g. `merchantbackups.merchant.rezapp.com`. Default: all.
        name: Option<String>,
    },
    /// Print, without a cluster, the manifests `run` would apply for a MerchantBackend.
    Render {
        /// MerchantBackend manifest to render (YAML, may also hold the referenced Secrets for an
        /// exact secrets checksum); `-` reads standard input.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// GET one URL of an operator's admin server and exit 0 when it answers 2xx (the chart's
    /// `helm test` and container health checks: the image has no shell or curl).
    Healthcheck(HealthcheckArgs),
}

/// Flags of `merchant-operator healthcheck`.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The URL to ask, e.g. `http://merchant-operator-metrics.merchant-system.svc:8080/readyz`.
    #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
    pub url: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    pub timeout_seconds: u64,
}

/// Flags of `merchant-operator run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Only serve these namespaces, comma-separated: one set of watches per namespace, so the
    /// operator needs read access (Secrets included) only there. Empty: all namespaces, which
    /// needs cluster-wide read access to Secrets.
    #[arg(
        long = "watch-namespace",
        alias = "watch-namespaces",
        env = "WATCH_NAMESPACE",
        value_delimiter = ','
    )]
    pub watch_namespace: Vec<String>,
    /// Only watch Secrets matching this label selector (e.g. `merchant.rezapp.com/watch=true`);
    /// every Secret a MerchantBackend references must then carry the label. Default: every Secret
    /// of the watched namespaces.
    #[arg(long, env = "SECRET_SELECTOR")]
    pub secret_selector: Option<String>,
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
    /// Seconds a standby waits after the Lease last changed before taking it over.
    #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 10)]
    pub lease_duration_seconds: u64,
    /// Seconds the leader keeps leading (and writing) without a successful renewal; must be
    /// shorter than the lease duration so it stops before a standby can take over.
    #[arg(long, env = "LEASE_RENEW_DEADLINE_SECONDS", default_value_t = 7)]
    pub lease_renew_deadline_seconds: u64,
    /// Seconds between Lease renewals (leader) and acquisition attempts (standby).
    #[arg(long, env = "LEASE_RETRY_PERIOD_SECONDS", default_value_t = 2)]
    pub lease_retry_period_seconds: u64,
    /// Reconciles running at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Most MerchantBackends mid-rollout or mid-migration at once; others wait (rollout phase
    /// Queued). 0: no cap. A bad image pushed everywhere then stops at this many stacks.
    #[arg(long, env = "MAX_CONCURRENT_ROLLOUTS", default_value_t = 5)]
    pub max_concurrent_rollouts: usize,
    /// Runtime threads. 1 (default) runs everything on the main thread: the operator is
    /// I/O-bound (about 6 CPU-seconds to roll out 1,000 MerchantBackends), and one thread means
    /// one malloc arena, which keeps RSS down; more threads spread reconciles over cores.
    #[arg(long, env = "WORKER_THREADS", default_value_t = 1)]
    pub worker_threads: u16,
    /// This replica's name (Event reporter instance, Lease identity; default: hostname + pid).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Namespace this replica runs in (downward API).
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,
}

impl RunArgs {
    /// The watched namespaces, without empty entries (`WATCH_NAMESPACE=""` means all).
    pub fn watch_namespaces(&self) -> Vec<String> {
        let mut namespaces: Vec<String> = self
            .watch_namespace
            .iter()
            .map(|ns| ns.trim().to_owned())
            .filter(|ns| !ns.is_empty())
            .collect();
        namespaces.sort();
        namespaces.dedup();
        namespaces
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn run_args(args: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from([&["merchant-operator", "run"], args].concat())
            .expect("valid flags");
        match cli.command {
            Command::Run(args) => args,
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn watch_namespace_takes_one_namespace_or_a_comma_separated_list() {
        assert_eq!(
            run_args(&["--watch-namespace", "shop"]).watch_namespaces(),
            ["shop"]
        );
        assert_eq!(
            run_args(&["--watch-namespace", "b,a, ,b"]).watch_namespaces(),
            ["a", "b"]
        );
        assert!(
            run_args(&["--watch-namespace", ""])
                .watch_namespaces()
                .is_empty()
        );
        assert!(run_args(&[]).watch_namespaces().is_empty());
    }
}
