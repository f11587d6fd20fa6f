//! The `reviews` collection (written by the consumer app): reviews of a store, read by the
//! merchant's `GET /products/{id}/reviews` (contract §2.5, which lists the *store's* reviews).
//! Reviews whose `isActive` is false are hidden.

use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::{
    ObjectId, Store,
    keyset::{self, Listing, Sort, Window},
};

/// Newest first (index `reviews.store_created_id`).
const REVIEW_ORDER: Sort = Sort::desc("createdAt");

/// A stored review with its author (`{_id, name, profile}` of `users`) when found.
#[derive(Debug, Clone)]
pub struct ReviewRow {
    /// The review as the consumer app wrote it.
    pub review: Document,
    /// Its author.
    pub author: Option<Document>,
}

/// The `filter` query of the reviews route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewFilter {
    /// Reviews with at least one image.
    WithImages,
    /// Verified-purchase reviews.
    Verified,
    /// Reviews with this star rating (1..5).
    Rating(i32),
}

impl ReviewFilter {
    /// Parse `with_images`, `verified` or `1`..`5`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "with_images" => Some(Self::WithImages),
            "verified" => Some(Self::Verified),
            n => n
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .map(Self::Rating),
        }
    }
}

/// Rating summary of a store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewStats {
    /// Mean rating, one decimal; 0 without reviews.
    pub average: f64,
    /// Number of visible reviews.
    pub count: u64,
    /// Reviews per star, index 0 = 1 star.
    pub distribution: [u64; 5],
}

fn visible(store: ObjectId) -> Document {
    doc! { "store": store, "isActive": { "$ne": false } }
}

impl Store {
    fn reviews(&self) -> mongodb::Collection<Document> {
        self.db().collection("reviews")
    }

    /// A window of a store's visible reviews matching `filter` (a page or a keyset window),
    /// counted when asked.
    async fn shop_reviews(
        &self,
        store: ObjectId,
        filter: Option<ReviewFilter>,
        window: &Window,
        limit: i64,
        count: bool,
    ) -> mongodb::error::Result<Listing<Document>> {
        let mut f = visible(store);
        match filter {
            Some(ReviewFilter::WithImages) => {
                f.insert("images.0", doc! { "$exists": true });
            }
            Some(ReviewFilter::Verified) => {
                f.insert("verified", true);
            }
            Some(ReviewFilter::Rating(n)) => {
                f.insert("rating", n);
            }
            None => {}
        }
        keyset::list(&self.reviews(), f, REVIEW_ORDER, window, limit, count).await
    }

    /// Average, count and per-star distribution over all visible reviews of a store.
    pub async fn review_stats(&self, store: ObjectId) -> mongodb::error::Result<ReviewStats> {
        let pipeline = [
            doc! { "$match": visible(store) },
            doc! { "$group": { "_id": "$rating", "n": { "$sum": 1 } } },
        ];
        let groups: Vec<Document> = self
            .reviews()
            .aggregate(pipeline)
            .await?
            .try_collect()
            .await?;
        let mut stats = ReviewStats::default();
        let mut sum = 0.0;
        for g in groups {
            let rating = match g.get("_id") {
                Some(Bson::Int32(n)) => f64::from(*n),
                Some(Bson::Int64(n)) => *n as f64,
                Some(Bson::Double(n)) => *n,
                _ => continue,
            };
            let n = match g.get("n") {
                Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
                Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
                _ => 0,
            };
            stats.count += n;
            sum += rating * n as f64;
            let star = rating.round().clamp(1.0, 5.0) as usize;
            stats.distribution[star - 1] += n;
        }
        if stats.count > 0 {
            stats.average = (sum / stats.count as f64 * 10.0).round() / 10.0;
        }
        Ok(stats)
    }

    /// A window of a shop's visible reviews (newest first), each with its author when found;
    /// counted when asked.
    pub async fn shop_reviews_with_authors(
        &self,
        shop: ObjectId,
        filter: Option<ReviewFilter>,
        window: &Window,
        limit: i64,
        count: bool,
    ) -> mongodb::error::Result<Listing<ReviewRow>> {
        let mut listing = self
            .shop_reviews(shop, filter, window, limit, count)
            .await?;
        let docs = std::mem::take(&mut listing.items);
        let ids: Vec<ObjectId> = docs
            .iter()
            .filter_map(|d| d.get_object_id("user").ok())
            .collect();
        let authors = self.review_authors(ids).await?;
        let reviews = docs
            .into_iter()
            .map(|review| {
                let by = review.get_object_id("user").ok();
                let author = by.and_then(|u| {
                    authors
                        .iter()
                        .find(|a| a.get_object_id("_id").ok() == Some(u))
                        .cloned()
                });
                ReviewRow { review, author }
            })
            .collect();
        Ok(listing.with_items(reviews))
    }

    /// `{_id, name, profile}` of the consumer users who wrote reviews, by id.
    async fn review_authors(&self, ids: Vec<ObjectId>) -> mongodb::error::Result<Vec<Document>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.db()
            .collection::<Document>("users")
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "name": 1, "profile.firstName": 1, "profile.lastName": 1, "profile.avatar": 1 })
            .await?
            .try_collect()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_like_the_contract() {
        assert_eq!(
            ReviewFilter::parse("with_images"),
            Some(ReviewFilter::WithImages)
        );
        assert_eq!(
            ReviewFilter::parse("verified"),
            Some(ReviewFilter::Verified)
        );
        assert_eq!(ReviewFilter::parse("4"), Some(ReviewFilter::Rating(4)));
        assert_eq!(ReviewFilter::parse("6"), None);
        assert_eq!(ReviewFilter::parse("all"), None);
    }
}
