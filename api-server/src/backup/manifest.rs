//! `manifest.json` (written last: its presence marks a finished backup), `started.json` (written
//! first: present without a manifest means the backup never finished) and `verification.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BackupError, location::Location};

/// Object names inside a backup folder.
pub const MANIFEST: &str = "manifest.json";
/// Written when a backup starts.
pub const STARTED: &str = "started.json";
/// Written by a verify run.
pub const VERIFICATION: &str = "verification.json";
/// The MerchantBackend the backup was taken for.
pub const BACKEND: &str = "backend.json";
/// Folder of the uploaded files.
pub const UPLOADS: &str = "uploads";

/// Manifest format version.
pub const FORMAT: u32 = 1;

/// What a finished backup holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Format version.
    pub format: u32,
    /// Folder name (UTC start time).
    pub id: String,
    /// `merchant-api <version>`.
    pub tool: String,
    /// Source database name (the folder of the collection files).
    pub database: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// `snapshot` (every collection read at one point in time) or `collection` (each
    /// collection consistent on its own; the server refused snapshot reads).
    pub consistency: String,
    /// Cluster time of the snapshot, as `{t, i}` (the start of point-in-time replay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_time: Option<ClusterTime>,
    /// Highest applied schema migration.
    #[serde(default)]
    pub migration_version: Option<i32>,
    /// Every applied migration.
    #[serde(default)]
    pub applied_migrations: Vec<i32>,
    /// Identity of the source database.
    #[serde(default)]
    pub identity: Option<String>,
    /// Per collection.
    pub collections: Vec<CollectionEntry>,
    /// Every object of the backup but the manifest itself.
    pub objects: Vec<ObjectEntry>,
    /// Uploaded files included.
    pub uploads: UploadsEntry,
    /// Secret name -> fingerprint (never the value).
    #[serde(default)]
    pub secret_fingerprints: BTreeMap<String, String>,
    /// `namespace/name` of the MerchantBackend, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
}

/// A BSON timestamp.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClusterTime {
    /// Seconds.
    pub t: u32,
    /// Increment.
    pub i: u32,
}

/// One collection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CollectionEntry {
    /// Name.
    pub name: String,
    /// Documents.
    pub documents: u64,
    /// Uncompressed BSON bytes.
    pub bytes: u64,
    /// Order-independent digest of the documents ([`super::digest`]).
    pub digest: String,
    /// Index definitions (the `_id` index included).
    pub indexes: usize,
}

/// One stored object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectEntry {
    /// Path relative to the backup folder.
    pub path: String,
    /// Bytes stored.
    pub size: u64,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: String,
}

/// Uploaded files.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UploadsEntry {
    /// Where they came from (`local` or `s3`), or `skipped`.
    pub source: String,
    /// Files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Manifest {
    /// Total stored bytes.
    pub fn size(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }

    /// Total documents.
    pub fn documents(&self) -> u64 {
        self.collections.iter().map(|c| c.documents).sum()
    }
}

/// `started.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    /// Folder name.
    pub id: String,
    /// RFC 3339.
    pub started_at: String,
    /// Tool.
    pub tool: String,
}

/// `verification.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// `Succeeded` or `Failed`.
    pub result: String,
    /// RFC 3339.
    pub verified_at: String,
    /// Seconds the trial restore took.
    pub restore_seconds: f64,
    /// Documents restored.
    pub documents: u64,
    /// What differed.
    pub mismatches: Vec<String>,
}

impl Verification {
    /// A clean verification.
    pub fn succeeded(&self) -> bool {
        self.result == "Succeeded"
    }
}

/// What is at a backup folder.
#[derive(Debug, Clone)]
pub enum Found {
    /// One of ours, finished.
    Complete(Box<Manifest>),
    /// One of ours that never finished.
    Incomplete(Started),
    /// No marker of ours (maybe a plain `mongodump --gzip` folder).
    Foreign,
}

/// Read the markers of the backup folder `at`.
pub async fn inspect(at: &Location) -> Result<Found, BackupError> {
    if let Some(bytes) = at.read_small(MANIFEST).await? {
        let manifest = serde_json::from_slice(&bytes).map_err(|e| BackupError::Corrupt {
            object: format!("{}/{MANIFEST}", at.display()),
            reason: format!("not a manifest: {e}"),
        })?;
        return Ok(Found::Complete(Box::new(manifest)));
    }
    if let Some(bytes) = at.read_small(STARTED).await? {
        let started = serde_json::from_slice(&bytes).map_err(|e| BackupError::Corrupt {
            object: format!("{}/{STARTED}", at.display()),
            reason: e.to_string(),
        })?;
        return Ok(Found::Incomplete(started));
    }
    Ok(Found::Foreign)
}

/// The verification record of a backup folder, if any.
pub async fn verification(at: &Location) -> Result<Option<Verification>, BackupError> {
    Ok(at
        .read_small(VERIFICATION)
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}
