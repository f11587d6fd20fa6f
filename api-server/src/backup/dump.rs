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
    let tool = format!("merchant-api {}", env!("CARGO_PKG_VERSION"));
    let (id, at) = mark_started(&plan.to, started, &tool).await?;
    let db = store.db();
    let Dumped {
        consistency,
        snapshot_time,
        collections,
        mut objects,
    } = dump_database(store, &at, plan.level).await?;
    let uploads = backup_uploads(plan.uploads.as_ref(), &at, &mut objects).await?;
    let backend = write_backend(plan.backend.as_ref(), &at, &mut objects).await?;
    let applied = applied_migrations(store).await?;
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
        collections,
        objects,
        uploads,
        secret_fingerprints: plan.secret_fingerprints,
        backend,
    };
    write_manifest(&at, &manifest).await?;
    Ok(manifest)
}

/// Pick the backup's folder and write the `started` marker into it; returns its id and location.
async fn mark_started(
    to: &Location,
    started: chrono::DateTime<Utc>,
    tool: &str,
) -> Result<(String, Location), BackupError> {
    let id = free_id(to, started).await?;
    let at = to.child(&id);
    let marker = Started {
        id: id.clone(),
        started_at: rfc3339(started),
        tool: tool.to_string(),
    };
    at.write_small(STARTED, serde_json::to_vec(&marker).unwrap_or_default())
        .await?;
    tracing::info!(location = at.display(), "backup started");
    Ok((id, at))
}

/// What dumping the collections produced.
struct Dumped {
    /// `snapshot` when one session read every collection, `collection` otherwise.
    consistency: &'static str,
    snapshot_time: Option<ClusterTime>,
    collections: Vec<CollectionEntry>,
    objects: Vec<ObjectEntry>,
}

