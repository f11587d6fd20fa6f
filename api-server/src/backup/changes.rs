//! Continuous change capture for point-in-time restore. `capture` follows the database's change
//! stream and writes the raw events in gzip'd BSON segments under `LOCATION/changes/`, each with
//! a sidecar naming its checksum, time range, resume token and the segment it continues;
//! `restore --until TIME` restores the newest snapshot backup taken before TIME and replays the
//! captured events after its snapshot up to TIME.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mongodb::{
    Collection, Database,
    bson::{Bson, Document, RawDocumentBuf, Timestamp, doc},
    change_stream::{ChangeStream, event::ResumeToken},
};
use serde::{Deserialize, Serialize};

use super::{
    BackupError,
    archive::{BsonFrames, GzWriter, read_chunks},
    location::Location,
    manifest::ClusterTime,
};

/// Folder of the segments under the backup location.
pub const CHANGES: &str = "changes";

/// A segment's sidecar, `changes/<first>.json`, written after its data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    /// `<t>-<i>` of its first event (zero-padded, so names sort by time).
    pub name: String,
    /// Events.
    pub events: u64,
    /// First event's cluster time.
    pub first: ClusterTime,
    /// Last event's cluster time.
    pub last: ClusterTime,
    /// Stored bytes and their SHA-256.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// The change stream's resume token after the last event (extended JSON).
    pub resume_token: serde_json::Value,
    /// The segment this one follows without a gap; `None` when capture started afresh.
    pub continues: Option<String>,
}

impl Segment {
    fn data(&self) -> String {
        format!("{}.bson.gz", self.name)
    }
}

fn segment_name(t: ClusterTime) -> String {
    format!("{:010}-{:010}", t.t, t.i)
}

/// How long segments stay open.
#[derive(Debug, Clone, Copy)]
pub struct CaptureLimits {
    /// Close a segment after this long (if it holds events).
    pub segment_age: Duration,
    /// …or after this many events.
    pub segment_events: u64,
    /// Stop after this long (`None`: until SIGTERM/SIGINT).
    pub run_for: Option<Duration>,
}

/// Read every sidecar under `at/changes`, oldest first.
pub async fn segments(at: &Location) -> Result<Vec<Segment>, BackupError> {
    let changes = at.child(CHANGES);
    let mut found = Vec::new();
    for (relative, _) in changes.objects().await? {
        if !relative.ends_with(".json") {
            continue;
        }
        let bytes = changes.read_small(&relative).await?.unwrap_or_default();
        let segment: Segment =
            serde_json::from_slice(&bytes).map_err(|e| BackupError::Corrupt {
                object: format!("{}/{relative}", changes.display()),
                reason: format!("not a segment sidecar: {e}"),
            })?;
        found.push(segment);
    }
    found.sort_by_key(|s| s.first);
    Ok(found)
}

/// Follow the change stream of `db` into `at/changes` until the limits or a signal stop it.
/// Resumes after the newest segment when there is one. Returns the segments written.
pub async fn capture(
    db: &Database,
    at: &Location,
    limits: CaptureLimits,
) -> Result<u64, BackupError> {
    let changes = at.child(CHANGES);
    let previous = segments(at).await?.pop();
    let mut stream = open_stream(db, previous.as_ref()).await?;
    let started = Instant::now();
    let mut open: Option<OpenSegment> = None;
    let mut last_name = previous.map(|p| p.name);
    let mut written = 0;
    let mut stop = std::pin::pin!(crate::startup::shutdown_signal());
    loop {
        let event = tokio::select! {
            () = &mut stop => break,
            event = stream.next_if_any() => event.map_err(|e| BackupError::mongo("read the change stream", e))?,
        };
        if let Some(event) = event {
            let time = cluster_time(&event)?;
            let segment = open.get_or_insert_with(|| OpenSegment::new(&changes, time));
            segment.write(&event, time).await?;
        }
        let token = stream.resume_token();
        let due = open.as_ref().is_some_and(|s| {
            s.events >= limits.segment_events || s.opened.elapsed() >= limits.segment_age
        });
        if due && let Some(segment) = open.take() {
            last_name = Some(segment.close(&changes, token, last_name).await?);
            written += 1;
        }
        if limits.run_for.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
    }
    if let Some(segment) = open.take() {
        let token = stream.resume_token();
        segment.close(&changes, token, last_name).await?;
        written += 1;
    }
    Ok(written)
}

