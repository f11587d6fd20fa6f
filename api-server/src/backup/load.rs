//! Reading backups back: find one, check every object before the first write, restore it.

use std::time::Instant;

use futures::TryStreamExt;
use mongodb::{
    Database,
    bson::{Bson, Document, RawDocumentBuf, doc},
};
use object_store::ObjectStoreExt;
use tokio::task::JoinHandle;

use super::{
    BackupError,
    archive::{BsonFrames, copy_object, gunzip_small, read_chunks},
    location::Location,
    manifest::{self, Found, Manifest, UPLOADS},
    progress::Progress,
};
use crate::ops::identity;

/// Documents per insert, and the byte size that closes a batch early.
const INSERT_DOCS: usize = 1000;
const INSERT_BYTES: usize = 4 * 1024 * 1024;

/// One collection of a backup.
#[derive(Debug, Clone)]
pub struct SourceCollection {
    /// Name.
    pub name: String,
    /// `<db>/<name>.bson.gz`.
    pub data: String,
    /// `<db>/<name>.metadata.json.gz`, when present.
    pub metadata: Option<String>,
}

/// A backup folder, resolved.
#[derive(Debug, Clone)]
pub struct Source {
    /// The folder.
    pub at: Location,
    /// Our manifest; `None` for a plain `mongodump --gzip` folder.
    pub manifest: Option<Manifest>,
    /// Its collections.
    pub collections: Vec<SourceCollection>,
}

impl Source {
    /// Backup id (the folder name).
    pub fn id(&self) -> String {
        match &self.manifest {
            Some(m) => m.id.clone(),
            None => self
                .at
                .display()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .into(),
        }
    }
}

/// The backup at `from`, or with `latest` the newest complete one under it.
pub async fn resolve(from: &Location, latest: bool) -> Result<Source, BackupError> {
    if !latest {
        return open(from).await;
    }
    candidates(from).await?.into_iter().next().ok_or_else(|| {
        BackupError::NotFound(format!("no complete backup under {}", from.display()))
    })
}

/// Every complete backup under `from`, newest first.
pub async fn candidates(from: &Location) -> Result<Vec<Source>, BackupError> {
    let mut found = Vec::new();
    for folder in from.folders().await?.into_iter().rev() {
        let at = from.child(&folder);
        if let Found::Complete(manifest) = manifest::inspect(&at).await? {
            found.push(source_of(at, *manifest));
        }
    }
    Ok(found)
}

fn source_of(at: Location, manifest: Manifest) -> Source {
    let collections = manifest
        .collections
        .iter()
        .map(|c| SourceCollection {
            name: c.name.clone(),
            data: format!("{}/{}.bson.gz", manifest.database, c.name),
            metadata: Some(format!("{}/{}.metadata.json.gz", manifest.database, c.name)),
        })
        .collect();
    Source {
        at,
        manifest: Some(manifest),
        collections,
    }
}

/// The backup folder `at`: one of ours, or a `mongodump --gzip` output (the `--out` folder
/// holding one database folder, or the database folder itself).
pub async fn open(at: &Location) -> Result<Source, BackupError> {
    match manifest::inspect(at).await? {
        Found::Complete(manifest) => Ok(source_of(at.clone(), *manifest)),
        Found::Incomplete(started) => Err(BackupError::Incomplete {
            location: at.display().into(),
            started_at: started.started_at,
        }),
        Found::Foreign => open_mongodump(at).await,
    }
}

async fn open_mongodump(at: &Location) -> Result<Source, BackupError> {
    let objects = at.objects().await?;
    let mut folders: Vec<String> = Vec::new();
    let mut collections = Vec::new();
    for (relative, _) in &objects {
        let Some(stem) = relative.strip_suffix(".bson.gz") else {
            continue;
        };
        let (folder, name) = stem.rsplit_once('/').unwrap_or(("", stem));
        if folder.contains('/') || name.starts_with("system.") {
            continue;
        }
        if !folders.iter().any(|f| f == folder) {
            folders.push(folder.into());
        }
        let metadata = format!("{stem}.metadata.json.gz");
        collections.push(SourceCollection {
            name: name.into(),
            data: relative.clone(),
            metadata: objects
                .iter()
                .any(|(r, _)| *r == metadata)
                .then_some(metadata),
        });
    }
    match folders.len() {
        0 => Err(BackupError::NotFound(format!(
            "{} is neither one of our backups (no manifest.json) nor a mongodump --gzip folder (no *.bson.gz)",
            at.display()
        ))),
        1 => {
            collections.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(Source {
                at: at.clone(),
                manifest: None,
                collections,
            })
        }
        _ => Err(BackupError::Usage(format!(
            "{} holds dumps of several databases ({}): point at one of them",
            at.display(),
            folders.join(", ")
        ))),
    }
}

