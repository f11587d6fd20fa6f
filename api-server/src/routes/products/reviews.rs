//! `GET /api/merchant/products/{id}/reviews` (contract §2.5, E2E #32): after checking the
//! product is the caller's, the reviews of the merchant's (first) store, as the peer answers:
//! `{reviews, stats:{average, count, distribution}, pagination}`.

use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use super::{not_found, product_id, types::int_param};
use crate::{
    error::ApiError,
    extract::{AppQuery, AuthTenant},
    routes::Reply,
    state::AppState,
    store::reviews::{ReviewFilter, ReviewStats},
    validate::Validator,
};

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

/// The store's reviews, newest first, with the authors populated.
#[utoipa::path(get, path = "/api/merchant/products/{id}/reviews", tag = "products", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id"), ReviewsQuery),
    responses((status = 200, description = "`data.reviews`, `data.stats`, `data.pagination`", body = crate::openapi::AnyEnvelope),
        (status = 400, description = "Invalid product ID format or query", body = crate::openapi::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::openapi::ErrorBody),
        (status = 404, description = "Product not found, or Store not found", body = crate::openapi::ErrorBody)))]
pub async fn reviews(
    State(state): State<AppState>,
    auth: AuthTenant,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<ReviewsQuery>,
) -> Result<Reply, ApiError> {
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
                    Some(Value::String(raw.to_string())),
                );
            }
            parsed
        }
    };
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
    let ((reviews, total), stats) = futures::try_join!(
        store.shop_reviews_with_authors(shop.id, filter, page, limit),
        store.review_stats(shop.id)
    )
    .map_err(failed())?;
    let total_pages = total.div_ceil(limit.unsigned_abs());
    Ok(Reply::data(json!({
        "reviews": reviews,
        "stats": stats_json(&stats),
        "pagination": {
            "totalCount": total, "page": page, "limit": limit, "totalPages": total_pages,
            "hasNext": page < total_pages, "hasPrevious": page > 1,
        },
    })))
}

fn stats_json(s: &ReviewStats) -> Value {
    let d = &s.distribution;
    json!({
        "average": s.average,
        "count": s.count,
        "distribution": { "1": d[0], "2": d[1], "3": d[2], "4": d[3], "5": d[4] },
    })
}
