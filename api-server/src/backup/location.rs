//! Where backups live: `s3://BUCKET/PREFIX` or a local directory, behind one object-store handle
//! so every command reads and writes both the same way.

use std::{path::PathBuf, sync::Arc};

use futures::TryStreamExt;
use object_store::{
    ObjectMeta, ObjectStore, ObjectStoreExt, aws::AmazonS3Builder, local::LocalFileSystem,
    path::Path,
};

use super::BackupError;

/// S3 settings of the backup location (not the uploads bucket's `S3_*`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct S3Args {
    /// Endpoint of an S3-compatible server (MinIO, SeaweedFS…). Default: AWS.
    #[arg(long = "backup-s3-endpoint", env = "BACKUP_S3_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Bucket region.
    #[arg(
        long = "backup-s3-region",
        env = "BACKUP_S3_REGION",
        default_value = "us-east-1"
    )]
    pub region: String,
    /// Path-style requests. Default: true when an endpoint is set.
    #[arg(long = "backup-s3-path-style", env = "BACKUP_S3_PATH_STYLE")]
    pub path_style: Option<bool>,
    /// Directory of a mounted Secret holding `s3-access-key-id` and `s3-secret-access-key`.
    #[arg(long = "backup-s3-credentials-dir", env = "BACKUP_S3_CREDENTIALS_DIR")]
    pub credentials_dir: Option<PathBuf>,
    /// Access key id (else the credentials directory, else AWS_ACCESS_KEY_ID).
    #[arg(
        long = "backup-s3-access-key-id",
        env = "BACKUP_S3_ACCESS_KEY_ID",
        hide = true
    )]
    pub access_key_id: Option<String>,
    /// Secret access key.
    #[arg(
        long = "backup-s3-secret-access-key",
        env = "BACKUP_S3_SECRET_ACCESS_KEY",
        hide = true,
        hide_env_values = true
    )]
    pub secret_access_key: Option<String>,
}

impl S3Args {
    fn credentials(&self) -> Result<Option<(String, String)>, BackupError> {
        if let Some(dir) = &self.credentials_dir {
            let read = |file: &str| {
                let path = dir.join(file);
                std::fs::read_to_string(&path)
                    .map(|s| s.trim().to_string())
                    .map_err(|e| BackupError::Usage(format!("cannot read {}: {e}", path.display())))
            };
            return Ok(Some((
                read("s3-access-key-id")?,
                read("s3-secret-access-key")?,
            )));
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(key)) => Ok(Some((id.clone(), key.clone()))),
            (None, None) => Ok(None),
            _ => Err(BackupError::Usage(
                "BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY must be set together"
                    .into(),
            )),
        }
    }
}

/// A folder in a bucket or on disk.
#[derive(Debug, Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    root: Path,
    display: String,
    /// The directory, for a local location (deleting there also removes the folders).
    dir: Option<PathBuf>,
}

impl Location {
    /// Parse `s3://BUCKET/PREFIX` or a directory path. `create` makes a missing directory.
    pub fn parse(text: &str, s3: &S3Args, create: bool) -> Result<Self, BackupError> {
        match text.strip_prefix("s3://") {
            Some(rest) => Self::s3(text, rest, s3),
            None => Self::directory(text, create),
        }
    }

