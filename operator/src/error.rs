//! Errors of the reconcile steps, one variant per failed action. `category()` is the bounded
//! label used in metrics and Event reasons; messages never repeat their source.

use crate::controller::validate::InvalidSpec;

/// Anything a reconcile can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec breaks an invariant the schema cannot express.
    #[error("invalid MerchantBackend spec")]
    InvalidSpec(#[from] InvalidSpec),
    /// A child could not be serialized for hashing or applying.
    #[error("failed to serialize {kind} {name}")]
    SerializeChild {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// Server-side apply of a child failed.
    #[error("failed to apply {kind} {name}")]
    ApplyChild {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Deleting the child of a disabled feature failed.
    #[error("failed to delete {kind} {name}")]
    DeleteChild {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// Writing the status subresource failed.
    #[error("failed to patch MerchantBackend status")]
    PatchStatus(#[source] kube::Error),
    /// The object has no namespace or name (never true for objects from the API server).
    #[error("MerchantBackend has no {0}")]
    MissingObjectKey(&'static str),
}

impl Error {
    /// Bounded label for metrics and Event reasons: the variant name.
    pub fn category(&self) -> &'static str {
        match self {
            Self::InvalidSpec(_) => "InvalidSpec",
            Self::SerializeChild { .. } => "SerializeChild",
            Self::ApplyChild { .. } => "ApplyChild",
            Self::DeleteChild { .. } => "DeleteChild",
            Self::PatchStatus(_) => "PatchStatus",
            Self::MissingObjectKey(_) => "MissingObjectKey",
        }
    }
}

/// Result of a reconcile step.
pub type Result<T, E = Error> = std::result::Result<T, E>;
