//! One storage interface for uploaded files, backed by a local directory (the uploads volume,
//! the operator's PVC in Kubernetes) or an S3 bucket, both through `object_store`.
//!
//! Object keys are `<merchantId>/<name>` (public media) and `<merchantId>/private/<name>`
//! (onboarding documents), where `<name>` is 128 random bits in hex plus the extension of the
//! *sniffed* type. Every key is built from the caller's merchant id, so no request can reach
//! another merchant's files.

use std::sync::Arc;

use bytes::Bytes;
use object_store::{
    GetOptions, GetRange, GetResult, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload,
    WriteMultipart, aws::AmazonS3Builder, local::LocalFileSystem, path::Path,
};
use secrecy::ExposeSecret;

use crate::{
    config::{StorageSettings, UploadSettings},
    store::ObjectId,
};

/// Public files are served under this path of the API.
pub const PUBLIC_PREFIX: &str = "/uploads";
/// The caller's private files (documents) are served under this authenticated path.
pub const PRIVATE_PREFIX: &str = "/api/merchant/uploads/private";

/// Storage could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The uploads directory could not be created.
    #[error("failed to create the uploads directory {dir}")]
    CreateDir {
        /// Directory.
        dir: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// object_store rejected the settings.
    #[error("failed to configure upload storage")]
    Configure(#[source] object_store::Error),
}

/// Where one file lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    /// Owning merchant.
    pub merchant: ObjectId,
    /// Served only to the owner.
    pub private: bool,
    /// `<32 hex>.<ext>`.
    pub name: String,
}

impl ObjectKey {
    /// A fresh random key for a file of the given extension.
    pub fn new(merchant: ObjectId, private: bool, ext: &str) -> Self {
        let name = format!("{}.{ext}", uuid::Uuid::new_v4().simple());
        Self {
            merchant,
            private,
            name,
        }
    }

    /// The key of an existing file named by a client, when the name has our shape.
    pub fn parse(merchant: ObjectId, private: bool, name: &str) -> Option<Self> {
        valid_name(name).then(|| Self {
            merchant,
            private,
            name: name.to_string(),
        })
    }

    /// The extension (the sniffed type's).
    pub fn ext(&self) -> &str {
        self.name.rsplit_once('.').map_or("", |(_, e)| e)
    }

    fn path(&self) -> Path {
        let m = self.merchant.to_hex();
        if self.private {
            Path::from(format!("{m}/private/{}", self.name))
        } else {
            Path::from(format!("{m}/{}", self.name))
        }
    }
}

/// `<32 lowercase hex>.<1..5 lowercase alnum>`: nothing else can name a stored file.
fn valid_name(name: &str) -> bool {
    let Some((stem, ext)) = name.split_once('.') else {
        return false;
    };
    stem.len() == 32
        && stem
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && (1..=5).contains(&ext.len())
        && ext
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Handle on the configured storage (cheap to clone).
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<dyn ObjectStore>,
    public_url: String,
}

