//! `verify`: checksums, then a trial restore into a scratch database whose documents are read
//! back and compared with the manifest (count, content digest, index count per collection).

use std::time::Instant;

use futures::TryStreamExt;
use mongodb::{
    Client,
    bson::{Document, RawDocumentBuf, doc},
};

use super::{
    BackupError,
    digest::ContentDigest,
    load::{self, RestoreOptions, Source},
    manifest::Manifest,
};

/// What a verify run found.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// One line per difference, naming the object or collection.
    pub mismatches: Vec<String>,
    /// Seconds the trial restore took (the measured restore time).
    pub restore_seconds: f64,
    /// Documents restored.
    pub documents: u64,
}

/// Verify `source` using the scratch database `scratch` (dropped before and after).
pub async fn verify(
    client: &Client,
    source: &Source,
    scratch: &str,
) -> Result<Verified, BackupError> {
    let Some(manifest) = &source.manifest else {
        return Err(BackupError::Usage(format!(
            "{} has no manifest.json: verify needs one of our backups (restore checks a plain mongodump folder)",
            source.at.display()
        )));
    };
    let mut mismatches = load::check(source).await?;
    if !mismatches.is_empty() {
        // A restore would refuse these objects; say what is wrong instead.
        return Ok(Verified {
            mismatches,
            ..Verified::default()
        });
    }
    let db = client.database(scratch);
    drop_scratch(&db).await?;
    let started = Instant::now();
    let options = RestoreOptions {
        drop: true,
        uploads_to: None,
        new_identity: false,
        expect_identity: None,
    };
    let outcome = async {
        let restored = load::restore(source, &db, &options).await?;
        let restore_seconds = started.elapsed().as_secs_f64();
        compare(&db, manifest, &mut mismatches).await?;
        Ok::<_, BackupError>((restored, restore_seconds))
    }
    .await;
    drop_scratch(&db).await?;
    let (restored, restore_seconds) = outcome?;
    Ok(Verified {
        mismatches,
        restore_seconds,
        documents: restored.documents,
    })
}

async fn drop_scratch(db: &mongodb::Database) -> Result<(), BackupError> {
    db.drop()
        .await
        .map_err(|e| BackupError::mongo(format!("drop the scratch database {}", db.name()), e))
}

/// Every restored collection against its manifest entry: documents, content digest, indexes.
async fn compare(
    db: &mongodb::Database,
    manifest: &Manifest,
    mismatches: &mut Vec<String>,
) -> Result<(), BackupError> {
    for expected in &manifest.collections {
        let digest = read_back(db, &expected.name).await?;
        if digest.documents() != expected.documents {
            mismatches.push(format!(
                "{}: {} documents restored, the manifest says {}",
                expected.name,
                digest.documents(),
                expected.documents
            ));
        } else if digest.to_hex() != expected.digest {
            mismatches.push(format!(
                "{}: restored content digest {} differs from the manifest's {}",
                expected.name,
                digest.to_hex(),
                expected.digest
            ));
        }
        let indexes = count_indexes(db, &expected.name).await?;
        if indexes != expected.indexes {
            mismatches.push(format!(
                "{}: {indexes} indexes restored, the manifest says {}",
                expected.name, expected.indexes
            ));
        }
    }
    Ok(())
}

/// The content digest of a restored collection, read back in full.
async fn read_back(db: &mongodb::Database, name: &str) -> Result<ContentDigest, BackupError> {
    let failed = |e| BackupError::mongo(format!("read back {name}"), e);
    let mut digest = ContentDigest::default();
    let mut cursor = db
        .collection::<RawDocumentBuf>(name)
        .find(doc! {})
        .batch_size(1000)
        .await
        .map_err(failed)?;
    while let Some(document) = cursor.try_next().await.map_err(failed)? {
        digest.add(document.as_bytes());
    }
    Ok(digest)
}

/// How many indexes a restored collection has.
async fn count_indexes(db: &mongodb::Database, name: &str) -> Result<usize, BackupError> {
    let failed = |e| BackupError::mongo(format!("list the indexes of {name}"), e);
    let indexes: Vec<_> = db
        .collection::<Document>(name)
        .list_indexes()
        .await
        .map_err(failed)?
        .try_collect()
        .await
        .map_err(failed)?;
    Ok(indexes.len())
}

/// Default scratch database: `<source>_verify_<id>`, within MongoDB's 63-byte name limit.
pub fn scratch_name(manifest: &Manifest) -> String {
    let id: String = manifest
        .id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase();
    let mut name = format!("{}_verify_{id}", manifest.database);
    if name.len() > 63 {
        name = format!("verify_{id}");
    }
    name
}
