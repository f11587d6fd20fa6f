//! `prune`: delete backups older than the retention period, never the newest `min` good ones
//! (verified, or checksum-clean when checked now) and never a folder that is not ours.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use object_store::ObjectStoreExt;

use super::{
    BackupError, changes,
    load::{self, Source},
    location::Location,
    manifest::{self, Found},
};

/// One folder under the location.
#[derive(Debug, Clone)]
struct Folder {
    id: String,
    started: DateTime<Utc>,
    complete: bool,
}

/// What prune did (or, dry, would do).
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    /// Backups kept, oldest first.
    pub kept: Vec<String>,
    /// Backups deleted, oldest first.
    pub deleted: Vec<String>,
    /// The newest good backups retention may never delete.
    pub protected: Vec<String>,
    /// Change segments deleted: wholly older than the oldest kept backup's snapshot.
    pub deleted_changes: Vec<String>,
}

/// The UTC time a backup id names (`YYYYMMDDTHHMMSSZ`, maybe with `-N`).
pub fn id_time(id: &str) -> Option<DateTime<Utc>> {
    let stamp = id.split('-').next()?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// Prune `at`.
pub async fn prune(
    at: &Location,
    retention_days: u32,
    min_backups: u32,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Pruned, BackupError> {
    let mut folders = Vec::new();
    for id in at.folders().await? {
        let Some(started) = id_time(&id) else {
            tracing::info!(folder = %id, "not a backup folder of ours: left alone");
            continue;
        };
        let complete = matches!(manifest::inspect(&at.child(&id)).await?, Found::Complete(_));
        folders.push(Folder {
            id,
            started,
            complete,
        });
    }
    let protected = newest_good(at, &folders, min_backups).await?;
    let doomed = select(&folders, now, retention_days, &protected);
    for id in &doomed {
        if dry_run {
            tracing::info!(backup = %id, "would delete (dry run)");
            continue;
        }
        let objects = at.child(id).delete_all().await?;
        tracing::info!(backup = %id, objects, "deleted");
    }
    let oldest_kept = folders
        .iter()
        .find(|f| f.complete && !doomed.contains(&f.id))
        .map(|f| f.id.clone());
    let deleted_changes = match oldest_kept {
        Some(id) => prune_changes(at, &id, dry_run).await?,
        None => Vec::new(),
    };
    Ok(Pruned {
        deleted_changes,
        kept: folders
            .iter()
            .filter(|f| !doomed.contains(&f.id))
            .map(|f| f.id.clone())
            .collect(),
        deleted: doomed,
        protected,
    })
}

/// Delete change segments that end before the snapshot of the oldest kept backup `oldest`: no
/// point-in-time restore can use them any more.
async fn prune_changes(
    at: &Location,
    oldest: &str,
    dry_run: bool,
) -> Result<Vec<String>, BackupError> {
    let Found::Complete(manifest) = manifest::inspect(&at.child(oldest)).await? else {
        return Ok(Vec::new());
    };
    let Some(snapshot) = manifest.snapshot_time else {
        return Ok(Vec::new());
    };
    let changes = at.child(changes::CHANGES);
    let mut deleted = Vec::new();
    for segment in changes::segments(at).await? {
        if segment.last >= snapshot {
            continue;
        }
        if !dry_run {
            for object in [
                format!("{}.json", segment.name),
                format!("{}.bson.gz", segment.name),
            ] {
                changes
                    .store()
                    .delete(&changes.path(&object))
                    .await
                    .map_err(|e| changes.storage_error(&object, e))?;
            }
        }
        deleted.push(segment.name);
    }
    Ok(deleted)
}

/// The newest `min` complete backups that are verified or pass a checksum check now.
async fn newest_good(
    at: &Location,
    folders: &[Folder],
    min: u32,
) -> Result<Vec<String>, BackupError> {
    let mut good = Vec::new();
    for folder in folders.iter().rev().filter(|f| f.complete) {
        if good.len() >= min as usize {
            break;
        }
        let backup = at.child(&folder.id);
        let verified = manifest::verification(&backup)
            .await?
            .is_some_and(|v| v.succeeded());
        let clean = verified || {
            let source: Source = load::open(&backup).await?;
            let problems = load::check(&source).await?;
            for p in &problems {
                tracing::warn!(backup = %folder.id, problem = %p, "not counted as a good backup");
            }
            problems.is_empty()
        };
        if clean {
            good.push(folder.id.clone());
        }
    }
    Ok(good)
}

/// Folders older than the retention period and not protected.
fn select(
    folders: &[Folder],
    now: DateTime<Utc>,
    retention_days: u32,
    protected: &[String],
) -> Vec<String> {
    let cutoff = now - TimeDelta::days(i64::from(retention_days));
    folders
        .iter()
        .filter(|f| f.started < cutoff && !protected.contains(&f.id))
        .map(|f| f.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(id: &str, complete: bool) -> Folder {
        Folder {
            id: id.into(),
            started: id_time(id).expect("should succeed"),
            complete,
        }
    }

    #[test]
    fn ids_name_their_start_time_even_with_a_suffix() {
        let t = id_time("20261206T020000Z-2").expect("should succeed");
        assert_eq!(t.to_rfc3339(), "2026-12-06T02:00:00+00:00");
        assert!(id_time("manual-copy").is_none());
    }

    #[test]
    fn retention_deletes_only_old_unprotected_folders() {
        let now = id_time("20261206T030000Z").expect("should succeed");
        let folders = [
            folder("20261001T020000Z", true),
            folder("20261002T020000Z", false),
            folder("20261110T020000Z", true),
            folder("20261205T020000Z", false), // maybe still running: young, kept
            folder("20261206T020000Z", true),
        ];
        let doomed = select(&folders, now, 30, &["20261206T020000Z".into()]);
        assert_eq!(doomed, ["20261001T020000Z", "20261002T020000Z"]);
        // Everything is old, but the newest good ones are protected.
        let later = id_time("20270601T000000Z").expect("should succeed");
        let protected = [
            "20261206T020000Z".to_string(),
            "20261110T020000Z".to_string(),
        ];
        let doomed = select(&folders, later, 30, &protected);
        assert_eq!(
            doomed,
            ["20261001T020000Z", "20261002T020000Z", "20261205T020000Z"]
        );
    }
}