impl FileStore {
    /// Build from settings; creates the local directory when needed. Secrets are not logged.
    pub fn from_settings(settings: &UploadSettings) -> Result<Self, StorageError> {
        let inner: Arc<dyn ObjectStore> = match &settings.storage {
            StorageSettings::Local { dir } => {
                std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
                    dir: dir.display().to_string(),
                    source,
                })?;
                tracing::info!(dir = %dir.display(), "uploads stored in a local directory");
                Arc::new(
                    LocalFileSystem::new_with_prefix(dir)
                        .map_err(StorageError::Configure)?
                        .with_automatic_cleanup(true),
                )
            }
            StorageSettings::S3 {
                bucket,
                region,
                endpoint,
                credentials,
            } => {
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region);
                if let Some(e) = endpoint {
                    // S3-compatible servers: path-style requests, plain HTTP inside a cluster.
                    b = b
                        .with_endpoint(e)
                        .with_allow_http(e.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                if let Some((id, key)) = credentials {
                    b = b
                        .with_access_key_id(id)
                        .with_secret_access_key(key.expose_secret());
                }
                tracing::info!(%bucket, %region, endpoint = ?endpoint, "uploads stored in S3");
                Arc::new(b.build().map_err(StorageError::Configure)?)
            }
        };
        Ok(Self {
            inner,
            public_url: settings.public_url.clone(),
        })
    }

    /// The underlying object store (backups copy every file through it).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
    }

    /// Store a file.
    pub async fn put(&self, key: &ObjectKey, bytes: Bytes) -> object_store::Result<()> {
        self.inner
            .put(&key.path(), PutPayload::from_bytes(bytes))
            .await
            .map(drop)
    }

    /// Start writing a file in parts (5 MiB each, the S3 minimum): the file exists only once
    /// the writer is finished; an aborted writer leaves nothing (no object, no partial file).
    pub async fn writer(&self, key: &ObjectKey) -> object_store::Result<WriteMultipart> {
        let upload = self.inner.put_multipart(&key.path()).await?;
        Ok(WriteMultipart::new(upload))
    }

    /// Read a file (metadata and a byte stream).
    pub async fn get(&self, key: &ObjectKey) -> object_store::Result<GetResult> {
        self.inner.get(&key.path()).await
    }

    /// A file's metadata (size, ETag, modification time).
    pub async fn head(&self, key: &ObjectKey) -> object_store::Result<ObjectMeta> {
        self.inner.head(&key.path()).await
    }

    /// Read bytes `range` of a file (already checked against its size).
    pub async fn get_range(
        &self,
        key: &ObjectKey,
        range: std::ops::Range<u64>,
    ) -> object_store::Result<GetResult> {
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        self.inner.get_opts(&key.path(), options).await
    }

    /// Delete a file; `false` when there was none (S3 deletes are silent, so check first).
    pub async fn delete(&self, key: &ObjectKey) -> object_store::Result<bool> {
        let path = key.path();
        match self.inner.head(&path).await {
            Ok(_) => self.inner.delete(&path).await.map(|()| true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The URL clients fetch the file from.
    pub fn url(&self, key: &ObjectKey) -> String {
        if key.private {
            format!("{}{PRIVATE_PREFIX}/{}", self.public_url, key.name)
        } else {
            format!(
                "{}{PUBLIC_PREFIX}/{}/{}",
                self.public_url,
                key.merchant.to_hex(),
                key.name
            )
        }
    }

    /// The key behind a URL this store handed out for `merchant`, if it is one.
    pub fn key_of_url(&self, merchant: ObjectId, url: &str) -> Option<ObjectKey> {
        let path = url.strip_prefix(self.public_url.as_str()).unwrap_or(url);
        if let Some(name) = path
            .strip_prefix(PRIVATE_PREFIX)
            .and_then(|p| p.strip_prefix('/'))
        {
            return ObjectKey::parse(merchant, true, name);
        }
        let rest = path.strip_prefix(PUBLIC_PREFIX)?.strip_prefix('/')?;
        let (owner, name) = rest.split_once('/')?;
        (owner == merchant.to_hex())
            .then(|| ObjectKey::parse(merchant, false, name))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(public_url: &str) -> FileStore {
        let dir = std::env::temp_dir().join(format!("uploads-unit-{}", uuid::Uuid::new_v4()));
        FileStore::from_settings(&UploadSettings {
            storage: StorageSettings::Local { dir },
            public_url: public_url.into(),
        })
        .expect("local store")
    }

    #[test]
    fn only_random_hex_names_are_keys() {
        let m = ObjectId::new();
        assert!(ObjectKey::parse(m, false, "0123456789abcdef0123456789abcdef.png").is_some());
        assert!(ObjectKey::parse(m, false, "../../etc/passwd").is_none());
        assert!(ObjectKey::parse(m, false, "0123456789abcdef0123456789abcdef.p/g").is_none());
        assert!(ObjectKey::parse(m, false, "0123456789ABCDEF0123456789abcdef.png").is_none());
        assert_eq!(ObjectKey::new(m, false, "jpg").ext(), "jpg");
    }

    #[test]
    fn urls_map_back_to_keys_only_for_their_owner() {
        let store = local("https://api.example");
        let (a, b) = (ObjectId::new(), ObjectId::new());
        let key = ObjectKey::new(a, false, "png");
        let url = store.url(&key);
        assert!(url.starts_with("https://api.example/uploads/"), "{url}");
        assert_eq!(store.key_of_url(a, &url), Some(key));
        assert_eq!(store.key_of_url(b, &url), None);
        let doc = ObjectKey::new(a, true, "pdf");
        assert_eq!(store.key_of_url(a, &store.url(&doc)), Some(doc));
        assert_eq!(store.key_of_url(a, "https://elsewhere.example/x.png"), None);
    }
}
