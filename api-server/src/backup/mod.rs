//! `backup`, `restore`, `verify` and `prune`: the data tools the operator runs as Jobs. The
//! layout, flags and reports are the contract in docs/backups.md.

pub mod archive;
pub mod changes;
pub mod digest;
pub mod dump;
pub mod load;
pub mod location;
pub mod manifest;
pub mod progress;
pub mod prune;
pub mod report;
pub mod verify;

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use location::{Location, S3Args};

use crate::{
    config::{Config, StorageSettings},
    ops::identity::IdentityMismatch,
    startup::{StartupError, connect_store},
    store::Store,
    uploads::storage::FileStore,
};

/// A data command failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Bad flags or settings.
    #[error("{0}")]
    Usage(String),
    /// Could not connect to MongoDB.
    #[error("failed to connect to MongoDB")]
    Connect(#[from] StartupError),
    /// A MongoDB call failed.
    #[error("failed to {what}")]
    Mongo {
        /// What was being done.
        what: String,
        /// Cause.
        #[source]
        source: mongodb::error::Error,
    },
    /// The object store failed.
    #[error("storage error at {object}")]
    Storage {
        /// Object.
        object: String,
        /// Cause.
        #[source]
        source: object_store::Error,
    },
    /// Local or upload I/O failed.
    #[error("I/O error on {what}")]
    Io {
        /// What.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// An object the backup lists is gone.
    #[error("missing object {object}")]
    Missing {
        /// Object.
        object: String,
    },
    /// An object is damaged.
    #[error("corrupt object {object}: {reason}")]
    Corrupt {
        /// Object.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// The backup never finished.
    #[error(
        "incomplete backup {location}: started at {started_at}, no manifest.json (the backup did not finish)"
    )]
    Incomplete {
        /// Folder.
        location: String,
        /// When it started.
        started_at: String,
    },
    /// Checksums failed before anything was written.
    #[error("refusing to restore {location}: {}", problems.join("; "))]
    Damaged {
        /// Folder.
        location: String,
        /// One line per object.
        problems: Vec<String>,
    },
    /// A verify run found differences.
    #[error("verification of {location} failed: {}", mismatches.join("; "))]
    Mismatch {
        /// Folder.
        location: String,
        /// One line per difference.
        mismatches: Vec<String>,
    },
    /// Nothing to read where pointed.
    #[error("{0}")]
    NotFound(String),
    /// Restoring would mix with existing data.
    #[error(
        "{database}.{collection} already holds documents: restore into a new database, or pass --drop to replace it"
    )]
    NotEmpty {
        /// Database.
        database: String,
        /// Collection.
        collection: String,
    },
    /// The target database is not the expected one.
    #[error(transparent)]
    Identity(#[from] IdentityMismatch),
    /// An unexpected reply or internal failure.
    #[error("{0}")]
    Invalid(String),
}

impl BackupError {
    /// A MongoDB failure while doing `what`.
    pub fn mongo(what: impl Into<String>, source: mongodb::error::Error) -> Self {
        Self::Mongo {
            what: what.into(),
            source,
        }
    }

    /// 2 for usage, 3 for an identity mismatch, 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(2),
            Self::Identity(_) => ExitCode::from(3),
            _ => ExitCode::FAILURE,
        }
    }
}