/// The database's change stream, resumed after the `previous` segment when there is one.
async fn open_stream(
    db: &Database,
    previous: Option<&Segment>,
) -> Result<ChangeStream<RawDocumentBuf>, BackupError> {
    let mut watch = db.watch();
    if let Some(p) = previous {
        let token: ResumeToken = mongodb::bson::from_bson(
            Bson::try_from(p.resume_token.clone())
                .map_err(|e| BackupError::Invalid(format!("resume token of {}: {e}", p.name)))?,
        )
        .map_err(|e| BackupError::Invalid(format!("resume token of {}: {e}", p.name)))?;
        watch = watch.start_after(token);
        tracing::info!(after = %p.name, "resuming change capture");
    } else {
        tracing::warn!(
            "starting change capture afresh: point-in-time restore covers only what follows"
        );
    }
    Ok(watch
        .max_await_time(Duration::from_millis(500))
        .await
        .map_err(|e| BackupError::mongo("open the change stream", e))?
        .with_type::<RawDocumentBuf>())
}

struct OpenSegment {
    writer: GzWriter,
    first: ClusterTime,
    last: ClusterTime,
    events: u64,
    opened: Instant,
}

impl OpenSegment {
    fn new(changes: &Location, first: ClusterTime) -> Self {
        Self {
            writer: GzWriter::create(changes, &format!("{}.bson.gz", segment_name(first)), 6),
            first,
            last: first,
            events: 0,
            opened: Instant::now(),
        }
    }

    async fn write(
        &mut self,
        event: &RawDocumentBuf,
        time: ClusterTime,
    ) -> Result<(), BackupError> {
        self.writer.write(event.as_bytes()).await?;
        self.last = time;
        self.events += 1;
        Ok(())
    }

    async fn close(
        self,
        changes: &Location,
        token: Option<ResumeToken>,
        continues: Option<String>,
    ) -> Result<String, BackupError> {
        let object = self.writer.finish().await?;
        let token = token
            .and_then(|t| mongodb::bson::to_bson(&t).ok())
            .map(Bson::into_canonical_extjson)
            .unwrap_or_default();
        let name = segment_name(self.first);
        let sidecar = Segment {
            name: name.clone(),
            events: self.events,
            first: self.first,
            last: self.last,
            size: object.size,
            sha256: object.sha256,
            resume_token: token,
            continues,
        };
        changes
            .write_small(
                &format!("{name}.json"),
                serde_json::to_vec_pretty(&sidecar).unwrap_or_default(),
            )
            .await?;
        tracing::info!(segment = %name, events = sidecar.events, "change segment written");
        Ok(name)
    }
}

fn cluster_time(event: &RawDocumentBuf) -> Result<ClusterTime, BackupError> {
    match event.get_timestamp("clusterTime") {
        Ok(Timestamp { time, increment }) => Ok(ClusterTime {
            t: time,
            i: increment,
        }),
        Err(e) => Err(BackupError::Invalid(format!(
            "a change event without clusterTime: {e}"
        ))),
    }
}

