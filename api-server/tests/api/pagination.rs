//! Cursor pagination (`cursor`, `includeTotal`, `Link`) on the lists, and the page/limit lists
//! left as they were.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use merchant_api::store::DateTime;
use mongodb::bson::{Document, doc, oid::ObjectId};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    helpers::{Resp, TestApp, spawn_app},
    order_fixtures::{days_ago, insert, order, shop},
};

/// Copies of one API-created product straight into `products`: `n` of them, `ties` sharing
/// each `createdAt` (so the walk must break ties on `_id`), oldest first from `base_ms`.
async fn seed_products(
    app: &TestApp,
    template: &Document,
    n: usize,
    ties: usize,
    base_ms: i64,
) -> Vec<ObjectId> {
    let docs: Vec<Document> = (0..n)
        .map(|i| clone_product(template, base_ms + (i / ties) as i64))
        .collect();
    let ids = docs
        .iter()
        .map(|d| d.get_object_id("_id").expect("id"))
        .collect();
    for chunk in docs.chunks(500) {
        products(app)
            .insert_many(chunk)
            .await
            .expect("seed products");
    }
    ids
}

fn products(app: &TestApp) -> mongodb::Collection<Document> {
    app.store.db().collection::<Document>("products")
}

/// A copy of `template` with a new id, SKU and slug, created at `at_ms`.
fn clone_product(template: &Document, at_ms: i64) -> Document {
    let mut d = template.clone();
    let id = ObjectId::new();
    let at = mongodb::bson::DateTime::from_millis(at_ms);
    d.insert("_id", id);
    d.insert("sku", format!("SKU-{}", id.to_hex().to_uppercase()));
    d.insert("slug", format!("p-{}", id.to_hex()));
    d.insert("createdAt", at);
    d.insert("updatedAt", at);
    d
}

/// The raw document of the product the API created for `token`'s merchant.
async fn template(app: &TestApp, token: &str) -> Document {
    let p = app.product(token, "Template", 7).await;
    let id = ObjectId::parse_str(p["id"].as_str().expect("id")).expect("oid");
    products(app)
        .find_one(doc! { "_id": id })
        .await
        .expect("read")
        .expect("template stored")
}

fn ids_of(r: &Resp) -> Vec<String> {
    r.body["data"]["products"]
        .as_array()
        .expect("products array")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_string())
        .collect()
}

fn next_cursor(r: &Resp) -> Option<String> {
    let next = &r.body["data"]["nextCursor"];
    assert!(
        r.body["data"]
            .as_object()
            .expect("data")
            .contains_key("nextCursor"),
        "cursor mode always answers nextCursor: {}",
        r.body
    );
    next.as_str().map(str::to_string)
}

fn assert_cursor_rejected(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.body);
    assert_eq!(r.body["success"], false, "{what}");
    let errors = r.body["errors"].as_array().expect("errors");
    assert!(
        errors
            .iter()
            .any(|e| e["field"] == "cursor" && e["code"] == "invalid"),
        "{what}: {}",
        r.body
    );
}