/// Check every object before anything is written: checksums against the manifest, or for a
/// plain mongodump folder, that every file decompresses into whole BSON documents. Returns
/// one line per problem, naming the object.
pub async fn check(source: &Source) -> Result<Vec<String>, BackupError> {
    match &source.manifest {
        Some(manifest) => check_checksums(&source.at, manifest).await,
        None => check_dump(source).await,
    }
}

/// Every object's size and SHA-256 against the manifest.
async fn check_checksums(at: &Location, manifest: &Manifest) -> Result<Vec<String>, BackupError> {
    let mut problems = Vec::new();
    let mut progress = Progress::start("checksums", manifest.objects.len() as u64);
    for object in &manifest.objects {
        let name = format!("{}/{}", at.display(), object.path);
        match read_chunks(at, &object.path, |_| Ok(())).await {
            Ok((size, sha256)) if sha256 == object.sha256 && size == object.size => {}
            Ok((size, sha256)) => problems.push(format!(
                "checksum mismatch: {name} (sha256 {sha256}, {size} bytes; the manifest says {}, {} bytes)",
                object.sha256, object.size
            )),
            Err(BackupError::Missing { .. }) => problems.push(format!("missing: {name}")),
            Err(e) => return Err(e),
        }
        progress.advance(1, object.size, &object.path);
    }
    progress.finish();
    Ok(problems)
}

/// A plain mongodump folder: every data file decodes into whole BSON documents and every
/// metadata file reads.
async fn check_dump(source: &Source) -> Result<Vec<String>, BackupError> {
    let mut problems = Vec::new();
    for c in &source.collections {
        if let Err(e) = check_frames(&source.at, &c.data).await {
            problems.push(e.to_string());
        }
        if let Some(meta) = &c.metadata
            && let Err(e) = read_metadata(&source.at, meta).await
        {
            problems.push(e.to_string());
        }
    }
    Ok(problems)
}

/// Decode a data file to its end; the first problem met, if any.
async fn check_frames(at: &Location, data: &str) -> Result<(), BackupError> {
    let mut frames = BsonFrames::new(format!("{}/{data}", at.display()));
    let mut bad = None;
    let read = read_chunks(at, data, |chunk| {
        if bad.is_none() {
            let mut step = || -> Result<(), BackupError> {
                frames.push(chunk)?;
                while frames.next_document()?.is_some() {}
                Ok(())
            };
            bad = step().err();
        }
        Ok(())
    })
    .await;
    read.and_then(|_| bad.map_or(Ok(()), Err))
        .and_then(|()| frames.close())
        .and_then(|()| {
            while frames.next_document()?.is_some() {}
            Ok(())
        })
        .and_then(|()| frames.finish())
}

/// How to restore.
pub struct RestoreOptions {
    /// Drop each target collection first.
    pub drop: bool,
    /// Copy the backup's uploads here.
    pub uploads_to: Option<Location>,
    /// Give the restored database an identity of its own.
    pub new_identity: bool,
    /// Refuse unless the target's identity is this.
    pub expect_identity: Option<String>,
}

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// Documents inserted.
    pub documents: u64,
    /// Collections restored.
    pub collections: usize,
    /// Upload files copied.
    pub uploads: u64,
    /// Wall time.
    pub seconds: f64,
    /// The target's identity afterwards.
    pub identity: Option<String>,
}

