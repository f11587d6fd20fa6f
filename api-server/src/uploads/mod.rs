//! Uploaded files: where they are stored ([`storage`]), what they really are ([`sniff`]) and
//! how multipart bodies are read within a size limit ([`multipart`]). HTTP routes live in
//! `routes::uploads`; this module knows bytes, keys and content types, not handlers.

pub mod multipart;
pub mod sniff;
pub mod storage;

pub use storage::{FileStore, ObjectKey};