/// The segments to replay from `after` (a snapshot's time) up to `until`, checked to follow one
/// another without a gap.
pub fn chain(
    all: &[Segment],
    after: ClusterTime,
    until: DateTime<Utc>,
) -> Result<Vec<Segment>, BackupError> {
    let until_t = u32::try_from(until.timestamp()).unwrap_or(u32::MAX);
    // The segment in which capture was already running at the snapshot.
    let start = all.iter().rposition(|s| s.first <= after).ok_or_else(|| {
        BackupError::NotFound(format!(
            "no captured changes reach back to the backup's snapshot ({}.{})",
            after.t, after.i
        ))
    })?;
    let mut picked = vec![all[start].clone()];
    for s in &all[start + 1..] {
        if s.first.t > until_t {
            break;
        }
        if s.continues.as_deref() != Some(picked[picked.len() - 1].name.as_str()) {
            return Err(BackupError::NotFound(format!(
                "captured changes have a gap before segment {} (capture restarted without its resume token)",
                s.name
            )));
        }
        picked.push(s.clone());
    }
    let newest = picked.last().map(|s| s.last).unwrap_or(after);
    let newest_any = all.last().map(|s| s.last).unwrap_or(after);
    if newest_any.t < until_t && newest.t < until_t {
        return Err(BackupError::NotFound(format!(
            "changes are captured only up to {} (t={}), before the requested time",
            DateTime::from_timestamp(i64::from(newest_any.t), 0)
                .map(|d| d.to_rfc3339())
                .unwrap_or_default(),
            newest_any.t
        )));
    }
    Ok(picked)
}

/// Replay the events of `segments` after `after` and at or before `until` into `target`.
/// Returns how many were applied.
pub async fn replay(
    at: &Location,
    segments: &[Segment],
    after: ClusterTime,
    until: DateTime<Utc>,
    target: &Database,
) -> Result<u64, BackupError> {
    let changes = at.child(CHANGES);
    // Every segment checked before the first write.
    for s in segments {
        check_segment(&changes, s).await?;
    }
    let until_t = u32::try_from(until.timestamp()).unwrap_or(u32::MAX);
    let mut applied = 0;
    for s in segments {
        // A segment's events are bounded (--segment-events), so holding one is bounded too.
        for event in read_events(&changes, s).await? {
            let time = cluster_time(&event)?;
            if time <= after {
                continue;
            }
            if time.t > until_t {
                return Ok(applied);
            }
            apply(target, &event).await?;
            applied += 1;
        }
    }
    Ok(applied)
}

/// A segment's stored bytes must match the size and checksum of its sidecar.
async fn check_segment(changes: &Location, s: &Segment) -> Result<(), BackupError> {
    let (size, sha256) = read_chunks(changes, &s.data(), |_| Ok(())).await?;
    if size != s.size || sha256 != s.sha256 {
        return Err(BackupError::Damaged {
            location: changes.display().into(),
            problems: vec![format!(
                "checksum mismatch: {}/{}",
                changes.display(),
                s.data()
            )],
        });
    }
    Ok(())
}

/// Every event of one segment.
async fn read_events(changes: &Location, s: &Segment) -> Result<Vec<RawDocumentBuf>, BackupError> {
    let mut events = Vec::new();
    let mut frames = BsonFrames::new(format!("{}/{}", changes.display(), s.data()));
    read_chunks(changes, &s.data(), |chunk| {
        frames.push(chunk)?;
        while let Some(e) = frames.next_document()? {
            events.push(e);
        }
        Ok(())
    })
    .await?;
    frames.close()?;
    while let Some(e) = frames.next_document()? {
        events.push(e);
    }
    frames.finish()?;
    Ok(events)
}

async fn apply(target: &Database, raw: &RawDocumentBuf) -> Result<(), BackupError> {
    let event: Document = raw
        .to_document()
        .map_err(|e| BackupError::Invalid(format!("change event: {e}")))?;
    let operation = event.get_str("operationType").unwrap_or_default();
    let collection = event
        .get_document("ns")
        .ok()
        .and_then(|ns| ns.get_str("coll").ok())
        .unwrap_or_default()
        .to_string();
    if collection == "migrations_lock" {
        return Ok(());
    }
    let coll = target.collection::<Document>(&collection);
    let key = event
        .get_document("documentKey")
        .cloned()
        .unwrap_or_default();
    let failed = |e| BackupError::mongo(format!("replay {operation} on {collection}"), e);
    match operation {
        "insert" | "replace" => {
            let full = event.get_document("fullDocument").map_err(|_| {
                BackupError::Invalid(format!("{operation} event without fullDocument"))
            })?;
            coll.replace_one(key, full.clone())
                .upsert(true)
                .await
                .map_err(failed)?;
        }
        "update" => replay_update(&coll, &key, &event).await.map_err(failed)?,
        "delete" => {
            coll.delete_one(key).await.map_err(failed)?;
        }
        "drop" => coll.drop().await.map_err(failed)?,
        other => {
            return Err(BackupError::Invalid(format!(
                "cannot replay a {other} event on {collection}"
            )));
        }
    }
    Ok(())
}

