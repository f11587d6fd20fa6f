//! An order-independent digest of a collection's documents: the SHA-256 of each document's
//! BSON bytes, summed lane-wise. Two collections holding the same documents in any order give
//! the same digest, so a restore can be checked without sorting.

use sha2::{Digest, Sha256};

/// Running digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentDigest {
    lanes: [u64; 4],
    documents: u64,
}

impl ContentDigest {
    /// Add one document's bytes.
    pub fn add(&mut self, document: &[u8]) {
        let hash = Sha256::digest(document);
        for (lane, bytes) in self.lanes.iter_mut().zip(hash.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            *lane = lane.wrapping_add(u64::from_le_bytes(word));
        }
        self.documents += 1;
    }

    /// Merge a digest of other documents.
    pub fn merge(&mut self, other: &Self) {
        for (lane, o) in self.lanes.iter_mut().zip(other.lanes) {
            *lane = lane.wrapping_add(o);
        }
        self.documents += other.documents;
    }

    /// Documents added.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// `sha256-sum:` and 64 hex digits.
    pub fn to_hex(&self) -> String {
        let mut out = String::from("sha256-sum:");
        for lane in self.lanes {
            out.push_str(&format!("{lane:016x}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_matter_but_content_and_multiplicity_do() {
        let docs: [&[u8]; 3] = [b"a", b"bb", b"ccc"];
        let mut forward = ContentDigest::default();
        docs.iter().for_each(|d| forward.add(d));
        let mut backward = ContentDigest::default();
        docs.iter().rev().for_each(|d| backward.add(d));
        assert_eq!(forward.to_hex(), backward.to_hex());
        let mut changed = ContentDigest::default();
        [b"a" as &[u8], b"bb", b"ccd"]
            .iter()
            .for_each(|d| changed.add(d));
        assert_ne!(forward.to_hex(), changed.to_hex());
        let mut doubled = forward.clone();
        doubled.add(b"a");
        assert_ne!(forward.to_hex(), doubled.to_hex());
        let mut merged = ContentDigest::default();
        let mut part = ContentDigest::default();
        part.add(b"ccc");
        merged.add(b"a");
        merged.add(b"bb");
        merged.merge(&part);
        assert_eq!(merged, forward);
    }
}