/// `merchant-api backup`.
#[derive(Debug, Clone, clap::Args)]
pub struct BackupArgs {
    /// MongoDB and uploads settings (those of `serve`).
    #[command(flatten)]
    pub config: Config,
    /// S3 settings of the backup location.
    #[command(flatten)]
    pub s3: S3Args,
    /// Parent location (`s3://BUCKET/PREFIX` or a directory); the backup is a new folder in it.
    #[arg(long)]
    pub to: String,
    /// The MerchantBackend (JSON) to store with the backup.
    #[arg(long, env = "BACKUP_BACKEND_SPEC", hide_env_values = true)]
    pub backend_spec: Option<String>,
    /// After a good backup, prune the location: keep this many days…
    #[arg(long, requires = "min_backups", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: Option<u32>,
    /// …and never fewer than this many good backups.
    #[arg(long, requires = "retention_days", value_parser = clap::value_parser!(u32).range(1..))]
    pub min_backups: Option<u32>,
    /// Leave the uploaded files out.
    #[arg(long)]
    pub skip_uploads: bool,
    /// gzip level (1 fastest, 9 smallest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub compression_level: u32,
    /// Write the outcome as one JSON object to this file (e.g. /dev/termination-log).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// `merchant-api restore`.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// MongoDB and uploads settings (those of `serve`).
    #[command(flatten)]
    pub config: Config,
    /// S3 settings of the backup location.
    #[command(flatten)]
    pub s3: S3Args,
    /// A backup folder, or with --latest the location holding backups.
    #[arg(long)]
    pub from: String,
    /// Use the newest complete backup under --from whose checksums pass.
    #[arg(long)]
    pub latest: bool,
    /// Target database. Default: the database `serve` uses (MONGODB_DATABASE or the URI's),
    /// that is an in-place restore.
    #[arg(long)]
    pub db: Option<String>,
    /// Drop each target collection before restoring it.
    #[arg(long)]
    pub drop: bool,
    /// Also copy the backup's uploaded files into the configured uploads storage.
    #[arg(long)]
    pub restore_uploads: bool,
    /// Give the restored database an identity of its own (a copy, not the original).
    #[arg(long)]
    pub new_identity: bool,
    /// Refuse (exit 3) unless the target's identity is this one.
    #[arg(long)]
    pub expect_identity: Option<String>,
    /// Point in time (RFC 3339): restore the newest snapshot backup under --from taken before
    /// it, then replay the changes `capture` recorded up to it.
    #[arg(long, value_parser = parse_time, conflicts_with = "latest")]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Write the outcome as one JSON object to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("not an RFC 3339 time such as 2026-12-06T02:30:00Z: {e}"))
}

/// `merchant-api capture`.
#[derive(Debug, Clone, clap::Args)]
pub struct CaptureArgs {
    /// MongoDB settings (the server must support change streams: a replica set).
    #[command(flatten)]
    pub config: Config,
    /// S3 settings of the backup location.
    #[command(flatten)]
    pub s3: S3Args,
    /// The backups' location; segments go to its `changes/` folder.
    #[arg(long)]
    pub to: String,
    /// Close a segment after this many seconds (the most a crash can make capture re-read).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub segment_seconds: u64,
    /// …or after this many events.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub segment_events: u64,
    /// Stop after this many seconds (default: run until SIGTERM).
    #[arg(long)]
    pub for_seconds: Option<u64>,
}

/// `merchant-api verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// MongoDB settings (the scratch database lives on the same server).
    #[command(flatten)]
    pub config: Config,
    /// S3 settings of the backup location.
    #[command(flatten)]
    pub s3: S3Args,
    /// A backup folder, or with --latest the location holding backups.
    #[arg(long)]
    pub from: String,
    /// Verify the newest complete backup under --from.
    #[arg(long)]
    pub latest: bool,
    /// Scratch database (dropped before and after). Default: `<db>_verify_<id>`.
    #[arg(long)]
    pub scratch_db: Option<String>,
    /// Write the outcome as one JSON object to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// `merchant-api prune`.
#[derive(Debug, Clone, clap::Args)]
pub struct PruneArgs {
    /// S3 settings of the backup location.
    #[command(flatten)]
    pub s3: S3Args,
    /// The location holding backups.
    #[arg(long)]
    pub at: String,
    /// Delete backups older than this many days…
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: u32,
    /// …but never the newest this many good ones.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub min_backups: u32,
    /// Say what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the outcome as one JSON object to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Fingerprint of a secret: enough to tell whether two values are equal, never the value.
pub fn fingerprint(name: &str, value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"merchant-stack/secret-fingerprint/v1\0");
    hasher.update(name.as_bytes());
    hasher.update(b"\0");
    hasher.update(value.as_bytes());
    format!("sha256:{}", &hex::encode(hasher.finalize())[..16])
}

/// Fingerprints of the secrets the data depends on (sessions signed with the JWT keys).
fn secret_fingerprints(config: &Config) -> BTreeMap<String, String> {
    let secrets: [(&str, &Option<SecretString>); 3] = [
        ("JWT_SECRET", &config.jwt_secret),
        ("JWT_MERCHANT_SECRET", &config.jwt_merchant_secret),
        ("JWT_REFRESH_SECRET", &config.jwt_refresh_secret),
    ];
    secrets
        .iter()
        .filter_map(|(name, value)| {
            value
                .as_ref()
                .map(|v| (name.to_string(), fingerprint(name, v.expose_secret())))
        })
        .collect()
}

