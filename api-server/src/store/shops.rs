//! The `stores` collection: the merchant's shops. Registration auto-creates one so products
//! always have a store.

use std::collections::HashMap;

use futures::TryStreamExt;
use mongodb::bson::{Document, doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{DateTime, Store, is_duplicate_key, merchants::MerchantDoc};
use crate::domain::slugify;

/// Store location.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// "<street>, <city>".
    pub address: String,
    /// City.
    pub city: String,
    /// State.
    #[serde(default)]
    pub state: String,
    /// Postal code (any format; the peer's 6-digit rule silently broke stores).
    #[serde(default)]
    pub pincode: String,
}

/// Store contact data.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Contact {
    /// Phone.
    #[serde(default)]
    pub phone: String,
    /// E-mail.
    #[serde(default)]
    pub email: String,
}

/// A store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopDoc {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// Owning merchant.
    pub merchant_id: ObjectId,
    /// Category.
    pub category: ObjectId,
    /// Location.
    #[serde(default)]
    pub location: Location,
    /// Contact.
    #[serde(default)]
    pub contact: Contact,
    /// Logo URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Open for business.
    pub is_active: bool,
    /// Verified merchant.
    #[serde(default)]
    pub is_verified: bool,
    /// Created.
    pub created_at: DateTime,
    /// Updated.
    pub updated_at: DateTime,
}

impl Store {
    /// Create the registration store of a merchant, retrying the slug with `-1`, `-2`… on clash.
    pub async fn create_default_shop(
        &self,
        merchant: &MerchantDoc,
        category: ObjectId,
    ) -> mongodb::error::Result<ShopDoc> {
        let base = match slugify(&merchant.business_name) {
            s if s.is_empty() => "store".to_string(),
            s => s,
        };
        let a = &merchant.business_address;
        let mut store = ShopDoc {
            id: ObjectId::new(),
            name: merchant.business_name.clone(),
            slug: base.clone(),
            merchant_id: merchant.id,
            category,
            location: Location {
                address: format!("{}, {}", a.street, a.city),
                city: a.city.clone(),
                state: a.state.clone(),
                pincode: a.zip_code.clone(),
            },
            contact: Contact {
                phone: merchant.phone.clone(),
                email: merchant.email.clone(),
            },
            logo: None,
            tags: vec!["new-store".into(), "local-business".into()],
            is_active: true,
            is_verified: merchant.verification_status == "verified",
            created_at: DateTime::now(),
            updated_at: DateTime::now(),
        };
        for attempt in 1..=20 {
            match self.shops().insert_one(&store).await {
                Ok(_) => return Ok(store),
                Err(e) if is_duplicate_key(&e) && attempt < 20 => {
                    store.slug = format!("{base}-{attempt}");
                    store.id = ObjectId::new();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(store)
    }

    /// A store owned by the merchant.
    pub async fn owned_shop(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<Option<ShopDoc>> {
        self.shops()
            .find_one(doc! { "_id": id, "merchantId": merchant })
            .await
    }

    /// The merchant's oldest active store, else any of its stores.
    pub async fn default_shop(
        &self,
        merchant: ObjectId,
    ) -> mongodb::error::Result<Option<ShopDoc>> {
        let found = self
            .shops()
            .find_one(doc! { "merchantId": merchant, "isActive": true })
            .sort(doc! { "createdAt": 1 })
            .await?;
        match found {
            Some(s) => Ok(Some(s)),
            None => self.shops().find_one(doc! { "merchantId": merchant }).await,
        }
    }

    /// A store by id (for populating products).
    pub async fn shop_by_id(&self, id: ObjectId) -> mongodb::error::Result<Option<ShopDoc>> {
        self.shops().find_one(doc! { "_id": id }).await
    }

    /// The merchant owning each of these stores (ids not found are left out).
    pub async fn shop_owners(
        &self,
        ids: &[ObjectId],
    ) -> mongodb::error::Result<HashMap<ObjectId, ObjectId>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<Document> = self
            .shops()
            .clone_with_type::<Document>()
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "merchantId": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(rows
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_object_id("_id").ok()?,
                    d.get_object_id("merchantId").ok()?,
                ))
            })
            .collect())
    }
}