/// Replay an `update` event: its set and removed fields, then its truncated arrays.
async fn replay_update(
    coll: &Collection<Document>,
    key: &Document,
    event: &Document,
) -> mongodb::error::Result<()> {
    let change = event
        .get_document("updateDescription")
        .cloned()
        .unwrap_or_default();
    let update = set_and_unset(&change);
    if !update.is_empty() {
        coll.update_one(key.clone(), update).await?;
    }
    if let Ok(truncated) = change.get_array("truncatedArrays") {
        for t in truncated.iter().filter_map(Bson::as_document) {
            let (Ok(field), Ok(size)) = (t.get_str("field"), t.get_i32("newSize")) else {
                continue;
            };
            let slice = doc! { "$push": { field: { "$each": [], "$slice": size } } };
            coll.update_one(key.clone(), slice).await?;
        }
    }
    Ok(())
}

/// The `$set` of an update event's updated fields and the `$unset` of its removed ones.
fn set_and_unset(change: &Document) -> Document {
    let mut update = Document::new();
    if let Ok(set) = change.get_document("updatedFields")
        && !set.is_empty()
    {
        update.insert("$set", set.clone());
    }
    if let Ok(removed) = change.get_array("removedFields")
        && !removed.is_empty()
    {
        let unset: Document = removed
            .iter()
            .filter_map(|f| {
                f.as_str()
                    .map(|f| (f.to_string(), Bson::String(String::new())))
            })
            .collect();
        update.insert("$unset", unset);
    }
    update
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(
        name: &str,
        first: (u32, u32),
        last: (u32, u32),
        continues: Option<&str>,
    ) -> Segment {
        Segment {
            name: name.into(),
            events: 1,
            first: ClusterTime {
                t: first.0,
                i: first.1,
            },
            last: ClusterTime {
                t: last.0,
                i: last.1,
            },
            size: 0,
            sha256: String::new(),
            resume_token: serde_json::Value::Null,
            continues: continues.map(str::to_string),
        }
    }

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).expect("valid time")
    }

    #[test]
    fn a_chain_starts_where_capture_covered_the_snapshot_and_must_have_no_gap() {
        let all = [
            segment("a", (100, 1), (150, 1), None),
            segment("b", (160, 1), (200, 1), Some("a")),
            segment("c", (210, 1), (300, 1), Some("b")),
        ];
        let snapshot = ClusterTime { t: 170, i: 0 };
        let names = |c: Vec<Segment>| c.into_iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(
            names(chain(&all, snapshot, at(250)).expect("chain")),
            ["b", "c"]
        );
        assert_eq!(names(chain(&all, snapshot, at(180)).expect("chain")), ["b"]);
        let early = chain(&all, ClusterTime { t: 50, i: 0 }, at(250)).expect_err("before capture");
        assert!(early.to_string().contains("reach back"), "{early}");
        let late = chain(&all, snapshot, at(400)).expect_err("after capture");
        assert!(late.to_string().contains("captured only up to"), "{late}");
        let gap = [
            segment("a", (100, 1), (150, 1), None),
            segment("b", (160, 1), (200, 1), None),
        ];
        let error = chain(&gap, ClusterTime { t: 120, i: 0 }, at(180)).expect_err("gap");
        assert!(
            error.to_string().contains("gap before segment b"),
            "{error}"
        );
    }
}
