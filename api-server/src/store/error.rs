//! What a failed write means to its caller: a unique index already holding a value (E11000),
//! which callers answer in their own words, or any other database failure. Mapping either to an
//! HTTP answer is the caller's job (`error::on_duplicate_key`).

use mongodb::error::{Error, ErrorKind, WriteFailure};

/// A failed insert or update into a collection with unique indexes.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A unique index already holds one of the written values.
    #[error("a unique index already holds the value")]
    DuplicateKey(#[source] Error),
    /// Any other database failure.
    #[error("database write failed")]
    Database(#[source] Error),
}

impl WriteError {
    /// True for [`WriteError::DuplicateKey`].
    pub fn is_duplicate_key(&self) -> bool {
        matches!(self, Self::DuplicateKey(_))
    }

    /// The driver's error.
    pub fn into_source(self) -> Error {
        match self {
            Self::DuplicateKey(e) | Self::Database(e) => e,
        }
    }
}

impl From<Error> for WriteError {
    fn from(error: Error) -> Self {
        if is_duplicate_key(&error) {
            Self::DuplicateKey(error)
        } else {
            Self::Database(error)
        }
    }
}

/// True when a MongoDB error is a unique-index violation (E11000).
pub fn is_duplicate_key(error: &Error) -> bool {
    match &*error.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == 11000,
        ErrorKind::InsertMany(e) => e.write_errors.iter().flatten().any(|e| e.code == 11000),
        ErrorKind::Command(e) => e.code == 11000,
        _ => false,
    }
}

/// True when the deployment cannot run transactions (a standalone server).
pub fn transactions_unsupported(e: &Error) -> bool {
    match &*e.kind {
        ErrorKind::Transaction { message, .. } => message.contains("not supported"),
        ErrorKind::Command(c) => c.code == 20,
        _ => false,
    }
}
