//! The data tools' reports (docs/backups.md, "Reports"): one JSON object each `merchant-api
//! backup | verify | restore | prune | migrate` run leaves as its container's termination
//! message. The operator reads it from the pod status, so it needs no log access; a tool that
//! died before writing one leaves its log tail there instead (FallbackToLogsOnError).

use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;

/// What a data tool reported. Fields absent from a command's report stay `None`/empty.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolReport {
    /// `backup`, `verify`, `restore`, `prune`, `migrate` or `migrate-plan`.
    pub command: String,
    /// `Succeeded` or `Failed`.
    #[serde(default)]
    pub result: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Backup folder (backup, verify, restore).
    #[serde(default)]
    pub location: Option<String>,
    /// Backup id (its UTC start time).
    #[serde(default)]
    pub id: Option<String>,
    /// Bytes written (backup).
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Documents dumped, verified or restored.
    #[serde(default)]
    pub documents: Option<u64>,
    /// Collections.
    #[serde(default)]
    pub collections: Option<u64>,
    /// Uploaded files.
    #[serde(default)]
    pub uploads: Option<u64>,
    /// Schema migration version of the backup.
    #[serde(default)]
    pub migration_version: Option<i64>,
    /// Database identity (backup, restore, migrate, migrate-plan).
    #[serde(default)]
    pub identity: Option<String>,
    /// Start time, RFC 3339.
    #[serde(default)]
    pub started_at: Option<String>,
    /// End time, RFC 3339.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Wall time of the command.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    /// Trial-restore time (verify): the measured restore time.
    #[serde(default)]
    pub restore_seconds: Option<f64>,
    /// Target database (restore).
    #[serde(default)]
    pub database: Option<String>,
    /// What did not match (verify).
    #[serde(default)]
    pub mismatches: Vec<String>,
    /// Highest applied migration (migrate, migrate-plan).
    #[serde(default)]
    pub current: Option<i64>,
    /// Highest migration the image knows (migrate-plan).
    #[serde(default)]
    pub target: Option<i64>,
    /// Steps not yet applied (migrate-plan).
    #[serde(default)]
    pub pending: Vec<PlannedStep>,
    /// Applied versions the image does not know: the database is ahead (migrate-plan).
    #[serde(default)]
    pub unknown_applied: Vec<i64>,
    /// Versions applied (migrate up).
    #[serde(default)]
    pub applied: Vec<i64>,
}

/// One pending migration of a plan.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedStep {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// `expand` or `contract`.
    pub phase: String,
    /// Whether `migrate down` undoes it.
    pub reversible: bool,
}

impl ToolReport {
    /// The tool said it succeeded.
    pub fn succeeded(&self) -> bool {
        self.result.as_deref() == Some("Succeeded")
    }
}

/// What a finished data-tool pod left: its report, or the text it ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A report was written.
    Report(Box<ToolReport>),
    /// No report: the termination message (the log tail) or the container's reason, cut short.
    NoReport(String),
}

/// Longest text kept from a pod that left no report.
const TAIL_LIMIT: usize = 1024;

/// The outcome of the tool container of a finished pod; `None` while it has not terminated.
pub fn from_pod(pod: &Pod) -> Option<Outcome> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let terminated = statuses
        .iter()
        .find_map(|s| s.state.as_ref()?.terminated.as_ref())?;
    let message = terminated.message.clone().unwrap_or_default();
    Some(parse(
        &message,
        terminated.reason.as_deref(),
        terminated.exit_code,
    ))
}

/// The tool's outcome from a finished Job's pod (the newest, should the Job have made several):
/// one list request, made once per finished run. The whole termination message is read here,
/// never the pods cache's truncated copy.
pub async fn read_outcome(client: &kube::Client, namespace: &str, job: &str) -> Option<Outcome> {
    let pods = kube::Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&kube::api::ListParams::default().labels(&format!("job-name={job}")))
        .await;
    match pods {
        Ok(list) => {
            let mut pods = list.items;
            pods.sort_by_key(|p| p.metadata.creation_timestamp.clone());
            pods.iter().rev().find_map(from_pod)
        }
        Err(error) => {
            tracing::warn!(job, error = %error, "could not read the run's pod");
            None
        }
    }
}

/// A termination message as an outcome.
pub fn parse(message: &str, reason: Option<&str>, exit_code: i32) -> Outcome {
    // The report is the last line: a log tail may precede it when the tool wrote both.
    let report = message
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .and_then(|l| serde_json::from_str::<ToolReport>(l).ok())
        .filter(|r| !r.command.is_empty());
    match report {
        Some(report) => Outcome::Report(Box::new(report)),
        None => {
            let text = message.trim();
            let text = if text.is_empty() {
                format!(
                    "exited with code {exit_code} ({}) without a report",
                    reason.unwrap_or("no reason given")
                )
            } else {
                tail(text, TAIL_LIMIT)
            };
            Outcome::NoReport(text)
        }
    }
}

/// The last `limit` bytes of `text`, on a character boundary.
pub fn tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_report_is_read() {
        let Outcome::Report(r) = parse(
            r#"{"command":"backup","result":"Succeeded","location":"s3://b/p/20261206T020000Z","id":"20261206T020000Z","sizeBytes":123,"documents":42,"durationSeconds":9}"#,
            Some("Completed"),
            0,
        ) else {
            panic!("no report")
        };
        assert!(r.succeeded());
        assert_eq!(r.size_bytes, Some(123));
        assert_eq!(r.location.as_deref(), Some("s3://b/p/20261206T020000Z"));
    }

    #[test]
    fn a_plan_lists_its_steps() {
        let Outcome::Report(r) = parse(
            r#"{"command":"migrate-plan","result":"Succeeded","current":5,"target":6,"identity":"x","pending":[{"version":6,"name":"n","phase":"expand","reversible":false}],"unknownApplied":[]}"#,
            None,
            0,
        ) else {
            panic!("no report")
        };
        assert_eq!(r.pending[0].phase, "expand");
        assert!(!r.pending[0].reversible);
    }

    #[test]
    fn a_log_tail_is_kept_when_there_is_no_report() {
        let log = format!("{}\npanicked at boom", "x".repeat(4000));
        let Outcome::NoReport(text) = parse(&log, Some("Error"), 101) else {
            panic!("report")
        };
        assert!(text.ends_with("panicked at boom"));
        assert!(text.len() <= TAIL_LIMIT + 3);
        assert_eq!(
            parse("", Some("OOMKilled"), 137),
            Outcome::NoReport("exited with code 137 (OOMKilled) without a report".into())
        );
    }
}