#[tokio::test]
async fn walking_products_by_cursor_under_concurrent_inserts_returns_each_existing_product_once() {
    // Arrange: 2,000 products, ten per createdAt, and a writer adding more during the walk.
    let app = spawn_app().await;
    let (token, _, _) = app.register("walker").await;
    let tpl = template(&app, &token).await;
    let base = days_ago(30).timestamp_millis();
    let mut existing: HashSet<String> = seed_products(&app, &tpl, 2_000, 10, base)
        .await
        .into_iter()
        .map(|id| id.to_hex())
        .collect();
    existing.insert(tpl.get_object_id("_id").expect("id").to_hex());
    let writer = {
        let coll = products(&app);
        let tpl = tpl.clone();
        tokio::spawn(async move {
            let mut added = 0usize;
            let started = Instant::now();
            // Bounded: 300 products or 60 s, spread over the seeded range and past its end.
            while added < 300 && started.elapsed() < Duration::from_secs(60) {
                let at = base + (added as i64 * 7) % 260;
                coll.insert_one(clone_product(&tpl, at))
                    .await
                    .expect("insert");
                added += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            added
        })
    };

    // Act: walk newest first, 50 per page, bounded in pages and time.
    let started = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = "first".to_string();
    let mut pages = 0;
    loop {
        assert!(pages < 200, "the walk ends");
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the walk is timely"
        );
        let r = app
            .get(
                &format!("/api/merchant/products?limit=50&includeTotal=false&cursor={cursor}"),
                Some(&token),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        seen.extend(ids_of(&r));
        pages += 1;
        match next_cursor(&r) {
            Some(next) => cursor = next,
            None => break,
        }
    }
    let added = writer.await.expect("writer");

    // Assert: no product twice, every pre-existing one once.
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no product is returned twice");
    let missing = existing.iter().filter(|id| !unique.contains(id)).count();
    assert_eq!(missing, 0, "every pre-existing product is returned");
    assert!(seen.len() <= existing.len() + added);
    assert!(added > 0, "inserts ran during the walk");
    app.finish().await;
}

#[tokio::test]
async fn cursor_pages_carry_next_and_first_links_and_end_with_a_null_next_cursor() {
    // Arrange
    let app = spawn_app().await;
    let (token, _, _) = app.register("links").await;
    let tpl = template(&app, &token).await;
    seed_products(&app, &tpl, 4, 2, days_ago(2).timestamp_millis()).await;

    // Act: five products, two per page, by name.
    let first = app
        .get(
            "/api/merchant/products?sortBy=name&sortOrder=asc&limit=2&cursor=",
            Some(&token),
        )
        .await;

    // Assert
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let next = next_cursor(&first).expect("more follow");
    let link = first.header("link").expect("Link header");
    assert_eq!(
        link,
        format!(
            "</api/merchant/products?sortBy=name&sortOrder=asc&limit=2&cursor={next}>; rel=\"next\", \
             </api/merchant/products?sortBy=name&sortOrder=asc&limit=2&cursor=first>; rel=\"first\""
        )
    );
    let pagination = &first.body["data"]["pagination"];
    assert_eq!(pagination["totalCount"], 5);
    assert_eq!(pagination["hasNext"], true);
    assert_eq!(pagination["hasPrevious"], false);
    assert!(pagination.get("page").is_none(), "{pagination}");

    // Following the Link header to the end.
    let mut url = link
        .split(">; rel=\"next\"")
        .next()
        .and_then(|u| u.strip_prefix('<'))
        .expect("next url")
        .to_string();
    let mut ids = ids_of(&first);
    for _ in 0..5 {
        let r = app.get(&url, Some(&token)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        ids.extend(ids_of(&r));
        assert_eq!(r.body["data"]["pagination"]["hasPrevious"], true);
        match next_cursor(&r) {
            Some(_) => {
                let link = r.header("link").expect("link");
                url = link[1..link.find('>').expect(">")].to_string();
            }
            None => {
                let link = r.header("link").expect("link on the last page");
                assert!(!link.contains("rel=\"next\""), "{link}");
                assert!(link.contains("rel=\"first\""), "{link}");
                break;
            }
        }
    }
    // All five share their name: the order is by `_id` within it.
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted);
    assert_eq!(ids.len(), 5);
    app.finish().await;
}

#[tokio::test]
async fn a_tampered_garbled_foreign_or_refiltered_cursor_is_a_400_on_the_cursor_field() {
    // Arrange: a valid cursor of merchant A's list sorted by stock.
    let app = spawn_app().await;
    let (a, _, _) = app.register("owner-a").await;
    let (b, _, _) = app.register("owner-b").await;
    let tpl = template(&app, &a).await;
    seed_products(&app, &tpl, 3, 1, days_ago(1).timestamp_millis()).await;
    let first = app
        .get(
            "/api/merchant/products?sortBy=stock&limit=1&cursor=first",
            Some(&a),
        )
        .await;
    let cursor = next_cursor(&first).expect("cursor");
    let ok = app
        .get(
            &format!("/api/merchant/products?sortBy=stock&limit=1&cursor={cursor}"),
            Some(&a),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

    // Act + Assert
    let mut tampered: Vec<char> = cursor.chars().collect();
    tampered[4] = if tampered[4] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for (what, token, query) in [
        (
            "tampered",
            &a,
            format!("sortBy=stock&limit=1&cursor={tampered}"),
        ),
        (
            "garbled",
            &a,
            "sortBy=stock&limit=1&cursor=%21%21not-base64%21%21".to_string(),
        ),
        (
            "truncated",
            &a,
            format!("sortBy=stock&limit=1&cursor={}", &cursor[..10]),
        ),
        (
            "other filter",
            &a,
            format!("sortBy=name&limit=1&cursor={cursor}"),
        ),
        (
            "other merchant",
            &b,
            format!("sortBy=stock&limit=1&cursor={cursor}"),
        ),
    ] {
        let r = app
            .get(&format!("/api/merchant/products?{query}"), Some(token))
            .await;
        assert_cursor_rejected(&r, what);
    }
    let r = app
        .get(&format!("/api/merchant/orders?cursor={cursor}"), Some(&a))
        .await;
    assert_cursor_rejected(&r, "other route");
    let r = app
        .get(
            &format!("/api/merchant/products?sortBy=stock&limit=1&cursor={cursor}"),
            Some(&a),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the original still works: {}",
        r.body
    );
    let both = app
        .get("/api/merchant/products?page=2&cursor=first", Some(&a))
        .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST, "{}", both.body);
    assert_eq!(both.body["errors"][0]["field"], "page");
    assert_eq!(both.body["errors"][0]["code"], "not_allowed");
    let bad_total = app
        .get("/api/merchant/products?includeTotal=maybe", Some(&a))
        .await;
    assert_eq!(bad_total.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_total.body["errors"][0]["field"], "includeTotal");
    app.finish().await;
}

#[tokio::test]
async fn include_total_false_leaves_out_the_counts_in_page_mode_too() {
    // Arrange
    let app = spawn_app().await;
    let (token, _, _) = app.register("uncounted").await;
    let tpl = template(&app, &token).await;
    seed_products(&app, &tpl, 4, 1, days_ago(1).timestamp_millis()).await;

    // Act
    let page2 = app
        .get(
            "/api/merchant/products?page=2&limit=2&includeTotal=false",
            Some(&token),
        )
        .await;
    let page3 = app
        .get(
            "/api/merchant/products?page=3&limit=2&includeTotal=false",
            Some(&token),
        )
        .await;

    // Assert
    assert_eq!(page2.status, StatusCode::OK, "{}", page2.body);
    let p = page2.body["data"]["pagination"]
        .as_object()
        .expect("pagination");
    let keys: Vec<&str> = p.keys().map(String::as_str).collect();
    assert_eq!(keys, ["page", "limit", "hasNext", "hasPrevious"]);
    assert_eq!(p["hasNext"], true, "a fifth product is on page 3");
    assert_eq!(page3.body["data"]["pagination"]["hasNext"], false);
    assert_eq!(ids_of(&page3).len(), 1);
    assert!(page2.header("link").is_none());
    assert!(page2.body["data"].get("nextCursor").is_none());
    app.finish().await;
}

#[tokio::test]
async fn page_mode_answers_the_same_keys_and_headers_as_before() {
    // Arrange
    let app = spawn_app().await;
    let s = shop(&app, "pages", 5).await;
    insert(
        &app,
        &[order(
            s.store,
            s.product_id(),
            1,
            10.0,
            "placed",
            days_ago(1),
        )],
    )
    .await;

    // Act
    let products = app
        .get("/api/merchant/products?page=1&limit=20", s.t())
        .await;
    let orders = app.get("/api/merchant/orders?page=1&limit=20", s.t()).await;
    let inbox = app.get("/api/merchant/notifications?page=1", s.t()).await;

    // Assert
    let keys =
        |v: &Value| -> Vec<String> { v.as_object().expect("object").keys().cloned().collect() };
    assert_eq!(products.status, StatusCode::OK);
    assert_eq!(keys(&products.body["data"]), ["products", "pagination"]);
    assert_eq!(
        keys(&products.body["data"]["pagination"]),
        [
            "totalCount",
            "page",
            "limit",
            "totalPages",
            "hasNext",
            "hasPrevious"
        ]
    );
    assert_eq!(orders.status, StatusCode::OK, "{}", orders.body);
    assert_eq!(
        keys(&orders.body["data"]),
        [
            "orders",
            "totalCount",
            "total",
            "page",
            "limit",
            "totalPages",
            "hasMore"
        ]
    );
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
    assert_eq!(
        keys(&inbox.body["data"]["pagination"]),
        ["page", "limit", "total", "totalPages", "hasNext", "hasPrev"]
    );
    assert!(keys(&inbox.body["data"]).iter().all(|k| k != "nextCursor"));
    for r in [&products, &orders, &inbox] {
        assert!(r.header("link").is_none());
    }
    app.finish().await;
}

#[tokio::test]
async fn orders_walk_by_cursor_newest_first_and_notifications_refuse_a_priority_cursor() {
    // Arrange: five orders, two on the same instant.
    let app = spawn_app().await;
    let s = shop(&app, "orderwalk", 50).await;
    let at = days_ago(3);
    let orders: Vec<_> = (0..5)
        .map(|i| {
            let t = DateTime::from_millis(at.timestamp_millis() + (i / 2) * 1000);
            order(s.store, s.product_id(), 1, 10.0, "placed", t)
        })
        .collect();
    insert(&app, &orders).await;

    // Act
    let mut seen = Vec::new();
    let mut cursor = "first".to_string();
    for _ in 0..10 {
        let r = app
            .get(
                &format!("/api/merchant/orders?limit=2&cursor={cursor}"),
                s.t(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body["data"].get("page").is_none());
        assert_eq!(r.body["data"]["totalCount"], 5);
        assert!(
            r.header("link")
                .is_some_and(|l| l.contains("rel=\"first\""))
        );
        for o in r.body["data"]["orders"].as_array().expect("orders") {
            seen.push(
                o["_id"]
                    .as_str()
                    .or(o["id"].as_str())
                    .expect("id")
                    .to_string(),
            );
        }
        match r.body["data"]["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let by_priority = app
        .get(
            "/api/merchant/notifications?sortBy=priority&cursor=first",
            s.t(),
        )
        .await;
    let by_date = app
        .get(
            "/api/merchant/notifications?cursor=first&includeTotal=false",
            s.t(),
        )
        .await;

    // Assert
    let mut expected: Vec<_> = orders.iter().collect();
    expected.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let expected: Vec<String> = expected.iter().map(|o| o.id.to_hex()).collect();
    assert_eq!(seen, expected);
    assert_eq!(
        by_priority.status,
        StatusCode::BAD_REQUEST,
        "{}",
        by_priority.body
    );
    assert_eq!(by_priority.body["errors"][0]["field"], "cursor");
    assert_eq!(by_priority.body["errors"][0]["code"], "not_allowed");
    assert_eq!(by_date.status, StatusCode::OK, "{}", by_date.body);
    assert!(by_date.body["data"]["pagination"].get("total").is_none());
    assert!(
        by_date.body["data"]
            .as_object()
            .expect("data")
            .contains_key("nextCursor")
    );
    app.finish().await;
}

// The lists that gained cursors after products, orders and notifications.

/// Where a list's answer keeps its items, an item's id and the next cursor (JSON pointers).
struct Shape {
    items: &'static str,
    id: &'static str,
    next: &'static str,
}

/// A list whose `data` is an object holding the items at `items` and `nextCursor`.
const fn in_data(items: &'static str, id: &'static str) -> Shape {
    Shape {
        items,
        id,
        next: "/data/nextCursor",
    }
}

/// `path` with `query` appended.
fn with_query(path: &str, query: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{query}")
}

fn ids_at(r: &Resp, shape: &Shape) -> Vec<String> {
    r.body
        .pointer(shape.items)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("items at {}: {}", shape.items, r.body))
        .iter()
        .map(|item| item[shape.id].as_str().expect("id").to_string())
        .collect()
}

/// The ids of the list's page-mode answer (`query` added), asserting it carries no cursor
/// additions: no `nextCursor`, no `Link`.
async fn page_ids(
    app: &TestApp,
    token: &str,
    path: &str,
    shape: &Shape,
    query: &str,
) -> Vec<String> {
    let r = app.get(&with_query(path, query), Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    assert!(
        r.body.pointer(shape.next).is_none(),
        "page mode: {}",
        r.body
    );
    assert!(r.header("link").is_none(), "page mode sends no Link");
    ids_at(&r, shape)
}

/// Walk `path` by cursor, `limit` items per window, calling `between` after each window with its
/// index; the ids seen, in order. Every window is a 200 answering `nextCursor` and a `Link` with
/// `rel="first"`, and only the last is short.
async fn walk(
    app: &TestApp,
    token: &str,
    path: &str,
    shape: &Shape,
    limit: usize,
    mut between: impl AsyncFnMut(usize),
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = "first".to_string();
    for window in 0..50 {
        let url = with_query(path, &format!("limit={limit}&cursor={cursor}"));
        let r = app.get(&url, Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
        let ids = ids_at(&r, shape);
        assert!(ids.len() <= limit, "{url}: {} items", ids.len());
        let link = r.header("link").expect("cursor mode sends Link");
        assert!(link.contains("rel=\"first\""), "{link}");
        seen.extend(ids.iter().cloned());
        let next = r
            .body
            .pointer(shape.next)
            .unwrap_or_else(|| panic!("cursor mode answers {}: {}", shape.next, r.body));
        match next.as_str() {
            Some(next) => {
                assert_eq!(ids.len(), limit, "only the last window is short");
                assert!(link.contains("rel=\"next\""), "{link}");
                cursor = next.to_string();
            }
            None => {
                assert!(next.is_null(), "{next}");
                assert!(!link.contains("rel=\"next\""), "{link}");
                return seen;
            }
        }
        between(window).await;
    }
    panic!("the walk of {path} ends");
}

/// The first cursor of `path`'s walk with `limit`.
async fn first_cursor(
    app: &TestApp,
    token: &str,
    path: &str,
    shape: &Shape,
    limit: usize,
) -> String {
    let r = app
        .get(
            &with_query(path, &format!("limit={limit}&cursor=first")),
            Some(token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
        .pointer(shape.next)
        .and_then(Value::as_str)
        .expect("more than one window")
        .to_string()
}

/// `cursor` with one character changed.
fn tampered(cursor: &str) -> String {
    let mut chars: Vec<char> = cursor.chars().collect();
    chars[4] = if chars[4] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// `cursor` is refused by `path` (a 400 on the `cursor` field).
async fn refused(app: &TestApp, token: &str, path: &str, cursor: &str, what: &str) {
    let r = app
        .get(&with_query(path, &format!("cursor={cursor}")), Some(token))
        .await;
    assert_cursor_rejected(&r, what);
}

/// The GET of `path` with `includeTotal=false` (cursor mode when `cursor`), asserting a 200.
async fn uncounted(app: &TestApp, token: &str, path: &str, cursor: bool) -> Value {
    let query = if cursor {
        "includeTotal=false&cursor=first"
    } else {
        "includeTotal=false"
    };
    let r = app.get(&with_query(path, query), Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"].clone()
}

fn keys_of(v: &Value) -> Vec<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn review(store: ObjectId, at_ms: i64, verified: bool) -> Document {
    doc! {
        "_id": ObjectId::new(), "store": store, "user": ObjectId::new(), "rating": 4,
        "comment": "fine", "verified": verified, "createdAt": mongodb::bson::DateTime::from_millis(at_ms),
    }
}

#[tokio::test]
async fn reviews_walk_by_cursor_seeing_each_existing_review_once_while_new_ones_arrive() {
    // Arrange: seven reviews, two per instant, and the product whose path lists them.
    let app = spawn_app().await;
    let (token, merchant, _) = app.register("reviewwalk").await;
    let store = app.store_of(&merchant).await;
    let product = app.product(&token, "Reviewed", 3).await;
    let pid = product["id"].as_str().expect("id");
    let path = format!("/api/merchant/products/{pid}/reviews");
    let reviews = app.store.db().collection::<Document>("reviews");
    let base = days_ago(5).timestamp_millis();
    let seeded: Vec<Document> = (0..7)
        .map(|i| review(store, base + (i / 2) * 1000, i % 2 == 0))
        .collect();
    reviews.insert_many(&seeded).await.expect("seed reviews");
    let shape = in_data("/data/reviews", "_id");
    let expected = page_ids(&app, &token, &path, &shape, "limit=100").await;
    assert_eq!(expected.len(), 7);

    // Act: three per window; a newer review arrives after each window.
    let seen = walk(&app, &token, &path, &shape, 3, async |_| {
        let newer = review(store, DateTime::now().timestamp_millis(), true);
        reviews.insert_one(newer).await.expect("insert");
    })
    .await;

    // Assert: the existing reviews once each, in the page order (newer ones sort before the walk).
    assert_eq!(seen, expected);
    let data = uncounted(&app, &token, &path, true).await;
    let pagination = keys_of(&data["pagination"]);
    assert_eq!(pagination, ["limit", "hasNext", "hasPrevious"]);
    assert_eq!(data["stats"]["count"], 9, "seven, then two during the walk");
    let cursor = first_cursor(
        &app,
        &token,
        &with_query(&path, "filter=verified"),
        &shape,
        1,
    )
    .await;
    let ledger = format!("/api/merchant/products/{pid}/inventory/adjustments");
    refused(
        &app,
        &token,
        &with_query(&path, "filter=verified"),
        &tampered(&cursor),
        "tampered",
    )
    .await;
    refused(&app, &token, &path, &cursor, "other filter").await;
    refused(&app, &token, &ledger, &cursor, "the ledger's").await;
    app.finish().await;
}

#[tokio::test]
async fn cashback_requests_walk_by_cursor_once_each_and_include_total_false_drops_the_counts() {
    // Arrange: five requests made through the API.
    let app = spawn_app().await;
    let (token, merchant, _) = app.register("cashwalk").await;
    for _ in 0..5 {
        crate::cashback::request(&app, &token, &merchant, 100.0, 5.0).await;
    }
    let path = "/api/merchant/cashback";
    let shape = in_data("/data/cashbacks", "_id");
    let expected = page_ids(&app, &token, path, &shape, "limit=100").await;
    assert_eq!(expected.len(), 5);

    // Act: two per window, a new request after each window.
    let seen = walk(&app, &token, path, &shape, 2, async |_| {
        crate::cashback::request(&app, &token, &merchant, 50.0, 1.0).await;
    })
    .await;

    // Assert
    assert_eq!(seen, expected);
    let paged = app
        .get(&format!("{path}?page=1&limit=2"), Some(&token))
        .await;
    assert_eq!(
        keys_of(&paged.body["data"]["pagination"]),
        ["page", "limit", "total", "pages"]
    );
    let data = uncounted(&app, &token, path, false).await;
    assert_eq!(keys_of(&data["pagination"]), ["page", "limit"]);
    let data = uncounted(&app, &token, path, true).await;
    assert_eq!(keys_of(&data["pagination"]), ["limit"]);
    // Seven requests (two made during the walk) fit one window of the default twenty.
    assert_eq!(data["cashbacks"].as_array().map(Vec::len), Some(7));
    assert_eq!(data.get("nextCursor"), Some(&Value::Null), "{data}");
    let cursor = first_cursor(&app, &token, &with_query(path, "status=pending"), &shape, 1).await;
    refused(
        &app,
        &token,
        &with_query(path, "status=pending"),
        &tampered(&cursor),
        "tampered",
    )
    .await;
    refused(&app, &token, path, &cursor, "other filter").await;
    refused(&app, &token, "/api/merchant/orders", &cursor, "the orders'").await;
    app.finish().await;
}

/// An audit record of `merchant` written directly, at `at_ms`, by team member `member`.
fn audit_record(merchant: ObjectId, member: ObjectId, at_ms: i64) -> Document {
    let at = mongodb::bson::DateTime::from_millis(at_ms);
    doc! {
        "_id": ObjectId::new(), "merchantId": merchant, "merchantUserId": member,
        "action": "pagination.seeded", "resourceType": "fixture", "details": {},
        "ipAddress": "10.0.0.1", "userAgent": "fixture", "timestamp": at, "severity": "info",
        "createdAt": at, "updatedAt": at,
    }
}

#[tokio::test]
async fn the_audit_log_and_team_activity_walk_by_cursor_and_see_older_records_inserted_meanwhile() {
    // Arrange: nine records by one team member, three per instant.
    let app = spawn_app().await;
    let (token, merchant, _) = app.register("auditwalk").await;
    let merchant = ObjectId::parse_str(&merchant).expect("id");
    let member = ObjectId::new();
    let logs = app.store.db().collection::<Document>("auditlogs");
    let base = days_ago(3).timestamp_millis();
    let seeded: Vec<Document> = (0..9)
        .map(|i| audit_record(merchant, member, base + (i / 3) * 1000))
        .collect();
    logs.insert_many(&seeded).await.expect("seed audit");
    let audit = "/api/merchant/audit/logs?action=pagination.seeded";
    let activity = format!("/api/merchant/team/activity?userId={}", member.to_hex());
    let log_shape = in_data("/data/logs", "_id");
    let activity_shape = in_data("/data/activities", "_id");
    // Each older record is older than every record before it.
    let mut oldest = base;

    for (path, shape) in [(audit, &log_shape), (activity.as_str(), &activity_shape)] {
        // The second list also holds what the first walk inserted.
        let expected = page_ids(&app, &token, path, shape, "limit=100").await;
        assert!(expected.len() >= 9, "{path}: {}", expected.len());

        // Act: four per window; after each window one newer and one older record arrive.
        let mut older = Vec::new();
        let seen = walk(&app, &token, path, shape, 4, async |_| {
            let newer = audit_record(merchant, member, DateTime::now().timestamp_millis());
            oldest -= 60_000;
            let old = audit_record(merchant, member, oldest);
            older.push(old.get_object_id("_id").expect("id").to_hex());
            logs.insert_many([newer, old]).await.expect("insert");
        })
        .await;

        // Assert: the existing ones once, then the older ones inserted meanwhile, in order.
        let mut want = expected.clone();
        want.extend(older);
        assert_eq!(seen, want, "{path}");
        let data = uncounted(&app, &token, path, true).await;
        // No total, no page: the records and the end of the list (one window of 50).
        assert_eq!(keys_of(&data)[1..], ["nextCursor"]);
        assert_eq!(data["nextCursor"], Value::Null);
        let cursor = first_cursor(&app, &token, path, shape, 2).await;
        refused(&app, &token, path, &tampered(&cursor), "tampered").await;
        let other = if path == audit {
            activity.as_str()
        } else {
            audit
        };
        refused(&app, &token, other, &cursor, "the other audit list's").await;
    }
    let paged = app
        .get(&format!("{audit}&page=1&limit=2"), Some(&token))
        .await;
    assert_eq!(
        keys_of(&paged.body["data"]),
        ["logs", "total", "page", "totalPages"]
    );
    let paged = app
        .get(&format!("{activity}&page=1&limit=2"), Some(&token))
        .await;
    assert_eq!(
        keys_of(&paged.body["data"]),
        ["activities", "total", "page", "totalPages"]
    );
    app.finish().await;
}

async fn invite(app: &TestApp, token: &str) {
    let email = format!(
        "{}@example.com",
        crate::helpers::unique("walkee").to_lowercase()
    );
    let body = serde_json::json!({ "email": email, "name": "Wally Walkee", "role": "staff" });
    let r = app
        .post("/api/merchant/team/invite", Some(token), body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

async fn make_key(app: &TestApp, token: &str) {
    let body = serde_json::json!({ "name": crate::helpers::unique("key"), "permissions": ["products:view"] });
    let r = app.post("/api/merchant/api-keys", Some(token), body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn the_team_and_api_key_lists_stay_whole_without_a_cursor_and_walk_once_each_with_one() {
    // Arrange: five invited members and five keys.
    let app = spawn_app().await;
    let (token, _, _) = app.register("wholewalk").await;
    for _ in 0..5 {
        invite(&app, &token).await;
        make_key(&app, &token).await;
    }
    let (team, keys) = ("/api/merchant/team", "/api/merchant/api-keys");
    let member_shape = in_data("/data/teamMembers", "id");
    let key_shape = in_data("/data/apiKeys", "id");
    // Without a cursor `limit` is not read: the whole list, as before.
    let members = page_ids(&app, &token, team, &member_shape, "limit=1").await;
    let all_keys = page_ids(&app, &token, keys, &key_shape, "limit=1").await;
    assert_eq!((members.len(), all_keys.len()), (5, 5));

    // Act: two per window, a new member or key after each window.
    let seen_members = walk(&app, &token, team, &member_shape, 2, async |_| {
        invite(&app, &token).await;
    })
    .await;
    let seen_keys = walk(&app, &token, keys, &key_shape, 2, async |_| {
        make_key(&app, &token).await;
    })
    .await;

    // Assert
    assert_eq!(seen_members, members);
    assert_eq!(seen_keys, all_keys);
    let whole = app.get(team, Some(&token)).await;
    assert_eq!(keys_of(&whole.body["data"]), ["teamMembers", "total"]);
    assert_eq!(
        whole.body["data"]["total"], 7,
        "five, then two invited during the walk"
    );
    let windowed = app
        .get(&format!("{team}?limit=3&cursor=first"), Some(&token))
        .await;
    assert_eq!(
        keys_of(&windowed.body["data"]),
        ["teamMembers", "total", "nextCursor"]
    );
    assert_eq!(windowed.body["data"]["total"], 7);
    assert!(windowed.body["data"]["nextCursor"].is_string());
    assert_eq!(
        keys_of(&uncounted(&app, &token, team, false).await),
        ["teamMembers"]
    );
    assert_eq!(
        keys_of(&uncounted(&app, &token, team, true).await),
        ["teamMembers", "nextCursor"]
    );
    assert_eq!(
        keys_of(&uncounted(&app, &token, keys, false).await),
        ["apiKeys"]
    );
    let bad = app
        .get(&format!("{keys}?includeTotal=maybe"), Some(&token))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(bad.body["errors"][0]["field"], "includeTotal");
    let paged = app
        .get(&format!("{team}?page=2&cursor=first"), Some(&token))
        .await;
    assert_eq!(paged.status, StatusCode::BAD_REQUEST, "{}", paged.body);
    assert_eq!(paged.body["errors"][0]["field"], "page");
    assert_eq!(paged.body["errors"][0]["code"], "not_allowed");
    let member_cursor = first_cursor(&app, &token, team, &member_shape, 1).await;
    let key_cursor = first_cursor(&app, &token, keys, &key_shape, 1).await;
    refused(&app, &token, team, &tampered(&member_cursor), "tampered").await;
    refused(&app, &token, keys, &tampered(&key_cursor), "tampered").await;
    refused(&app, &token, keys, &member_cursor, "the team's").await;
    refused(&app, &token, team, &key_cursor, "the keys'").await;
    app.finish().await;
}

/// Add one unit to `product` through an adjustment (a ledger entry).
async fn restock(app: &TestApp, token: &str, product: &str) {
    let r = app
        .client
        .post(format!(
            "{}/api/merchant/products/{product}/inventory/adjustments",
            app.address
        ))
        .bearer_auth(token)
        .header("idempotency-key", crate::helpers::unique("restock"))
        .json(&serde_json::json!({ "delta": 1, "reason": "restock" }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Hold one unit of `product`.
async fn hold(app: &TestApp, token: &str, product: &str) {
    let path = format!("/api/merchant/products/{product}/inventory/reservations");
    let r = app
        .post(&path, Some(token), serde_json::json!({ "quantity": 1 }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn the_stock_ledger_and_reservations_walk_by_cursor_once_each_while_stock_moves() {
    // Arrange: five ledger entries and five holds on one product, a second product.
    let app = spawn_app().await;
    let (token, _, _) = app.register("stockwalk").await;
    let product = app.product(&token, "Walked", 100).await;
    let pid = product["id"].as_str().expect("id").to_string();
    let other = app.product(&token, "Other", 100).await;
    let other = other["id"].as_str().expect("id").to_string();
    for _ in 0..5 {
        restock(&app, &token, &pid).await;
        hold(&app, &token, &pid).await;
    }
    let ledger = format!("/api/merchant/products/{pid}/inventory/adjustments");
    let held = format!("/api/merchant/products/{pid}/inventory/reservations");
    let ledger_shape = in_data("/data/adjustments", "id");
    let held_shape = Shape {
        items: "/data",
        id: "id",
        next: "/nextCursor",
    };
    let entries = page_ids(&app, &token, &ledger, &ledger_shape, "limit=100").await;
    let holds = page_ids(&app, &token, &held, &held_shape, "limit=100").await;
    assert_eq!((entries.len(), holds.len()), (5, 5));

    // Act: two per window; stock keeps moving in between.
    let seen_entries = walk(&app, &token, &ledger, &ledger_shape, 2, async |_| {
        restock(&app, &token, &pid).await;
    })
    .await;
    let seen_holds = walk(&app, &token, &held, &held_shape, 2, async |_| {
        hold(&app, &token, &pid).await;
    })
    .await;

    // Assert
    assert_eq!(seen_entries, entries);
    assert_eq!(seen_holds, holds);
    let data = uncounted(&app, &token, &ledger, true).await;
    assert_eq!(
        keys_of(&data["pagination"]),
        ["limit", "hasNext", "hasPrevious"]
    );
    let r = app
        .get(
            &format!("{held}?includeTotal=false&cursor=first&limit=2"),
            Some(&token),
        )
        .await;
    assert_eq!(keys_of(&r.body), ["success", "data", "nextCursor"]);
    assert!(r.body["data"].is_array());
    let ledger_cursor = first_cursor(&app, &token, &ledger, &ledger_shape, 1).await;
    let held_cursor = first_cursor(&app, &token, &held, &held_shape, 1).await;
    refused(&app, &token, &ledger, &tampered(&ledger_cursor), "tampered").await;
    refused(&app, &token, &held, &tampered(&held_cursor), "tampered").await;
    refused(&app, &token, &held, &ledger_cursor, "the ledger's").await;
    refused(&app, &token, &ledger, &held_cursor, "the reservations'").await;
    let other_ledger = format!("/api/merchant/products/{other}/inventory/adjustments");
    refused(
        &app,
        &token,
        &other_ledger,
        &ledger_cursor,
        "another product's",
    )
    .await;
    refused(
        &app,
        &token,
        &with_query(&held, "status=active"),
        &held_cursor,
        "other filter",
    )
    .await;
    app.finish().await;
}