async fn connect(config: &Config) -> Result<Store, BackupError> {
    let settings = config
        .clone()
        .validate_database()
        .map_err(|e| BackupError::Usage(e.to_string()))?;
    Ok(connect_store(&settings, None).await?)
}

/// The configured uploads storage as a location, or `None` when a local directory is absent
/// (a Job without the uploads volume).
fn uploads_location(config: &Config) -> Result<Option<(Location, &'static str)>, BackupError> {
    let settings = config
        .validate_uploads()
        .map_err(|e| BackupError::Usage(e.to_string()))?;
    let kind = match &settings.storage {
        StorageSettings::Local { dir } if !dir.is_dir() => {
            tracing::warn!(dir = %dir.display(), "no uploads directory: uploads left out");
            return Ok(None);
        }
        StorageSettings::Local { .. } => "local",
        StorageSettings::S3 { .. } => "s3",
    };
    let store = FileStore::from_settings(&settings)
        .map_err(|e| BackupError::Usage(format!("uploads storage: {e}")))?;
    Ok(Some((
        Location::from_store(store.object_store(), kind),
        kind,
    )))
}

/// Run a command, write its report either way, and map the outcome to an exit status.
async fn finish(
    command: &str,
    report_path: Option<&std::path::Path>,
    outcome: Result<Value, BackupError>,
) -> ExitCode {
    match outcome {
        Ok(mut report) => {
            report["command"] = json!(command);
            report["result"] = json!("Succeeded");
            println!("{report}");
            report::write(report_path, report);
            ExitCode::SUCCESS
        }
        Err(error) => {
            let message = crate::error::chain(&error);
            tracing::error!(error = %message, "{command} failed");
            eprintln!("merchant-api {command}: {message}");
            let mut report = json!({"command": command, "result": "Failed", "error": message});
            if let BackupError::Mismatch {
                location,
                mismatches,
            } = &error
            {
                report["location"] = json!(location);
                report["mismatches"] = json!(mismatches);
            }
            report::write(report_path, report);
            error.exit_code()
        }
    }
}

/// `backup`.
pub async fn run_backup(args: BackupArgs) -> ExitCode {
    let outcome = backup_command(&args).await;
    finish("backup", args.report.as_deref(), outcome).await
}

async fn backup_command(args: &BackupArgs) -> Result<Value, BackupError> {
    let backend = match &args.backend_spec {
        Some(text) => Some(
            serde_json::from_str::<Value>(text)
                .map_err(|e| BackupError::Usage(format!("BACKUP_BACKEND_SPEC is not JSON: {e}")))?,
        ),
        None => None,
    };
    let uploads = if args.skip_uploads {
        None
    } else {
        uploads_location(&args.config)?
    };
    let to = Location::parse(&args.to, &args.s3, true)?;
    let store = connect(&args.config).await?;
    let plan = dump::BackupPlan {
        to: to.clone(),
        uploads,
        backend,
        secret_fingerprints: secret_fingerprints(&args.config),
        level: args.compression_level,
    };
    let manifest = dump::backup(&store, plan).await?;
    let mut report = json!({
        "location": to.child(&manifest.id).display(),
        "id": manifest.id,
        "sizeBytes": manifest.size(),
        "documents": manifest.documents(),
        "collections": manifest.collections.len(),
        "uploads": manifest.uploads.files,
        "migrationVersion": manifest.migration_version,
        "identity": manifest.identity,
        "consistency": manifest.consistency,
        "startedAt": manifest.started_at,
        "finishedAt": manifest.finished_at,
        "durationSeconds": seconds_between(&manifest.started_at, &manifest.finished_at),
    });
    if let (Some(days), Some(min)) = (args.retention_days, args.min_backups) {
        let pruned = prune::prune(&to, days, min, false, chrono::Utc::now()).await?;
        report["pruned"] = json!(pruned.deleted);
    }
    Ok(report)
}

fn seconds_between(start: &str, end: &str) -> Option<i64> {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    Some((parse(end)? - parse(start)?).num_seconds())
}

/// `restore`.
pub async fn run_restore(args: RestoreArgs) -> ExitCode {
    let outcome = restore_command(&args).await;
    finish("restore", args.report.as_deref(), outcome).await
}

