//! Database side of uploads: attaching image URLs to products, setting a store's logo or
//! banner, and taking a product out (with its image URLs) so its files can be removed.
//! Every query is scoped to the caller's merchant.

use mongodb::{
    bson::{Document, doc, oid::ObjectId},
    options::ReturnDocument,
};

use super::{
    DateTime, Store,
    products::{ProductDoc, REVISION},
};

impl Store {
    /// Append image URLs to one of the merchant's products; `None` when it is not theirs.
    pub async fn add_product_images(
        &self,
        merchant: ObjectId,
        id: ObjectId,
        urls: &[String],
    ) -> mongodb::error::Result<Option<ProductDoc>> {
        self.products()
            .find_one_and_update(
                super::products::scope(merchant, id),
                doc! {
                    "$push": { "images": { "$each": urls } },
                    "$set": { "updatedAt": DateTime::now() },
                    "$inc": { REVISION: 1 },
                },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Remove an image URL from every product of the merchant that lists it.
    pub async fn pull_product_image(
        &self,
        merchant: ObjectId,
        url: &str,
    ) -> mongodb::error::Result<u64> {
        let r = self
            .products()
            .update_many(
                doc! { "merchantId": merchant, "images": url },
                doc! { "$pull": { "images": url }, "$set": { "updatedAt": DateTime::now() }, "$inc": { REVISION: 1 } },
            )
            .await?;
        Ok(r.modified_count)
    }

    /// Set `field` (`logo` or `banner`) of one of the merchant's stores (`store`, else its
    /// default store). Returns the store id and the previous value, or `None` when the merchant
    /// has no such store.
    pub async fn set_shop_media(
        &self,
        merchant: ObjectId,
        store: Option<ObjectId>,
        field: &'static str,
        url: &str,
    ) -> mongodb::error::Result<Option<(ObjectId, Option<String>)>> {
        let target = match store {
            Some(id) => self.owned_shop(merchant, id).await?,
            None => self.default_shop(merchant).await?,
        };
        let Some(target) = target else {
            return Ok(None);
        };
        let before = self
            .shops()
            .clone_with_type::<Document>()
            .find_one_and_update(
                doc! { "_id": target.id, "merchantId": merchant },
                doc! { "$set": { field: url, "updatedAt": DateTime::now() }, "$inc": { REVISION: 1 } },
            )
            .return_document(ReturnDocument::Before)
            .await?;
        let previous = before.and_then(|d| d.get_str(field).ok().map(str::to_string));
        Ok(Some((target.id, previous)))
    }

    /// Hard-delete one of the merchant's products and return it (for its files).
    pub async fn take_product(
        &self,
        merchant: ObjectId,
        id: ObjectId,
    ) -> mongodb::error::Result<Option<ProductDoc>> {
        self.products()
            .find_one_and_delete(doc! { "_id": id, "merchantId": merchant })
            .await
    }
}
