//! `GET /api/merchant/products/{id}/reviews` (contract §2.5, E2E #32): after checking the
//! product is the caller's, the reviews of the merchant's (first) store, as the peer answers:
//! `{reviews, stats:{average, count, distribution}, pagination}`.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::{IntoParams, ToSchema};

use super::{not_found, product_id, types::int_param, views::Pagination};
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthTenant},
    routes::{
        Reply,
        cursor::{CursorParams, Paging},
    },
    state::AppState,
    store::{
        json::{Plain, PlainDoc},
        reviews::{ReviewFilter, ReviewRow, ReviewStats},
    },
    validate::Validator,
};

/// `data` of the reviews route.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewPage {
    /// The page's reviews.
    #[serde(serialize_with = "review_views")]
    #[schema(value_type = Vec<ReviewView>)]
    pub reviews: Vec<ReviewRow>,
    /// Rating summary of the store.
    pub stats: ReviewStatsView,
    /// Where the page is.
    pub pagination: Pagination,
    /// Cursor mode only: the cursor of the next window, `null` at the end of the list.
    #[serde(rename = "nextCursor", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Option<String>>,
}

/// A review as the consumer app stored it (`rating`, `comment`, `images`, `verified`,
/// `createdAt`, …, ids as 24-hex and dates as ISO text), plus `id` and the populated `user`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView<'a> {
    /// The stored keys.
    #[serde(flatten)]
    #[schema(ignore)]
    pub stored: PlainDoc<'a>,
    /// `_id` (24-hex; `null` without one).
    #[schema(value_type = Option<String>)]
    pub id: Option<Plain<'a>>,
    /// The author when found, else the stored `user` id (absent when the review has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = ReviewUser, required = false)]
    pub user: Option<ReviewUser<'a>>,
}

/// A review's `user`: the author, or the stored id when the author is gone.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ReviewUser<'a> {
    /// The author.
    Author(ReviewAuthor<'a>),
    /// The stored user id (24-hex).
    #[schema(value_type = String)]
    Stored(Plain<'a>),
}

/// A review's author: `_id`, `name` and `profile` (`firstName`, `lastName`, `avatar`) as stored,
/// plus `id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewAuthor<'a> {
    /// The stored keys.
    #[serde(flatten)]
    #[schema(ignore)]
    pub stored: PlainDoc<'a>,
    /// `_id` (24-hex).
    #[schema(value_type = Option<String>)]
    pub id: Option<Plain<'a>>,
}

impl<'a> ReviewView<'a> {
    fn new(row: &'a ReviewRow) -> Self {
        let review = PlainDoc::all(&row.review);
        let user = match &row.author {
            Some(a) => {
                let author = PlainDoc::all(a);
                Some(ReviewUser::Author(ReviewAuthor {
                    stored: author.without(&["id"]),
                    id: author.get("_id"),
                }))
            }
            None => review.get("user").map(ReviewUser::Stored),
        };
        Self {
            stored: review.without(&["id", "user"]),
            id: review.get("_id"),
            user,
        }
    }
}

/// `serialize_with` of review rows: each through its view.
fn review_views<S: Serializer>(rows: &[ReviewRow], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(rows.iter().map(ReviewView::new))
}

/// Rating summary of a store.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewStatsView {
    /// Mean rating, one decimal; 0 without reviews.
    pub average: f64,
    /// Number of visible reviews.
    pub count: u64,
    /// Reviews per star.
    pub distribution: StarCounts,
}

/// Reviews per star rating.
#[derive(Debug, Serialize, ToSchema)]
pub struct StarCounts {
    /// 1 star.
    #[serde(rename = "1")]
    pub one: u64,
    /// 2 stars.
    #[serde(rename = "2")]
    pub two: u64,
    /// 3 stars.
    #[serde(rename = "3")]
    pub three: u64,
    /// 4 stars.
    #[serde(rename = "4")]
    pub four: u64,
    /// 5 stars.
    #[serde(rename = "5")]
    pub five: u64,
}

impl From<&ReviewStats> for ReviewStatsView {
    fn from(s: &ReviewStats) -> Self {
        let [one, two, three, four, five] = s.distribution;
        Self {
            average: s.average,
            count: s.count,
            distribution: StarCounts {
                one,
                two,
                three,
                four,
                five,
            },
        }
    }
}

