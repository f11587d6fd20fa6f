//! Command-line interface of `merchant-operator`. Every flag can also come from the environment.

use std::path::PathBuf;

/// Kubernetes operator for the merchant API stack.
#[derive(Debug, clap::Parser)]
#[command(name = "merchant-operator", version, about)]
pub struct Cli {
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
        /// MerchantBackend manifest to render (YAML); `-` reads standard input.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
}

/// Flags of `merchant-operator run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Only watch MerchantBackends in this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
}
