//! `kubectl-merchant`, the kubectl plugin (`kubectl merchant ...` once on the PATH): what a
//! person does to a MerchantBackend without editing YAML. Every command is a plain API call the
//! operator already understands (an annotation, a MerchantBackup, a MerchantRestore), so the
//! plugin holds no logic the operator does not.

pub mod summary;

use std::time::Duration;

use clap::{Parser, Subcommand};
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, LogParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use thiserror::Error;

use crate::crd::{
    ABORT_ANNOTATION, INSTANCE_LABEL, MerchantBackend, MerchantBackup, MerchantBackupSpec,
    MerchantRestore, MerchantRestoreSpec, PAUSE_ANNOTATION, PROMOTE_ANNOTATION, RETRY_ANNOTATION,
};

/// Command line of `kubectl merchant`.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-merchant",
    version,
    about = "Operate MerchantBackends: status, releases, backups, restores, logs"
)]
pub struct Cli {
    /// Namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Conditions, rollout, history and backups of a MerchantBackend, readable.
    Status {
        /// MerchantBackend name.
        name: String,
    },
    /// Finish the current rollout pause (Canary) or switch the Services (BlueGreen).
    Promote {
        /// MerchantBackend name.
        name: String,
        /// Skip every remaining canary step.
        #[arg(long)]
        full: bool,
    },
    /// Stop the rollout and go back to the stable revision.
    Abort {
        /// MerchantBackend name.
        name: String,
    },
    /// Roll out again a revision that was rolled back or aborted.
    Retry {
        /// MerchantBackend name.
        name: String,
    },
    /// Hold the rollout where it is (until `resume`).
    Pause {
        /// MerchantBackend name.
        name: String,
    },
    /// Let a paused rollout go on.
    Resume {
        /// MerchantBackend name.
        name: String,
    },
    /// Take a backup now (a MerchantBackup); prints its name.
    Backup {
        /// MerchantBackend name.
        name: String,
        /// Wait until it succeeds or fails (at most this many seconds).
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
    },
    /// Restore a backup (a MerchantRestore); by default into a new database.
    Restore {
        /// MerchantBackend name.
        name: String,
        /// A MerchantBackup name or an `s3://` folder (default: the newest good backup).
        #[arg(long)]
        backup: Option<String>,
        /// Restore into the serving database (the API is held at zero pods meanwhile).
        #[arg(long)]
        in_place: bool,
        /// Database to restore into.
        #[arg(long, conflicts_with = "in_place")]
        target_database: Option<String>,
        /// Point in time (RFC 3339), from the captured changes.
        #[arg(long, conflicts_with = "backup")]
        until: Option<String>,
    },
    /// Logs of the API pods, each line prefixed with its pod.
    Logs {
        /// MerchantBackend name.
        name: String,
        /// Lines per pod.
        #[arg(long, default_value_t = 100)]
        tail: i64,
        /// Keep streaming.
        #[arg(short, long)]
        follow: bool,
    },
}

/// What can go wrong, said for the person at the terminal.
#[derive(Debug, Error)]
pub enum PluginError {
    /// No kubeconfig or cluster.
    #[error("cannot reach the cluster: {0}")]
    Connect(#[source] kube::Error),
    /// The API server refused or failed a request.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The server's answer.
        #[source]
        source: kube::Error,
    },
    /// A backup did not succeed.
    #[error("MerchantBackup {0} {1}")]
    Backup(String, String),
    /// Reading a log stream failed.
    #[error("reading logs of {0}: {1}")]
    Logs(String, #[source] std::io::Error),
}

type Result<T> = std::result::Result<T, PluginError>;

fn api_error(what: impl Into<String>) -> impl FnOnce(kube::Error) -> PluginError {
    let what = what.into();
    move |source| PluginError::Api { what, source }
}

/// Run one command against the cluster of the current kubeconfig.
///
/// # Errors
/// `PluginError` naming what failed.
pub async fn run(cli: Cli) -> Result<()> {
    let client = Client::try_default().await.map_err(PluginError::Connect)?;
    let ns = cli
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let backends = Api::<MerchantBackend>::namespaced(client.clone(), &ns);
    match cli.command {
        Command::Status { name } => status(&client, &ns, &name).await,
        Command::Promote { name, full } => {
            let value = if full { "full" } else { "true" };
            annotate(&backends, &name, PROMOTE_ANNOTATION, Some(value)).await
        }
        Command::Abort { name } => annotate(&backends, &name, ABORT_ANNOTATION, Some("true")).await,
        Command::Retry { name } => annotate(&backends, &name, RETRY_ANNOTATION, Some("true")).await,
        Command::Pause { name } => annotate(&backends, &name, PAUSE_ANNOTATION, Some("true")).await,
        Command::Resume { name } => annotate(&backends, &name, PAUSE_ANNOTATION, None).await,
        Command::Backup { name, wait } => backup(&client, &ns, &name, wait).await,
        Command::Restore {
            name,
            backup,
            in_place,
            target_database,
            until,
        } => {
            let spec = MerchantRestoreSpec {
                backend_ref: name.clone(),
                backup,
                target_database,
                in_place: in_place.then_some(true),
                until,
                accept_identity_change: None,
            };
            restore(&client, &ns, &name, spec).await
        }
        Command::Logs { name, tail, follow } => logs(&client, &ns, &name, tail, follow).await,
    }
}

async fn status(client: &Client, ns: &str, name: &str) -> Result<()> {
    let mb = Api::<MerchantBackend>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .map_err(api_error(format!("MerchantBackend {ns}/{name}")))?;
    let mut backups: Vec<MerchantBackup> = Api::<MerchantBackup>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(api_error("listing MerchantBackups"))?
        .items
        .into_iter()
        .filter(|b| b.spec.backend_ref == name)
        .collect();
    backups.sort_by_key(|b| std::cmp::Reverse(b.metadata.creation_timestamp.clone().map(|t| t.0)));
    print!("{}", summary::status(&mb, &backups));
    Ok(())
}

/// Set (or with `None` remove) one annotation; the operator acts on it and removes the one-shot
/// ones itself.
async fn annotate(
    backends: &Api<MerchantBackend>,
    name: &str,
    key: &str,
    value: Option<&str>,
) -> Result<()> {
    let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
    backends
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_error(format!("annotating MerchantBackend {name}")))?;
    match value {
        Some(v) => println!("merchantbackend/{name} annotated {key}={v}"),
        None => println!("merchantbackend/{name}: {key} removed"),
    }
    Ok(())
}