async fn restore_command(args: &RestoreArgs) -> Result<Value, BackupError> {
    let from = Location::parse(&args.from, &args.s3, false)?;
    let source = match args.until {
        Some(until) => snapshot_before(&from, until).await?,
        None => checked_source(&from, args.latest).await?,
    };
    // The changes to replay, resolved (and so refused) before anything is written.
    let replay = Replay::plan(&from, &source, args.until).await?;
    let uploads_to = if args.restore_uploads {
        Some(restore_uploads_to(&args.config)?)
    } else {
        None
    };
    let store = connect(&args.config).await?;
    let target = match &args.db {
        Some(name) => store.client().database(name),
        None => store.db().clone(),
    };
    let options = load::RestoreOptions {
        drop: args.drop,
        uploads_to,
        new_identity: args.new_identity,
        expect_identity: args.expect_identity.clone(),
    };
    let restored = load::restore(&source, &target, &options).await?;
    let replayed = match &replay {
        Some(replay) => replay.run(&from, &target).await?,
        None => 0,
    };
    let differing = differing_secrets(&source, &args.config);
    for name in &differing {
        tracing::warn!(secret = %name, "differs from the backup's: sessions signed before the backup will be refused");
    }
    Ok(json!({
        "location": source.at.display(),
        "id": source.id(),
        "database": target.name(),
        "documents": restored.documents,
        "collections": restored.collections,
        "uploads": restored.uploads,
        "replayedChanges": replayed,
        "until": args.until.map(|t| t.to_rfc3339()),
        "durationSeconds": (restored.seconds * 10.0).round() / 10.0,
        "identity": restored.identity,
        "secretMismatches": differing,
    }))
}

/// Captured changes to replay after restoring a snapshot (`restore --until`).
struct Replay {
    segments: Vec<changes::Segment>,
    /// The snapshot's time: events at or before it are in the backup already.
    after: manifest::ClusterTime,
    until: chrono::DateTime<chrono::Utc>,
}