/// Restore `source` (already [`check`]ed) into `target`.
pub async fn restore(
    source: &Source,
    target: &Database,
    options: &RestoreOptions,
) -> Result<Restored, BackupError> {
    let started = Instant::now();
    let actual = identity::read(target)
        .await
        .map_err(|e| BackupError::mongo("read the target's identity", e))?;
    identity::check(options.expect_identity.as_deref(), actual.as_deref())?;
    if !options.drop {
        refuse_non_empty(source, target).await?;
    }
    let total = source.manifest.as_ref().map_or(0, |m| m.documents());
    let mut progress = Progress::start("restore", total);
    let mut documents = 0;
    for c in &source.collections {
        documents += restore_collection(source, c, target, options.drop, &mut progress).await?;
    }
    progress.finish();
    let identity = if options.new_identity {
        let previous = source.manifest.as_ref().and_then(|m| m.identity.as_deref());
        Some(
            identity::renew(target, previous, &source.id())
                .await
                .map_err(|e| BackupError::mongo("mark the restored database", e))?,
        )
    } else {
        identity::read(target)
            .await
            .map_err(|e| BackupError::mongo("read the restored identity", e))?
    };
    let uploads = match &options.uploads_to {
        Some(to) => restore_uploads(source, to).await?,
        None => 0,
    };
    Ok(Restored {
        documents,
        collections: source.collections.len(),
        uploads,
        seconds: started.elapsed().as_secs_f64(),
        identity,
    })
}

async fn refuse_non_empty(source: &Source, target: &Database) -> Result<(), BackupError> {
    for c in &source.collections {
        let documents = target
            .collection::<Document>(&c.name)
            .count_documents(doc! {})
            .limit(1)
            .await
            .map_err(|e| BackupError::mongo(format!("count {}", c.name), e))?;
        if documents > 0 {
            return Err(BackupError::NotEmpty {
                database: target.name().into(),
                collection: c.name.clone(),
            });
        }
    }
    Ok(())
}

