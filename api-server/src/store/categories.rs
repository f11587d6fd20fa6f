//! The `categories` collection: product and store categories, resolved by id, name or slug.

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{DateTime, Store};
use crate::domain::slugify;

/// A category.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Display name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// going_out | home_delivery | earn | play | general.
    #[serde(rename = "type", default = "general")]
    pub kind: String,
    /// Listed.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// Order in lists.
    #[serde(default)]
    pub sort_order: i32,
    /// Created.
    pub created_at: DateTime,
}

fn general() -> String {
    "general".into()
}

fn yes() -> bool {
    true
}

impl Store {
    /// Id of the category with this name, created (active, type `general`) when missing.
    pub async fn ensure_category(&self, name: &str) -> mongodb::error::Result<ObjectId> {
        let slug = slugify(name);
        let fresh = CategoryDoc {
            id: ObjectId::new(),
            name: name.to_string(),
            slug: slug.clone(),
            kind: general(),
            is_active: true,
            sort_order: 0,
            created_at: DateTime::now(),
        };
        let set_on_insert = mongodb::bson::to_document(&fresh)?;
        let found = self
            .categories()
            .find_one_and_update(
                doc! { "slug": &slug },
                doc! { "$setOnInsert": set_on_insert },
            )
            .upsert(true)
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        Ok(found.map_or(fresh.id, |c| c.id))
    }

    /// Resolve a category reference: a 24-hex id is used as is; otherwise an active category
    /// whose slug equals the slug of `reference` (so names match case-insensitively).
    pub async fn resolve_category(
        &self,
        reference: &str,
    ) -> mongodb::error::Result<Option<ObjectId>> {
        if let Ok(id) = ObjectId::parse_str(reference) {
            return Ok(Some(id));
        }
        let slug = slugify(reference);
        if slug.is_empty() {
            return Ok(None);
        }
        let found = self
            .categories()
            .find_one(doc! { "slug": slug, "isActive": true })
            .await?;
        Ok(found.map(|c| c.id))
    }

    /// Active categories by sort order, then name.
    pub async fn active_categories(&self) -> mongodb::error::Result<Vec<CategoryDoc>> {
        self.categories()
            .find(doc! { "isActive": true })
            .sort(doc! { "sortOrder": 1, "name": 1 })
            .await?
            .try_collect()
            .await
    }

    /// Category by id (for populating products).
    pub async fn category_by_id(
        &self,
        id: ObjectId,
    ) -> mongodb::error::Result<Option<CategoryDoc>> {
        self.categories().find_one(doc! { "_id": id }).await
    }
}