    /// `s3://BUCKET/PREFIX` (`rest` is what follows `s3://`).
    fn s3(text: &str, rest: &str, s3: &S3Args) -> Result<Self, BackupError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BackupError::Usage(format!("{text}: no bucket after s3://")));
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&s3.region);
        if let Some(endpoint) = &s3.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let path_style = s3.path_style.unwrap_or(s3.endpoint.is_some());
        builder = builder.with_virtual_hosted_style_request(!path_style);
        if let Some((id, key)) = s3.credentials()? {
            builder = builder.with_access_key_id(id).with_secret_access_key(key);
        }
        let store = builder
            .build()
            .map_err(|e| BackupError::Usage(format!("{text}: {e}")))?;
        let prefix = prefix.trim_matches('/');
        Ok(Self {
            store: Arc::new(store),
            root: Path::from(prefix),
            display: format!("s3://{bucket}/{prefix}")
                .trim_end_matches('/')
                .into(),
            dir: None,
        })
    }

    /// A directory; `create` makes it when missing.
    fn directory(text: &str, create: bool) -> Result<Self, BackupError> {
        if text.is_empty() {
            return Err(BackupError::Usage("an empty location".into()));
        }
        let dir = PathBuf::from(text);
        if create {
            std::fs::create_dir_all(&dir).map_err(|e| BackupError::Io {
                what: dir.display().to_string(),
                source: e,
            })?;
        } else if !dir.is_dir() {
            return Err(BackupError::NotFound(format!("{text} is not a directory")));
        }
        let store = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| BackupError::Usage(format!("{text}: {e}")))?;
        Ok(Self {
            store: Arc::new(store),
            root: Path::default(),
            display: text.trim_end_matches('/').to_string(),
            dir: Some(dir),
        })
    }

    /// A location over an existing store (the uploads storage).
    pub fn from_store(store: Arc<dyn ObjectStore>, display: &str) -> Self {
        Self {
            store,
            root: Path::default(),
            display: display.into(),
            dir: None,
        }
    }

    /// The sub-folder `name`.
    pub fn child(&self, name: &str) -> Self {
        Self {
            store: self.store.clone(),
            root: self.path(name),
            display: format!("{}/{name}", self.display),
            dir: self.dir.as_ref().map(|d| d.join(name)),
        }
    }

    /// The object `relative` (may contain `/`) under this folder.
    pub fn path(&self, relative: &str) -> Path {
        Path::from_iter(self.root.parts().chain(Path::from(relative).parts()))
    }

    /// `relative` of an object path listed under this folder.
    pub fn relative(&self, path: &Path) -> String {
        path.prefix_match(&self.root)
            .map(|parts| {
                parts
                    .map(|p| p.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|| path.to_string())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// How users write it.
    pub fn display(&self) -> &str {
        &self.display
    }

    fn root_option(&self) -> Option<&Path> {
        (!self.root.as_ref().is_empty()).then_some(&self.root)
    }

    /// Names of the immediate sub-folders.
    pub async fn folders(&self) -> Result<Vec<String>, BackupError> {
        let listing = self
            .store
            .list_with_delimiter(self.root_option())
            .await
            .map_err(|e| self.storage_error("list", e))?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every object below this folder, with paths relative to it.
    pub async fn objects(&self) -> Result<Vec<(String, ObjectMeta)>, BackupError> {
        let listed: Vec<ObjectMeta> = self
            .store
            .list(self.root_option())
            .try_collect()
            .await
            .map_err(|e| self.storage_error("list", e))?;
        Ok(listed
            .into_iter()
            .map(|m| (self.relative(&m.location), m))
            .collect())
    }

    /// Whether the object `relative` exists.
    pub async fn exists(&self, relative: &str) -> Result<bool, BackupError> {
        match self.store.head(&self.path(relative)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.storage_error(relative, e)),
        }
    }

    /// Read a small object whole (manifests).
    pub async fn read_small(&self, relative: &str) -> Result<Option<Vec<u8>>, BackupError> {
        match self.store.get(&self.path(relative)).await {
            Ok(got) => Ok(Some(
                got.bytes()
                    .await
                    .map_err(|e| self.storage_error(relative, e))?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.storage_error(relative, e)),
        }
    }

    /// Write a small object whole.
    pub async fn write_small(&self, relative: &str, bytes: Vec<u8>) -> Result<(), BackupError> {
        self.store
            .put(&self.path(relative), bytes.into())
            .await
            .map(drop)
            .map_err(|e| self.storage_error(relative, e))
    }

    /// Delete everything below this folder; returns how many objects.
    pub async fn delete_all(&self) -> Result<usize, BackupError> {
        let paths = self
            .objects()
            .await?
            .into_iter()
            .map(|(_, m)| Ok(m.location))
            .collect::<Vec<_>>();
        let count = paths.len();
        if let Some(dir) = &self.dir {
            return match std::fs::remove_dir_all(dir) {
                Ok(()) => Ok(count),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(count),
                Err(e) => Err(BackupError::Io {
                    what: dir.display().to_string(),
                    source: e,
                }),
            };
        }
        self.store
            .delete_stream(Box::pin(futures::stream::iter(paths)))
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| self.storage_error("delete", e))?;
        Ok(count)
    }

    /// An object-store error naming the object.
    pub fn storage_error(&self, relative: &str, source: object_store::Error) -> BackupError {
        BackupError::Storage {
            object: format!("{}/{relative}", self.display),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_locations_keep_bucket_and_prefix_apart() {
        let s3 = S3Args {
            endpoint: Some("http://127.0.0.1:8333".into()),
            region: "us-east-1".into(),
            access_key_id: Some("id".into()),
            secret_access_key: Some("key".into()),
            ..S3Args::default()
        };
        let location =
            Location::parse("s3://backups/shop/daily/", &s3, false).expect("should succeed");
        assert_eq!(location.display(), "s3://backups/shop/daily");
        let backup = location.child("20261206T020000Z");
        assert_eq!(
            backup.path("merchant/products.bson.gz").as_ref(),
            "shop/daily/20261206T020000Z/merchant/products.bson.gz"
        );
        assert_eq!(
            backup.relative(&backup.path("uploads/a/b.png")),
            "uploads/a/b.png"
        );
    }

    #[test]
    fn a_location_without_a_bucket_or_with_half_credentials_is_refused() {
        let s3 = S3Args::default();
        assert!(matches!(
            Location::parse("s3://", &s3, false),
            Err(BackupError::Usage(_))
        ));
        let half = S3Args {
            access_key_id: Some("id".into()),
            ..S3Args::default()
        };
        let error = Location::parse("s3://b/p", &half, false).expect_err("should fail");
        assert!(
            error.to_string().contains("must be set together"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_directory_is_named() {
        let error = Location::parse("/nonexistent/backups", &S3Args::default(), false)
            .expect_err("should fail");
        assert!(
            error.to_string().contains("/nonexistent/backups"),
            "{error}"
        );
    }
}
