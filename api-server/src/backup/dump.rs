//! `backup`: every collection read at one snapshot, streamed through gzip into the location in
//! the `mongodump --gzip` layout, then the uploads, the MerchantBackend and, last, the manifest.

use std::collections::BTreeMap;

use chrono::{SecondsFormat, Utc};
use mongodb::{
    ClientSession, Database,
    bson::{Bson, Document, RawDocumentBuf, doc},
};
use tokio::sync::mpsc;

use super::{
    BackupError,
    archive::{GzWriter, ObjectWriter, copy_object},
    digest::ContentDigest,
    location::Location,
    manifest::{
        self, BACKEND, ClusterTime, CollectionEntry, MANIFEST, Manifest, ObjectEntry, STARTED,
        Started, UPLOADS, UploadsEntry,
    },
    progress::Progress,
};
use crate::{
    ops::{identity, migrate},
    store::Store,
};

/// Uncompressed bytes handed from the cursor to the compressor at a time.
const CHUNK: usize = 1024 * 1024;
/// Documents per cursor batch: keeps the driver's buffered batch small whatever the data.
const BATCH: u32 = 1000;
/// Collections never backed up: the migration lock is a transient lease.
const SKIPPED: [&str; 1] = ["migrations_lock"];

/// What to back up and where.
pub struct BackupPlan {
    /// Parent location; the backup becomes a new folder under it.
    pub to: Location,
    /// Uploaded files to include, and where they came from (`local` or `s3`).
    pub uploads: Option<(Location, &'static str)>,
    /// The MerchantBackend, as JSON.
    pub backend: Option<serde_json::Value>,
    /// Secret name -> fingerprint.
    pub secret_fingerprints: BTreeMap<String, String>,
    /// gzip level 1-9.
    pub level: u32,
}

/// Take a backup; returns its manifest.
pub async fn backup(store: &Store, plan: BackupPlan) -> Result<Manifest, BackupError> {
    let started = Utc::now();
    let id = free_id(&plan.to, started).await?;
    let at = plan.to.child(&id);
    let tool = format!("merchant-api {}", env!("CARGO_PKG_VERSION"));
    let marker = Started {
        id: id.clone(),
        started_at: rfc3339(started),
        tool: tool.clone(),
    };
    at.write_small(STARTED, serde_json::to_vec(&marker).unwrap_or_default())
        .await?;
    tracing::info!(location = at.display(), "backup started");

    let db = store.db();
    let mut session = snapshot_session(store).await;
    let consistency = if session.is_some() {
        "snapshot"
    } else {
        "collection"
    };
    let collections = list_collections(db).await?;
    let total = estimated_total(db, &collections).await;
    let mut progress = Progress::start("backup", total);
    let mut objects = Vec::new();
    let mut entries = Vec::new();
    for spec in &collections {
        let (entry, written, returned) =
            dump_collection(db, &at, spec, session, plan.level, &mut progress).await?;
        session = returned;
        entries.push(entry);
        objects.extend(written);
    }
    progress.finish();
    let snapshot_time = session
        .as_ref()
        .and_then(ClientSession::snapshot_time)
        .map(|t| ClusterTime {
            t: t.time,
            i: t.increment,
        });

    let uploads = match &plan.uploads {
        Some((source, kind)) => {
            let (entry, written) = copy_uploads(source, kind, &at).await?;
            objects.extend(written);
            entry
        }
        None => UploadsEntry {
            source: "skipped".into(),
            ..UploadsEntry::default()
        },
    };
    let backend = plan.backend.as_ref().map(backend_name);
    if let Some(spec) = &plan.backend {
        let mut writer = ObjectWriter::create(&at, BACKEND);
        writer
            .write(&serde_json::to_vec_pretty(spec).unwrap_or_default())
            .await?;
        objects.push(writer.finish().await?);
    }
    let applied: Vec<i32> = migrate::applied(store)
        .await
        .map_err(|e| BackupError::mongo("read the migration records", e))?
        .iter()
        .map(|r| r.version)
        .collect();
    let identity = identity::read(db)
        .await
        .map_err(|e| BackupError::mongo("read the database identity", e))?;
    let manifest = Manifest {
        format: manifest::FORMAT,
        id,
        tool,
        database: db.name().to_string(),
        started_at: rfc3339(started),
        finished_at: rfc3339(Utc::now()),
        consistency: consistency.into(),
        snapshot_time,
        migration_version: applied.iter().copied().max(),
        applied_migrations: applied,
        identity,
        collections: entries,
        objects,
        uploads,
        secret_fingerprints: plan.secret_fingerprints,
        backend,
    };
    // Last: its presence is what makes the backup complete.
    at.write_small(
        MANIFEST,
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )
    .await?;
    tracing::info!(
        location = at.display(),
        documents = manifest.documents(),
        bytes = manifest.size(),
        "backup finished"
    );
    Ok(manifest)
}

fn rfc3339(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn backend_name(spec: &serde_json::Value) -> String {
    let meta = &spec["metadata"];
    match (meta["namespace"].as_str(), meta["name"].as_str()) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        (None, Some(name)) => name.into(),
        _ => "unnamed".into(),
    }
}

/// `YYYYMMDDTHHMMSSZ`, with `-2`, `-3`… when a folder of that name exists.
async fn free_id(to: &Location, at: chrono::DateTime<Utc>) -> Result<String, BackupError> {
    let base = at.format("%Y%m%dT%H%M%SZ").to_string();
    let taken = to.folders().await?;
    let mut id = base.clone();
    let mut n = 1;
    while taken.contains(&id) {
        n += 1;
        id = format!("{base}-{n}");
    }
    Ok(id)
}

/// A snapshot-read session, or `None` when the server refuses them (a standalone server):
/// each collection is then consistent on its own, and the manifest says so.
async fn snapshot_session(store: &Store) -> Option<ClientSession> {
    let mut session = store.client().start_session().snapshot(true).await.ok()?;
    // `find` is what the dump runs under the session (listCollections and listIndexes take no
    // snapshot read concern, so they run outside it).
    let probe = store
        .db()
        .collection::<Document>(SKIPPED[0])
        .find_one(doc! {})
        .session(&mut session)
        .await;
    match probe {
        Ok(_) => Some(session),
        Err(e) => {
            tracing::warn!(error = %e, "the server refused a snapshot read: each collection is backed up consistent on its own");
            None
        }
    }
}

/// What `listCollections` says of one collection.
struct CollectionSpec {
    name: String,
    options: Document,
    uuid: Option<Bson>,
}

async fn list_collections(db: &Database) -> Result<Vec<CollectionSpec>, BackupError> {
    let command = doc! {
        "listCollections": 1,
        "filter": { "type": "collection" },
        "cursor": { "batchSize": 10_000 },
    };
    let reply = db
        .run_command(command)
        .await
        .map_err(|e| BackupError::mongo("list the collections", e))?;
    let batch = reply
        .get_document("cursor")
        .and_then(|c| c.get_array("firstBatch"))
        .map_err(|e| BackupError::Invalid(format!("listCollections reply: {e}")))?;
    let mut specs: Vec<CollectionSpec> = batch
        .iter()
        .filter_map(Bson::as_document)
        .filter_map(|d| {
            let name = d.get_str("name").ok()?.to_string();
            Some(CollectionSpec {
                options: d.get_document("options").cloned().unwrap_or_default(),
                uuid: d
                    .get_document("info")
                    .ok()
                    .and_then(|i| i.get("uuid").cloned()),
                name,
            })
        })
        .filter(|s| !s.name.starts_with("system.") && !SKIPPED.contains(&s.name.as_str()))
        .collect();
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(specs)
}

async fn estimated_total(db: &Database, collections: &[CollectionSpec]) -> u64 {
    let mut total = 0;
    for c in collections {
        total += db
            .collection::<Document>(&c.name)
            .estimated_document_count()
            .await
            .unwrap_or(0);
    }
    total
}

/// A chunk of concatenated BSON documents.
struct Chunk {
    bytes: Vec<u8>,
    documents: u64,
}

/// Read one collection into a channel (a task of its own, so reading, hashing and compressing
/// use two cores) and write it as `<db>/<name>.bson.gz` and its metadata.
async fn dump_collection(
    db: &Database,
    at: &Location,
    spec: &CollectionSpec,
    session: Option<ClientSession>,
    level: u32,
    progress: &mut Progress,
) -> Result<(CollectionEntry, Vec<ObjectEntry>, Option<ClientSession>), BackupError> {
    let (sender, mut receiver) = mpsc::channel::<Chunk>(4);
    let collection = db.collection::<RawDocumentBuf>(&spec.name);
    let reader = tokio::spawn(read_collection(collection, session, sender));

    let data = format!("{}/{}.bson.gz", db.name(), spec.name);
    let mut writer = GzWriter::create(at, &data, level);
    let mut write_result = Ok(());
    while let Some(chunk) = receiver.recv().await {
        if let Err(e) = writer.write(&chunk.bytes).await {
            write_result = Err(e);
            break;
        }
        progress.advance(chunk.documents, chunk.bytes.len() as u64, &spec.name);
    }
    drop(receiver);
    let (digest, bytes, session) = reader
        .await
        .map_err(|e| BackupError::Invalid(format!("reader task: {e}")))?;
    let (digest, bytes) = (
        digest.map_err(|e| BackupError::mongo(format!("read {}", spec.name), e))?,
        bytes,
    );
    write_result?;
    let data_entry = writer.finish().await?;

    let indexes = list_indexes(db, &spec.name).await?;
    let metadata = doc! {
        "options": spec.options.clone(),
        "indexes": indexes.iter().cloned().map(Bson::Document).collect::<Vec<_>>(),
        "uuid": spec.uuid.clone().map(uuid_hex).unwrap_or_default(),
        "collectionName": &spec.name,
        "type": "collection",
    };
    let meta_path = format!("{}/{}.metadata.json.gz", db.name(), spec.name);
    let json = Bson::Document(metadata)
        .into_canonical_extjson()
        .to_string();
    let mut meta_writer = GzWriter::create(at, &meta_path, 6);
    meta_writer.write(json.as_bytes()).await?;
    let meta_entry = meta_writer.finish().await?;

    let entry = CollectionEntry {
        name: spec.name.clone(),
        documents: digest.documents(),
        bytes,
        digest: digest.to_hex(),
        indexes: indexes.len(),
    };
    Ok((entry, vec![data_entry, meta_entry], session))
}

/// `mongodump` writes the collection UUID as 32 hex digits.
fn uuid_hex(uuid: Bson) -> String {
    match uuid {
        Bson::Binary(b) => hex::encode(b.bytes),
        other => other.to_string(),
    }
}

type ReadOutcome = (
    mongodb::error::Result<ContentDigest>,
    u64,
    Option<ClientSession>,
);

async fn read_collection(
    collection: mongodb::Collection<RawDocumentBuf>,
    mut session: Option<ClientSession>,
    sender: mpsc::Sender<Chunk>,
) -> ReadOutcome {
    let mut digest = ContentDigest::default();
    let mut bytes = 0u64;
    let result = async {
        let find = collection.find(doc! {}).batch_size(BATCH);
        let mut chunk = Chunk {
            bytes: Vec::with_capacity(CHUNK + CHUNK / 4),
            documents: 0,
        };
        macro_rules! take {
            ($document:expr) => {{
                let document: RawDocumentBuf = $document;
                digest.add(document.as_bytes());
                bytes += document.as_bytes().len() as u64;
                chunk.bytes.extend_from_slice(document.as_bytes());
                chunk.documents += 1;
                if chunk.bytes.len() >= CHUNK {
                    let full = std::mem::replace(
                        &mut chunk,
                        Chunk {
                            bytes: Vec::with_capacity(CHUNK + CHUNK / 4),
                            documents: 0,
                        },
                    );
                    if sender.send(full).await.is_err() {
                        // The writer failed; it reports why.
                        return Ok(());
                    }
                }
            }};
        }
        match session.as_mut() {
            Some(s) => {
                let mut cursor = find.session(&mut *s).await?;
                while let Some(document) = cursor.next(s).await {
                    take!(document?);
                }
            }
            None => {
                let mut cursor = find.await?;
                while cursor.advance().await? {
                    take!(cursor.deserialize_current()?);
                }
            }
        }
        if chunk.documents > 0 {
            let _ = sender.send(chunk).await;
        }
        Ok(())
    }
    .await;
    (result.map(|()| digest), bytes, session)
}

async fn list_indexes(db: &Database, collection: &str) -> Result<Vec<Document>, BackupError> {
    let reply = db
        .run_command(doc! { "listIndexes": collection, "cursor": { "batchSize": 1000 } })
        .await
        .map_err(|e| BackupError::mongo(format!("list the indexes of {collection}"), e))?;
    let batch = reply
        .get_document("cursor")
        .and_then(|c| c.get_array("firstBatch"))
        .map_err(|e| BackupError::Invalid(format!("listIndexes reply: {e}")))?;
    Ok(batch
        .iter()
        .filter_map(Bson::as_document)
        .cloned()
        .collect())
}

/// Copy every uploaded file into `uploads/` of the backup, hashing as it streams.
async fn copy_uploads(
    source: &Location,
    kind: &'static str,
    at: &Location,
) -> Result<(UploadsEntry, Vec<ObjectEntry>), BackupError> {
    let files = source.objects().await?;
    let mut progress = Progress::start("uploads", files.len() as u64);
    let mut written = Vec::with_capacity(files.len());
    let mut bytes = 0;
    for (relative, _) in &files {
        let entry = copy_object(source, relative, at, &format!("{UPLOADS}/{relative}")).await?;
        bytes += entry.size;
        progress.advance(1, entry.size, relative);
        written.push(entry);
    }
    progress.finish();
    let entry = UploadsEntry {
        source: kind.into(),
        files: files.len() as u64,
        bytes,
    };
    Ok((entry, written))
}