/// Dump every collection, under one snapshot session when the server allows it.
async fn dump_database(store: &Store, at: &Location, level: u32) -> Result<Dumped, BackupError> {
    let db = store.db();
    let mut session = snapshot_session(store).await;
    let consistency = if session.is_some() {
        "snapshot"
    } else {
        "collection"
    };
    let specs = list_collections(db).await?;
    let total = estimated_total(db, &specs).await;
    let mut progress = Progress::start("backup", total);
    let mut objects = Vec::new();
    let mut collections = Vec::new();
    for spec in &specs {
        let (entry, written, returned) =
            dump_collection(db, at, spec, session, level, &mut progress).await?;
        session = returned;
        collections.push(entry);
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
    Ok(Dumped {
        consistency,
        snapshot_time,
        collections,
        objects,
    })
}

/// Copy the uploads when asked to; the manifest's entry says `skipped` otherwise.
async fn backup_uploads(
    uploads: Option<&(Location, &'static str)>,
    at: &Location,
    objects: &mut Vec<ObjectEntry>,
) -> Result<UploadsEntry, BackupError> {
    match uploads {
        Some((source, kind)) => {
            let (entry, written) = copy_uploads(source, kind, at).await?;
            objects.extend(written);
            Ok(entry)
        }
        None => Ok(UploadsEntry {
            source: "skipped".into(),
            ..UploadsEntry::default()
        }),
    }
}

/// Write the MerchantBackend, when there is one; returns its `namespace/name`.
async fn write_backend(
    backend: Option<&serde_json::Value>,
    at: &Location,
    objects: &mut Vec<ObjectEntry>,
) -> Result<Option<String>, BackupError> {
    let Some(spec) = backend else {
        return Ok(None);
    };
    let mut writer = ObjectWriter::create(at, BACKEND);
    writer
        .write(&serde_json::to_vec_pretty(spec).unwrap_or_default())
        .await?;
    objects.push(writer.finish().await?);
    Ok(Some(backend_name(spec)))
}

/// The versions of the migrations applied to the database.
async fn applied_migrations(store: &Store) -> Result<Vec<i32>, BackupError> {
    Ok(migrate::applied(store)
        .await
        .map_err(|e| BackupError::mongo("read the migration records", e))?
        .iter()
        .map(|r| r.version)
        .collect())
}

/// Write the manifest, last: its presence is what makes the backup complete.
async fn write_manifest(at: &Location, manifest: &Manifest) -> Result<(), BackupError> {
    at.write_small(
        MANIFEST,
        serde_json::to_vec_pretty(manifest).unwrap_or_default(),
    )
    .await?;
    tracing::info!(
        location = at.display(),
        documents = manifest.documents(),
        bytes = manifest.size(),
        "backup finished"
    );
    Ok(())
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

impl Chunk {
    fn empty() -> Self {
        Self {
            bytes: Vec::with_capacity(CHUNK + CHUNK / 4),
            documents: 0,
        }
    }
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
    let (sender, receiver) = mpsc::channel::<Chunk>(4);
    let collection = db.collection::<RawDocumentBuf>(&spec.name);
    let reader = tokio::spawn(read_collection(collection, session, sender));

    let data = format!("{}/{}.bson.gz", db.name(), spec.name);
    let mut writer = GzWriter::create(at, &data, level);
    let write_result = compress_chunks(receiver, &mut writer, progress, &spec.name).await;
    let (digest, bytes, session) = reader
        .await
        .map_err(|e| BackupError::Invalid(format!("reader task: {e}")))?;
    let digest = digest.map_err(|e| BackupError::mongo(format!("read {}", spec.name), e))?;
    write_result?;
    let data_entry = writer.finish().await?;

    let indexes = list_indexes(db, &spec.name).await?;
    let meta_entry = write_metadata(db, at, spec, &indexes).await?;
    let entry = CollectionEntry {
        name: spec.name.clone(),
        documents: digest.documents(),
        bytes,
        digest: digest.to_hex(),
        indexes: indexes.len(),
    };
    Ok((entry, vec![data_entry, meta_entry], session))
}

/// Compress the reader's chunks until it is done or a write fails; dropping the receiver on
/// the way out stops the reader.
async fn compress_chunks(
    mut receiver: mpsc::Receiver<Chunk>,
    writer: &mut GzWriter,
    progress: &mut Progress,
    name: &str,
) -> Result<(), BackupError> {
    while let Some(chunk) = receiver.recv().await {
        writer.write(&chunk.bytes).await?;
        progress.advance(chunk.documents, chunk.bytes.len() as u64, name);
    }
    Ok(())
}

/// Write `<db>/<name>.metadata.json.gz`: options, indexes and UUID, as `mongodump` does.
async fn write_metadata(
    db: &Database,
    at: &Location,
    spec: &CollectionSpec,
    indexes: &[Document],
) -> Result<ObjectEntry, BackupError> {
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
    meta_writer.finish().await
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
    let mut chunker = Chunker::new(sender);
    let result = read_into(&collection, session.as_mut(), &mut chunker).await;
    (result.map(|()| chunker.digest), chunker.bytes, session)
}

/// Run the collection's cursor, under the session when there is one, into the chunker.
async fn read_into(
    collection: &mongodb::Collection<RawDocumentBuf>,
    session: Option<&mut ClientSession>,
    chunker: &mut Chunker,
) -> mongodb::error::Result<()> {
    let find = collection.find(doc! {}).batch_size(BATCH);
    match session {
        Some(s) => {
            let mut cursor = find.session(&mut *s).await?;
            while let Some(document) = cursor.next(s).await {
                if !chunker.take(document?).await {
                    return Ok(());
                }
            }
        }
        None => {
            let mut cursor = find.await?;
            while cursor.advance().await? {
                if !chunker.take(cursor.deserialize_current()?).await {
                    return Ok(());
                }
            }
        }
    }
    chunker.flush().await;
    Ok(())
}

/// Gathers documents into chunks of about `CHUNK` bytes for the writer, hashing as they pass.
struct Chunker {
    sender: mpsc::Sender<Chunk>,
    chunk: Chunk,
    digest: ContentDigest,
    bytes: u64,
}

impl Chunker {
    fn new(sender: mpsc::Sender<Chunk>) -> Self {
        Self {
            sender,
            chunk: Chunk::empty(),
            digest: ContentDigest::default(),
            bytes: 0,
        }
    }

    /// Add one document; `false` when the writer has gone (it failed, and reports why).
    async fn take(&mut self, document: RawDocumentBuf) -> bool {
        self.digest.add(document.as_bytes());
        self.bytes += document.as_bytes().len() as u64;
        self.chunk.bytes.extend_from_slice(document.as_bytes());
        self.chunk.documents += 1;
        if self.chunk.bytes.len() < CHUNK {
            return true;
        }
        let full = std::mem::replace(&mut self.chunk, Chunk::empty());
        self.sender.send(full).await.is_ok()
    }

    /// Send the last, partly filled chunk.
    async fn flush(&mut self) {
        if self.chunk.documents > 0 {
            let last = std::mem::replace(&mut self.chunk, Chunk::empty());
            let _ = self.sender.send(last).await;
        }
    }
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