impl Replay {
    /// The segments from the backup's snapshot up to `until`, checked to follow one another;
    /// `None` without `--until` or for a backup without a snapshot time.
    async fn plan(
        from: &Location,
        source: &load::Source,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Option<Self>, BackupError> {
        let (Some(until), Some(after)) = (
            until,
            source.manifest.as_ref().and_then(|m| m.snapshot_time),
        ) else {
            return Ok(None);
        };
        let all = changes::segments(from).await?;
        Ok(Some(Self {
            segments: changes::chain(&all, after, until)?,
            after,
            until,
        }))
    }

    /// Replay into `target`; returns the events applied.
    async fn run(&self, from: &Location, target: &mongodb::Database) -> Result<u64, BackupError> {
        changes::replay(from, &self.segments, self.after, self.until, target).await
    }
}

/// The uploads directory `--restore-uploads` copies into; it must exist.
fn restore_uploads_to(config: &Config) -> Result<Location, BackupError> {
    let (location, _) = uploads_location(config)?.ok_or_else(|| {
        BackupError::Usage("--restore-uploads: the uploads directory does not exist".into())
    })?;
    Ok(location)
}

/// The backup at `from` (or the newest good one with `latest`), its objects checked.
async fn checked_source(from: &Location, latest: bool) -> Result<load::Source, BackupError> {
    if !latest {
        let source = load::open(from).await?;
        let problems = load::check(&source).await?;
        if !problems.is_empty() {
            return Err(BackupError::Damaged {
                location: source.at.display().into(),
                problems,
            });
        }
        return Ok(source);
    }
    for source in load::candidates(from).await? {
        let problems = load::check(&source).await?;
        if problems.is_empty() {
            return Ok(source);
        }
        tracing::warn!(backup = %source.at.display(), problems = %problems.join("; "), "skipping a damaged backup");
    }
    Err(BackupError::NotFound(format!(
        "no complete, undamaged backup under {}",
        from.display()
    )))
}

/// The newest complete, undamaged snapshot backup under `from` taken before `until`.
async fn snapshot_before(
    from: &Location,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<load::Source, BackupError> {
    let until_t = u32::try_from(until.timestamp()).unwrap_or(u32::MAX);
    for source in load::candidates(from).await? {
        let Some(snapshot) = source.manifest.as_ref().and_then(|m| m.snapshot_time) else {
            continue;
        };
        if snapshot.t > until_t {
            continue;
        }
        let problems = load::check(&source).await?;
        if problems.is_empty() {
            return Ok(source);
        }
        tracing::warn!(backup = %source.at.display(), problems = %problems.join("; "), "skipping a damaged backup");
    }
    Err(BackupError::NotFound(format!(
        "no complete snapshot backup under {} taken before {}",
        from.display(),
        until.to_rfc3339()
    )))
}

fn differing_secrets(source: &load::Source, config: &Config) -> Vec<String> {
    let Some(manifest) = &source.manifest else {
        return Vec::new();
    };
    let now = secret_fingerprints(config);
    manifest
        .secret_fingerprints
        .iter()
        .filter(|(name, print)| now.get(*name).is_some_and(|p| p != *print))
        .map(|(name, _)| name.clone())
        .collect()
}

/// `verify`.
pub async fn run_verify(args: VerifyArgs) -> ExitCode {
    let outcome = verify_command(&args).await;
    finish("verify", args.report.as_deref(), outcome).await
}

async fn verify_command(args: &VerifyArgs) -> Result<Value, BackupError> {
    let from = Location::parse(&args.from, &args.s3, false)?;
    let source = load::resolve(&from, args.latest).await?;
    let store = connect(&args.config).await?;
    let scratch = match (&args.scratch_db, &source.manifest) {
        (Some(name), _) => name.clone(),
        (None, Some(m)) => verify::scratch_name(m),
        (None, None) => "merchant_verify".into(),
    };
    let verified = verify::verify(store.client(), &source, &scratch).await?;
    let record = manifest::Verification {
        result: if verified.mismatches.is_empty() {
            "Succeeded"
        } else {
            "Failed"
        }
        .into(),
        verified_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        restore_seconds: (verified.restore_seconds * 100.0).round() / 100.0,
        documents: verified.documents,
        mismatches: verified.mismatches.clone(),
    };
    source
        .at
        .write_small(
            manifest::VERIFICATION,
            serde_json::to_vec_pretty(&record).unwrap_or_default(),
        )
        .await?;
    if !verified.mismatches.is_empty() {
        return Err(BackupError::Mismatch {
            location: source.at.display().into(),
            mismatches: verified.mismatches,
        });
    }
    Ok(json!({
        "location": source.at.display(),
        "id": source.id(),
        "documents": verified.documents,
        "restoreSeconds": record.restore_seconds,
        "verifiedAt": record.verified_at,
    }))
}

/// `capture`: runs until stopped; the report names the segments written.
pub async fn run_capture(args: CaptureArgs) -> ExitCode {
    let outcome = async {
        let at = Location::parse(&args.to, &args.s3, true)?;
        let store = connect(&args.config).await?;
        let limits = changes::CaptureLimits {
            segment_age: std::time::Duration::from_secs(args.segment_seconds),
            segment_events: args.segment_events,
            run_for: args.for_seconds.map(std::time::Duration::from_secs),
        };
        let written = changes::capture(store.db(), &at, limits).await?;
        Ok(json!({ "location": at.child(changes::CHANGES).display(), "segments": written }))
    }
    .await;
    finish("capture", None, outcome).await
}

/// `prune`.
pub async fn run_prune(args: PruneArgs) -> ExitCode {
    let outcome = async {
        let at = Location::parse(&args.at, &args.s3, false)?;
        let pruned = prune::prune(
            &at,
            args.retention_days,
            args.min_backups,
            args.dry_run,
            chrono::Utc::now(),
        )
        .await?;
        Ok(json!({
            "location": at.display(),
            "dryRun": args.dry_run,
            "kept": pruned.kept,
            "protected": pruned.protected,
            "deleted": pruned.deleted,
            "deletedChanges": pruned.deleted_changes,
        }))
    }
    .await;
    finish("prune", args.report.as_deref(), outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_values_apart_without_showing_them() {
        let a = fingerprint("JWT_SECRET", "correct horse battery staple");
        assert_eq!(a, fingerprint("JWT_SECRET", "correct horse battery staple"));
        assert_ne!(a, fingerprint("JWT_SECRET", "another"));
        assert_ne!(
            a,
            fingerprint("JWT_REFRESH_SECRET", "correct horse battery staple")
        );
        assert!(!a.contains("horse"));
        assert_eq!(a.len(), "sha256:".len() + 16);
    }
}