async fn backup(client: &Client, ns: &str, name: &str, wait: Option<u64>) -> Result<()> {
    let api = Api::<MerchantBackup>::namespaced(client.clone(), ns);
    let object = MerchantBackup {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            ..ObjectMeta::default()
        },
        spec: MerchantBackupSpec {
            backend_ref: name.to_owned(),
        },
        status: None,
    };
    let created = api
        .create(&PostParams::default(), &object)
        .await
        .map_err(api_error(format!("creating a MerchantBackup of {name}")))?;
    let backup = created.name_any();
    println!("merchantbackup/{backup} created");
    let Some(seconds) = wait else { return Ok(()) };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let b = api
            .get(&backup)
            .await
            .map_err(api_error(format!("MerchantBackup {backup}")))?;
        let status = b.status.unwrap_or_default();
        match status.phase {
            Some(crate::crd::Phase::Succeeded) => {
                println!(
                    "merchantbackup/{backup} succeeded: {}",
                    status.location.unwrap_or_default()
                );
                return Ok(());
            }
            Some(crate::crd::Phase::Failed) => {
                let why = status.error.or(status.message).unwrap_or_default();
                return Err(PluginError::Backup(backup, format!("failed: {why}")));
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(PluginError::Backup(
                    backup,
                    format!("still not finished after {seconds} s"),
                ));
            }
            _ => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
}

async fn restore(client: &Client, ns: &str, name: &str, spec: MerchantRestoreSpec) -> Result<()> {
    let object = MerchantRestore {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-restore-")),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    };
    let created = Api::<MerchantRestore>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &object)
        .await
        .map_err(api_error(format!("creating a MerchantRestore for {name}")))?;
    println!(
        "merchantrestore/{} created (kubectl get mrs -n {ns} -w to follow it)",
        created.name_any()
    );
    Ok(())
}

async fn logs(client: &Client, ns: &str, name: &str, tail: i64, follow: bool) -> Result<()> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns);
    let selector = format!("{INSTANCE_LABEL}={name},app.kubernetes.io/name=merchant-api");
    let mut names: Vec<String> = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(api_error(format!("listing the pods of {name}")))?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    let params = LogParams {
        container: Some("api".to_owned()),
        tail_lines: Some(tail),
        follow,
        ..LogParams::default()
    };
    let mut streams = Vec::new();
    for pod in names {
        let lines = pods
            .log_stream(&pod, &params)
            .await
            .map_err(api_error(format!("logs of pod {pod}")))?
            .lines();
        let prefix = pod.clone();
        streams.push(
            lines
                .map(move |line| line.map(|l| format!("[{prefix}] {l}")))
                .map_err(move |e| PluginError::Logs(pod.clone(), e))
                .boxed(),
        );
    }
    // Followed: lines as they come from every pod; else pod after pod.
    if follow {
        let mut all = futures::stream::select_all(streams);
        while let Some(line) = all.next().await {
            println!("{}", line?);
        }
    } else {
        for mut stream in streams {
            while let Some(line) = stream.next().await {
                println!("{}", line?);
            }
        }
    }
    Ok(())
}