/// The metadata document (`mongodump`'s canonical extended JSON).
async fn read_metadata(at: &Location, relative: &str) -> Result<Document, BackupError> {
    let name = format!("{}/{relative}", at.display());
    let compressed = at
        .read_small(relative)
        .await?
        .ok_or_else(|| BackupError::Missing {
            object: name.clone(),
        })?;
    let json = gunzip_small(&name, &compressed)?;
    let corrupt = |reason: String| BackupError::Corrupt {
        object: name.clone(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    match Bson::try_from(value) {
        Ok(Bson::Document(d)) => Ok(d),
        Ok(_) => Err(corrupt("not a JSON object".into())),
        Err(e) => Err(corrupt(format!("not extended JSON: {e}"))),
    }
}

async fn restore_collection(
    source: &Source,
    c: &SourceCollection,
    target: &Database,
    drop: bool,
    progress: &mut Progress,
) -> Result<u64, BackupError> {
    let metadata = match &c.metadata {
        Some(m) => read_metadata(&source.at, m).await?,
        None => Document::new(),
    };
    let collection = target.collection::<RawDocumentBuf>(&c.name);
    if drop {
        collection
            .drop()
            .await
            .map_err(|e| BackupError::mongo(format!("drop {}", c.name), e))?;
    }
    create_collection(target, &c.name, &metadata).await?;

    let documents = insert_documents(source, c, collection, progress).await?;
    create_indexes(target, &c.name, &metadata).await?;
    Ok(documents)
}

/// Stream the collection's data file into inserts; returns the documents written.
async fn insert_documents(
    source: &Source,
    c: &SourceCollection,
    collection: mongodb::Collection<RawDocumentBuf>,
    progress: &mut Progress,
) -> Result<u64, BackupError> {
    let object = format!("{}/{}", source.at.display(), c.data);
    let mut frames = BsonFrames::new(object);
    let mut inserter = Inserter::new(collection);
    let mut stream = source
        .at
        .store()
        .get(&source.at.path(&c.data))
        .await
        .map_err(|e| source.at.storage_error(&c.data, e))?
        .into_stream();
    loop {
        let chunk = stream
            .try_next()
            .await
            .map_err(|e| source.at.storage_error(&c.data, e))?;
        match &chunk {
            Some(bytes) => frames.push(bytes)?,
            None => frames.close()?,
        }
        while let Some(document) = frames.next_document()? {
            inserter.push(document, progress, &c.name).await?;
        }
        if chunk.is_none() {
            break;
        }
    }
    frames.finish()?;
    inserter.finish(progress, &c.name).await
}

/// Gathers documents into batches and inserts them, one batch in flight at a time.
struct Inserter {
    collection: mongodb::Collection<RawDocumentBuf>,
    batch: Batch,
    in_flight: Option<JoinHandle<Result<u64, BackupError>>>,
    documents: u64,
}

impl Inserter {
    fn new(collection: mongodb::Collection<RawDocumentBuf>) -> Self {
        Self {
            collection,
            batch: Batch::default(),
            in_flight: None,
            documents: 0,
        }
    }

    /// Add one document, sending the batch when it is full.
    async fn push(
        &mut self,
        document: RawDocumentBuf,
        progress: &mut Progress,
        name: &str,
    ) -> Result<(), BackupError> {
        self.batch.push(document);
        if self.batch.full() {
            let sent = self.batch.docs.len() as u64;
            let batch = std::mem::take(&mut self.batch);
            self.documents += send(&mut self.in_flight, &self.collection, batch).await?;
            progress.advance(sent, 0, name);
        }
        Ok(())
    }

    /// Send the last batch and wait for every insert; returns the documents written.
    async fn finish(mut self, progress: &mut Progress, name: &str) -> Result<u64, BackupError> {
        let last = self.batch.docs.len() as u64;
        if last > 0 {
            self.documents += send(&mut self.in_flight, &self.collection, self.batch).await?;
        }
        if let Some(pending) = self.in_flight.take() {
            self.documents += join(pending).await?;
        }
        progress.advance(last, 0, name);
        Ok(self.documents)
    }
}

#[derive(Default)]
struct Batch {
    docs: Vec<RawDocumentBuf>,
    bytes: usize,
}

impl Batch {
    fn push(&mut self, document: RawDocumentBuf) {
        self.bytes += document.as_bytes().len();
        self.docs.push(document);
    }

    fn full(&self) -> bool {
        self.docs.len() >= INSERT_DOCS || self.bytes >= INSERT_BYTES
    }
}

/// Start inserting `batch` once the previous insert finished: decoding the next batch overlaps
/// the server's work on this one. Returns the documents the previous insert wrote.
async fn send(
    in_flight: &mut Option<JoinHandle<Result<u64, BackupError>>>,
    collection: &mongodb::Collection<RawDocumentBuf>,
    batch: Batch,
) -> Result<u64, BackupError> {
    let previous = match in_flight.take() {
        Some(pending) => join(pending).await?,
        None => 0,
    };
    let collection = collection.clone();
    *in_flight = Some(tokio::spawn(async move {
        let count = batch.docs.len() as u64;
        collection
            .insert_many(batch.docs)
            .await
            .map(|_| count)
            .map_err(|e| BackupError::mongo(format!("insert into {}", collection.name()), e))
    }));
    Ok(previous)
}

async fn join(pending: JoinHandle<Result<u64, BackupError>>) -> Result<u64, BackupError> {
    pending
        .await
        .map_err(|e| BackupError::Invalid(format!("insert task: {e}")))?
}

/// Create the collection with its options (validators, collation…).
async fn create_collection(
    target: &Database,
    name: &str,
    metadata: &Document,
) -> Result<(), BackupError> {
    // Always created, so an empty collection comes back too.
    let options = metadata
        .get_document("options")
        .cloned()
        .unwrap_or_default();
    let mut command = doc! { "create": name };
    command.extend(options);
    match target.run_command(command).await {
        Ok(_) => Ok(()),
        // NamespaceExists: restoring into an existing collection without --drop.
        Err(e) if matches!(*e.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 48) => {
            Ok(())
        }
        Err(e) => Err(BackupError::mongo(format!("create {name}"), e)),
    }
}

/// Recreate the indexes recorded in the metadata (the `_id` index exists already).
async fn create_indexes(
    target: &Database,
    name: &str,
    metadata: &Document,
) -> Result<(), BackupError> {
    let indexes: Vec<Bson> = metadata
        .get_array("indexes")
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(Bson::as_document)
        .filter(|i| i.get_str("name") != Ok("_id_"))
        .map(|i| {
            let mut spec = i.clone();
            spec.remove("v");
            spec.remove("ns");
            Bson::Document(spec)
        })
        .collect();
    if indexes.is_empty() {
        return Ok(());
    }
    target
        .run_command(doc! { "createIndexes": name, "indexes": indexes })
        .await
        .map(drop)
        .map_err(|e| BackupError::mongo(format!("create the indexes of {name}"), e))
}

/// Copy the backup's uploads into the uploads storage; returns how many files.
async fn restore_uploads(source: &Source, to: &Location) -> Result<u64, BackupError> {
    let uploads = source.at.child(UPLOADS);
    let files = uploads.objects().await?;
    let mut progress = Progress::start("uploads", files.len() as u64);
    for (relative, meta) in &files {
        copy_object(&uploads, relative, to, relative).await?;
        progress.advance(1, meta.size, relative);
    }
    progress.finish();
    Ok(files.len() as u64)
}
