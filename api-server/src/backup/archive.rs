//! Streaming object I/O: gzip'd BSON in and out, hashed as it passes, never held whole.

use std::io::Write;

use flate2::{Compression, write::GzEncoder, write::MultiGzDecoder};
use futures::TryStreamExt;
use mongodb::bson::RawDocumentBuf;
use object_store::{ObjectStoreExt, buffered::BufWriter, path::Path};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{BackupError, location::Location, manifest::ObjectEntry};

/// Multipart part size: S3's minimum, 5 MiB; with two parts in flight this bounds the memory.
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Compressed bytes gathered before they are handed to the upload.
const FLUSH_AT: usize = 256 * 1024;
/// Largest BSON document MongoDB stores (16 MiB) plus room for the wire overhead.
pub const MAX_DOCUMENT: usize = 16 * 1024 * 1024 + 16 * 1024;

/// An object being written: counts and hashes what it stores.
pub struct ObjectWriter {
    relative: String,
    writer: BufWriter,
    hasher: Sha256,
    size: u64,
}

impl ObjectWriter {
    /// Start the object `relative` under `at`.
    pub fn create(at: &Location, relative: &str) -> Self {
        let writer = BufWriter::with_capacity(at.store().clone(), at.path(relative), PART_SIZE)
            .with_max_concurrency(2);
        Self {
            relative: relative.into(),
            writer,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Append bytes.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        self.writer
            .write_all(bytes)
            .await
            .map_err(|e| BackupError::Io {
                what: self.relative.clone(),
                source: e,
            })
    }

    /// Complete the upload.
    pub async fn finish(mut self) -> Result<ObjectEntry, BackupError> {
        self.writer.shutdown().await.map_err(|e| BackupError::Io {
            what: self.relative.clone(),
            source: e,
        })?;
        Ok(ObjectEntry {
            path: self.relative,
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

/// A gzip'd object being written.
pub struct GzWriter {
    encoder: GzEncoder<Vec<u8>>,
    object: ObjectWriter,
}

impl GzWriter {
    /// Start the gzip'd object `relative` under `at`.
    pub fn create(at: &Location, relative: &str, level: u32) -> Self {
        Self {
            encoder: GzEncoder::new(Vec::with_capacity(FLUSH_AT * 2), Compression::new(level)),
            object: ObjectWriter::create(at, relative),
        }
    }

    /// Compress and append.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        self.encoder.write_all(bytes).map_err(|e| BackupError::Io {
            what: self.object.relative.clone(),
            source: e,
        })?;
        if self.encoder.get_ref().len() >= FLUSH_AT {
            let compressed = std::mem::take(self.encoder.get_mut());
            self.object.write(&compressed).await?;
        }
        Ok(())
    }

    /// Write the gzip trailer and complete the upload.
    pub async fn finish(self) -> Result<ObjectEntry, BackupError> {
        let relative = self.object.relative.clone();
        let rest = self.encoder.finish().map_err(|e| BackupError::Io {
            what: relative,
            source: e,
        })?;
        let mut object = self.object;
        object.write(&rest).await?;
        object.finish().await
    }
}

/// Stream the object `relative`, handing each chunk to `each`; returns its size and SHA-256.
pub async fn read_chunks(
    at: &Location,
    relative: &str,
    mut each: impl FnMut(&[u8]) -> Result<(), BackupError>,
) -> Result<(u64, String), BackupError> {
    let path: Path = at.path(relative);
    let got = at.store().get(&path).await.map_err(|e| match e {
        object_store::Error::NotFound { .. } => BackupError::Missing {
            object: format!("{}/{relative}", at.display()),
        },
        e => at.storage_error(relative, e),
    })?;
    let mut stream = got.into_stream();
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| at.storage_error(relative, e))?
    {
        hasher.update(&chunk);
        size += chunk.len() as u64;
        each(&chunk)?;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Stream the object `from_relative` under `from` to `to_relative` under `to`.
pub async fn copy_object(
    from: &Location,
    from_relative: &str,
    to: &Location,
    to_relative: &str,
) -> Result<ObjectEntry, BackupError> {
    let got = from
        .store()
        .get(&from.path(from_relative))
        .await
        .map_err(|e| from.storage_error(from_relative, e))?;
    let mut stream = got.into_stream();
    let mut writer = ObjectWriter::create(to, to_relative);
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| from.storage_error(from_relative, e))?
    {
        writer.write(&chunk).await?;
    }
    writer.finish().await
}

/// Compressed bytes decoded at a time: gzip expands at most ~1032:1, so one step yields at most
/// about 4 MiB however hostile the input (a gzip bomb cannot balloon memory).
const DECODE_STEP: usize = 4096;

/// Splits a gzip'd BSON stream into documents as compressed chunks arrive. Input is decoded
/// lazily, a small step at a time, only when the next document needs more bytes.
pub struct BsonFrames {
    object: String,
    decoder: MultiGzDecoder<Vec<u8>>,
    input: Vec<u8>,
    input_at: usize,
    pending: Vec<u8>,
    start: usize,
    closed: bool,
    finished: bool,
}

impl BsonFrames {
    /// For the object named `object` (in errors).
    pub fn new(object: String) -> Self {
        Self {
            object,
            decoder: MultiGzDecoder::new(Vec::new()),
            input: Vec::new(),
            input_at: 0,
            pending: Vec::new(),
            start: 0,
            closed: false,
            finished: false,
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> BackupError {
        BackupError::Corrupt {
            object: self.object.clone(),
            reason: reason.into(),
        }
    }

    /// Queue compressed bytes (take the documents before pushing the next chunk).
    pub fn push(&mut self, compressed: &[u8]) -> Result<(), BackupError> {
        self.input.drain(..self.input_at);
        self.input_at = 0;
        self.input.extend_from_slice(compressed);
        Ok(())
    }

    /// The compressed stream ended. Documents may follow; take them, then call
    /// [`Self::finish`].
    pub fn close(&mut self) -> Result<(), BackupError> {
        self.closed = true;
        Ok(())
    }

    /// Decode one more step; `false` when nothing is left to decode for now.
    fn decode_step(&mut self) -> Result<bool, BackupError> {
        if self.start > 0 && self.start * 2 >= self.pending.len() {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        if self.input_at < self.input.len() {
            let end = (self.input_at + DECODE_STEP).min(self.input.len());
            let step = &self.input[self.input_at..end];
            let result = self.decoder.write_all(step);
            self.input_at = end;
            result.map_err(|e| self.corrupt(format!("gzip: {e}")))?;
        } else if self.closed && !self.finished {
            // The gzip trailer must check out.
            self.finished = true;
            self.decoder
                .try_finish()
                .map_err(|e| self.corrupt(format!("gzip: {e}")))?;
        } else {
            return Ok(false);
        }
        let out = self.decoder.get_mut();
        self.pending.extend_from_slice(out);
        out.clear();
        Ok(true)
    }

    /// The next whole document, if the bytes for one have arrived.
    pub fn next_document(&mut self) -> Result<Option<RawDocumentBuf>, BackupError> {
        loop {
            let available = &self.pending[self.start..];
            if available.len() >= 4 {
                let length =
                    i32::from_le_bytes([available[0], available[1], available[2], available[3]]);
                let length = usize::try_from(length).unwrap_or(0);
                if !(5..=MAX_DOCUMENT).contains(&length) {
                    return Err(self.corrupt(format!("a document claims {length} bytes")));
                }
                if available.len() >= length {
                    let bytes = available[..length].to_vec();
                    self.start += length;
                    return RawDocumentBuf::from_bytes(bytes)
                        .map(Some)
                        .map_err(|e| self.corrupt(format!("invalid BSON: {e}")));
                }
            }
            if !self.decode_step()? {
                return Ok(None);
            }
        }
    }

    /// After [`Self::close`] and the last document: no partial document may remain.
    pub fn finish(self) -> Result<(), BackupError> {
        if !self.finished {
            return Err(self.corrupt("not read to its end"));
        }
        let left = self.pending.len() - self.start;
        if left > 0 {
            return Err(self.corrupt(format!("ends inside a document ({left} stray bytes)")));
        }
        Ok(())
    }
}

/// The most a small object (collection metadata) may decompress to.
const SMALL_LIMIT: u64 = 16 * 1024 * 1024;

/// Decompress a small gzip'd object whole (collection metadata), refusing more than 16 MiB.
pub fn gunzip_small(object: &str, bytes: &[u8]) -> Result<Vec<u8>, BackupError> {
    use std::io::Read;
    let corrupt = |reason: String| BackupError::Corrupt {
        object: object.into(),
        reason,
    };
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(SMALL_LIMIT + 1)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(format!("gzip: {e}")))?;
    if out.len() as u64 > SMALL_LIMIT {
        return Err(corrupt(format!(
            "decompresses to more than {SMALL_LIMIT} bytes"
        )));
    }
    Ok(out)
}

/// Compress a small object whole.
pub fn gzip_small(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, rawdoc};

    use super::*;

    fn gz(docs: &[RawDocumentBuf]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        for d in docs {
            encoder.write_all(d.as_bytes()).expect("should succeed");
        }
        encoder.finish().expect("should succeed")
    }

    fn frames(compressed: &[u8], chunk: usize) -> Result<Vec<RawDocumentBuf>, BackupError> {
        let mut frames = BsonFrames::new("t.bson.gz".into());
        let mut out = Vec::new();
        for piece in compressed.chunks(chunk) {
            frames.push(piece)?;
            while let Some(d) = frames.next_document()? {
                out.push(d);
            }
        }
        frames.close()?;
        while let Some(d) = frames.next_document()? {
            out.push(d);
        }
        frames.finish()?;
        Ok(out)
    }

    #[test]
    fn documents_split_across_chunks_come_out_whole() {
        let docs: Vec<RawDocumentBuf> = (0..500)
            .map(|i| rawdoc! { "_id": i, "name": format!("product {i}"), "tags": ["a", "b"] })
            .collect();
        let compressed = gz(&docs);
        for chunk in [1, 7, 100, 4096, compressed.len()] {
            assert_eq!(
                frames(&compressed, chunk).expect("should succeed"),
                docs,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn truncation_and_garbage_are_named() {
        let docs = vec![rawdoc! { "_id": 1 }, rawdoc! { "_id": 2 }];
        let compressed = gz(&docs);
        let cut = frames(&compressed[..compressed.len() - 9], 16).expect_err("should fail");
        assert!(cut.to_string().contains("t.bson.gz"), "{cut}");
        let mut flipped = compressed.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0xff;
        assert!(frames(&flipped, 16).is_err());
        let bogus = gz(&[RawDocumentBuf::from_document(&doc! {}).expect("should succeed")]);
        let mut bytes = gunzip_small("x", &bogus).expect("should succeed");
        bytes[0] = 200; // claims a length past the end
        assert!(
            frames(&gz_bytes(&bytes), 16)
                .expect_err("should fail")
                .to_string()
                .contains("stray")
        );
    }

    fn gz_bytes(bytes: &[u8]) -> Vec<u8> {
        gzip_small(bytes)
    }
}
