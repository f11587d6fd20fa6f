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