/// Query of the reviews route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewsQuery {
    /// ≥ 1 (default 1).
    pub page: Option<String>,
    /// 1..100 (default 20).
    pub limit: Option<String>,
    /// with_images | verified | 1..5 (star rating).
    pub filter: Option<String>,
}

/// The store's reviews, newest first, with the authors populated (pages, or a cursor walk).
#[utoipa::path(get, path = "/api/merchant/products/{id}/reviews", tag = "products", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id"), ReviewsQuery, CursorParams),
    responses((status = 200, description = "`data.reviews`, `data.stats`, `data.pagination` (cursor mode: `data.nextCursor` and a `Link` header; no `page`)", body = crate::openapi::Envelope<ReviewPage>),
        (status = 400, description = "Invalid product ID format or query (also a tampered, foreign or mismatched `cursor`)", body = crate::openapi::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found, or Store not found", body = crate::openapi::ErrorBody)))]
pub async fn reviews(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
    paging: Paging,
    AppQuery(q): AppQuery<ReviewsQuery>,
) -> Result<Reply<ReviewPage>, ApiError> {
    let id = product_id(&id)?;
    let mut v = Validator::new();
    let page = int_param(&mut v, "page", q.page, 1, 1_000_000, 1) as u64;
    let limit = int_param(&mut v, "limit", q.limit, 1, 100, 20);
    let filter = match q.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        None | Some("all") => None,
        Some(raw) => {
            let parsed = ReviewFilter::parse(raw);
            if parsed.is_none() {
                v.error(
                    "filter",
                    "\"filter\" must be one of [with_images, verified, 1, 2, 3, 4, 5]",
                    Some(raw.to_string().into()),
                );
            }
            parsed
        }
    };
    let (window, count) = paging.window(&mut v, &state.auth.cursor, auth.id(), page);
    v.finish_as("Query validation failed")?;
    let store = &state.store;
    let failed = || ApiError::internal("Failed to fetch reviews");
    store
        .product(auth.id(), id)
        .await
        .map_err(failed())?
        .ok_or_else(not_found)?;
    let shop = store
        .default_shop(auth.id())
        .await
        .map_err(failed())?
        .ok_or_else(|| ApiError::NotFound("Store not found".into()))?;
    let (listing, stats) = futures::try_join!(
        store.shop_reviews_with_authors(shop.id, filter, &window, limit, count),
        store.review_stats(shop.id)
    )
    .map_err(failed())?;
    let more = paging.continuation(&state.auth.cursor, auth.id(), &listing);
    Ok(Reply::data(ReviewPage {
        pagination: Pagination::of(&window, limit.unsigned_abs(), &listing),
        reviews: listing.items,
        stats: ReviewStatsView::from(&stats),
        next_cursor: more.next_cursor,
    })
    .link(more.link))
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{Bson, DateTime, doc, oid::ObjectId};
    use serde_json::Value;

    use super::*;
    use crate::store::json::bson_to_json;

    /// What the store rendered before the typed view.
    fn old_review_json(row: &ReviewRow) -> Value {
        let mut review = bson_to_json(Bson::Document(row.review.clone()));
        review["id"] = review["_id"].clone();
        if let Some(a) = &row.author {
            let mut user = bson_to_json(Bson::Document(a.clone()));
            user["id"] = user["_id"].clone();
            review["user"] = user;
        }
        review
    }

    #[test]
    fn the_view_renders_what_the_store_rendered() {
        let user = ObjectId::new();
        let review = doc! {
            "_id": ObjectId::new(), "store": ObjectId::new(), "user": user, "rating": 4,
            "comment": "good", "images": ["https://i/1.png"], "verified": true, "id": "stale",
            "createdAt": DateTime::from_millis(5),
        };
        let author = doc! { "_id": user, "name": "Ann", "profile": { "firstName": "Ann" } };
        let rows = [
            ReviewRow {
                review: review.clone(),
                author: Some(author),
            },
            ReviewRow {
                review: review.clone(),
                author: None,
            },
            ReviewRow {
                review: doc! { "rating": 2.5 },
                author: None,
            },
        ];
        for row in &rows {
            let view = serde_json::to_value(ReviewView::new(row)).expect("serialises");
            assert_eq!(view, old_review_json(row));
        }
    }
}
