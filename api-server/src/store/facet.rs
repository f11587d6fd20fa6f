//! One pass over a collection for several questions: the reports whose pipelines read the
//! same documents run as the branches of one `$facet` behind a common `$match` (indexed
//! fields first), instead of one scan each. Each branch is the report's own pipeline (its own
//! narrower `$match` included), so the figures are those of the separate pipelines. Only for
//! branches with small, bounded results: `$facet` returns a single document (16 MB on MongoDB).

use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use serde::de::DeserializeOwned;

use super::Store;

/// The branches' results of one `$facet` pass.
#[derive(Debug, Default)]
pub struct Facets(Document);

impl Facets {
    /// The rows of a branch (none when it matched nothing).
    pub fn rows(&self, branch: &str) -> Vec<Document> {
        self.0
            .get_array(branch)
            .map(|a| a.iter().filter_map(Bson::as_document).cloned().collect())
            .unwrap_or_default()
    }

    /// The rows of a branch as `T`.
    pub fn typed<T: DeserializeOwned>(&self, branch: &str) -> mongodb::error::Result<Vec<T>> {
        self.rows(branch)
            .into_iter()
            .map(|d| mongodb::bson::from_document(d).map_err(Into::into))
            .collect()
    }
}

impl Store {
    /// Run `branches` over the documents of `collection` matching `first`, in one pass.
    pub async fn facet(
        &self,
        collection: &str,
        first: Document,
        branches: Vec<(&str, Vec<Document>)>,
    ) -> mongodb::error::Result<Facets> {
        let facet: Document = branches
            .into_iter()
            .map(|(name, stages)| (name.to_string(), Bson::from(stages)))
            .collect();
        let mut pipeline = super::match_stages(first);
        pipeline.push(doc! { "$facet": facet });
        let mut cursor = self
            .db()
            .collection::<Document>(collection)
            .aggregate(pipeline)
            .await?;
        Ok(Facets(cursor.try_next().await?.unwrap_or_default()))
    }
}
