//! Notifications: created once per new order (watcher, any number of passes or replicas) and
//! per stock crossing; the inbox routes, preferences, isolation and permissions.

use std::time::Duration;

use merchant_api::{
    notifications::{NewNotification, Notified, notify, scan_new_orders},
    store::{DateTime, ObjectId, notifications::NotificationData},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_app, spawn_app_with},
    order_fixtures::{days_ago, insert, member_token, order, shop},
};

async fn inbox(app: &TestApp, token: Option<&str>, query: &str) -> Value {
    let r = app
        .get(&format!("/api/merchant/notifications{query}"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"].clone()
}

#[tokio::test]
async fn a_new_order_is_notified_once_however_often_it_is_scanned() {
    let app = spawn_app_with(&["--order-watch-interval-ms", "100"]).await;
    let a = shop(&app, "neworder", 10).await;
    let b = shop(&app, "neworderb", 10).await;
    let o = order(a.store, a.product_id(), 2, 10.0, "placed", DateTime::now());
    insert(&app, std::slice::from_ref(&o)).await;
    // Act: the app's watcher picks it up…
    let mut found = Value::Null;
    for _ in 0..100 {
        found = inbox(&app, a.t(), "?type=order").await;
        if found["pagination"]["total"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found["pagination"]["total"], 1, "{found}");
    assert_eq!(found["items"][0]["title"], "New order received");
    assert_eq!(found["items"][0]["relatedEntityId"], json!(o.id.to_hex()));
    // …and further passes (another replica, a restart) create nothing more.
    let since = DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000);
    let (x, y) = tokio::join!(
        scan_new_orders(&app.store, since),
        scan_new_orders(&app.store, since)
    );
    assert_eq!((x.expect("scan").0, y.expect("scan").0), (0, 0));
    let direct = notify(&app.store, a.merchant, NewNotification::new_order(&o))
        .await
        .expect("notify");
    assert_eq!(direct, Notified::Duplicate);
    assert_eq!(inbox(&app, a.t(), "").await["pagination"]["total"], 1);
    // The other merchant is not told about it.
    assert_eq!(inbox(&app, b.t(), "").await["pagination"]["total"], 0);
    app.finish().await;
}

#[tokio::test]
async fn stock_notifications_are_raised_only_when_a_threshold_is_crossed() {
    let app = spawn_app().await;
    let a = shop(&app, "crossing", 10).await;
    let path = format!("/api/merchant/products/{}/stock", a.product_id().to_hex());
    // 10 → 6 → 5 (low) → 4 → 0 (out), threshold 5.
    for q in [-4, -1, -1, -4] {
        let r = app.post(&path, a.t(), json!({ "quantity": q })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let d = inbox(&app, a.t(), "?type=product&order=asc").await;
    let titles: Vec<_> = d["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["title"].clone())
        .collect();
    assert_eq!(titles, [json!("Low stock"), json!("Out of stock")]);
    assert_eq!(d["items"][0]["relatedEntityData"]["stock"], 5);
    // Restock, then ten buyers race down to zero: still one low and one out notification.
    app.post(&path, a.t(), json!({ "quantity": 10 })).await;
    let sales = (0..10).map(|_| app.post(&path, a.t(), json!({ "quantity": -1 })));
    let results = futures::future::join_all(sales).await;
    assert!(results.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(
        inbox(&app, a.t(), "?type=product").await["pagination"]["total"],
        4
    );
    app.finish().await;
}

fn note(title: &str, priority: &'static str) -> NewNotification {
    NewNotification {
        event: "newOrder",
        title: title.into(),
        message: format!("{title} happened"),
        kind: "info",
        category: "order",
        priority,
        data: NotificationData {
            order_id: Some(ObjectId::new()),
            related_entity_type: Some("order".into()),
            ..Default::default()
        },
        dedupe_key: None,
    }
}

pub(crate) async fn created(
    app: &TestApp,
    merchant: ObjectId,
    title: &str,
    priority: &'static str,
) -> String {
    match notify(&app.store, merchant, note(title, priority))
        .await
        .expect("notify")
    {
        Notified::Created(id) => id.to_hex(),
        other => panic!("not created: {other:?}"),
    }
}

#[tokio::test]
async fn the_inbox_can_be_read_filtered_marked_archived_and_cleared() {
    let app = spawn_app().await;
    let a = shop(&app, "inbox", 10).await;
    let b = shop(&app, "inboxb", 10).await;
    let n1 = created(&app, a.merchant, "first", "low").await;
    let n2 = created(&app, a.merchant, "second", "urgent").await;
    let n3 = created(&app, a.merchant, "third", "medium").await;
    let foreign = created(&app, b.merchant, "theirs", "high").await;
    let t = a.t();
    let base = "/api/merchant/notifications";
    // List, priority sort, counts, stats.
    let list = inbox(&app, t, "").await;
    assert_eq!(
        (
            list["unreadCount"].clone(),
            list["pagination"]["total"].clone()
        ),
        (json!(3), json!(3))
    );
    assert_eq!(list["items"], list["notifications"]);
    assert_eq!(list["items"][0]["status"], "unread");
    let by_priority = inbox(&app, t, "?sortBy=priority").await;
    assert_eq!(by_priority["items"][0]["id"], json!(n2));
    let paged = inbox(&app, t, "?limit=2&page=2").await;
    assert_eq!(
        (
            paged["items"].as_array().map(Vec::len),
            paged["pagination"]["hasPrev"].clone()
        ),
        (Some(1), json!(true))
    );
    assert_eq!(
        app.get(&format!("{base}/unread-count"), t).await.body["data"]["count"],
        3
    );
    // Mark one and several read, archive one.
    let one = app
        .post(&format!("{base}/{n1}/mark-read"), t, json!({}))
        .await;
    assert_eq!(
        (one.status, one.body["data"]["isRead"].clone()),
        (StatusCode::OK, json!(true))
    );
    let many = app
        .post(
            &format!("{base}/mark-multiple-read"),
            t,
            json!({ "notificationIds": [n2, foreign] }),
        )
        .await;
    assert_eq!(many.body["data"], json!({ "updated": 1, "unreadCount": 1 }));
    let archived = app.put(&format!("{base}/{n3}/archive"), t, json!({})).await;
    assert_eq!(archived.body["data"]["status"], "archived");
    assert_eq!(inbox(&app, t, "/archived").await["pagination"]["total"], 1);
    assert_eq!(
        inbox(&app, t, "?status=read").await["pagination"]["total"],
        2
    );
    let stats = app.get(&format!("{base}/stats"), t).await;
    assert_eq!(stats.body["data"]["overview"]["total"], 3, "{}", stats.body);
    assert_eq!(stats.body["data"]["overview"]["archived"], 1);
    assert_eq!(
        stats.body["data"]["byCategory"][0],
        json!({ "_id": "order", "count": 3, "unread": 1 })
    );
    // Another merchant's notification is invisible.
    assert_eq!(
        app.get(&format!("{base}/{foreign}"), t).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("{base}/{foreign}"), t).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(inbox(&app, b.t(), "").await["pagination"]["total"], 1);
    // Validation.
    let unknown = app.get(&format!("{base}?bogus=1"), t).await;
    assert_eq!(
        (unknown.status, unknown.body["errors"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("bogus"))
    );
    let bad_ids = app
        .post(
            &format!("{base}/delete-multiple"),
            t,
            json!({ "notificationIds": ["nope"] }),
        )
        .await;
    assert_eq!(bad_ids.status, StatusCode::BAD_REQUEST);
    // Clear read ones only, then delete, then clear all.
    let cleared = app
        .call(
            "DELETE",
            &format!("{base}/clear-all?onlyRead=true"),
            t,
            None,
        )
        .await;
    assert_eq!(cleared.body["data"]["cleared"], 2, "{}", cleared.body);
    assert_eq!(
        app.get(&format!("{base}/{n1}"), t).await.status,
        StatusCode::NOT_FOUND
    );
    let fourth = created(&app, a.merchant, "fourth", "low").await;
    let deleted = app
        .post(
            &format!("{base}/delete-multiple"),
            t,
            json!({ "notificationIds": [fourth] }),
        )
        .await;
    assert_eq!(deleted.body["data"]["deleted"], 1);
    let all = app.post(&format!("{base}/clear-all"), t, json!({})).await;
    assert_eq!(all.body["message"], "1 notification(s) cleared");
    let read_all = app
        .post(&format!("{base}/mark-all-read"), t, json!({}))
        .await;
    assert_eq!(read_all.body["data"]["updated"], 0);
    assert_eq!(inbox(&app, b.t(), "").await["pagination"]["total"], 1);
    app.finish().await;
}

#[tokio::test]
async fn muted_events_create_no_notification_and_preferences_are_validated() {
    let app = spawn_app().await;
    let a = shop(&app, "prefs", 10).await;
    let base = "/api/merchant/notifications/preferences";
    let defaults = app.get(base, a.t()).await;
    assert_eq!(defaults.body["data"]["events"]["newOrder"], true);
    let saved = app
        .put(
            base,
            a.t(),
            json!({ "events": { "newOrder": false }, "email": true }),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(
        (
            saved.body["data"]["events"]["newOrder"].clone(),
            saved.body["data"]["email"].clone()
        ),
        (json!(false), json!(true))
    );
    let o = order(a.store, a.product_id(), 1, 1.0, "placed", days_ago(0));
    assert_eq!(
        notify(&app.store, a.merchant, NewNotification::new_order(&o))
            .await
            .expect("notify"),
        Notified::Muted
    );
    let bad = app
        .put(base, a.t(), json!({ "events": { "launch": true } }))
        .await;
    assert_eq!(
        (bad.status, bad.body["errors"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("events.launch"))
    );
    app.finish().await;
}

#[tokio::test]
async fn a_member_whose_permissions_exclude_notifications_is_refused() {
    // No access cache: the permissions are narrowed behind the API's back below.
    let app = spawn_app_with(&["--auth-cache-ttl-ms", "0"]).await;
    let a = shop(&app, "nperm", 10).await;
    let staff = member_token(&app, a.merchant, "staff").await;
    // Staff hold notifications:view by default.
    assert_eq!(
        app.get("/api/merchant/notifications", Some(&staff))
            .await
            .status,
        StatusCode::OK
    );
    // A member granted only products:view does not.
    app.store
        .db()
        .collection::<mongodb::bson::Document>("merchantusers")
        .update_many(
            mongodb::bson::doc! { "merchantId": a.merchant },
            mongodb::bson::doc! { "$set": { "permissions": ["products:view"] } },
        )
        .await
        .expect("narrow permissions");
    let r = app
        .get("/api/merchant/notifications/unread-count", Some(&staff))
        .await;
    assert_eq!(
        (r.status, r.body["required"].clone()),
        (StatusCode::FORBIDDEN, json!("notifications:view"))
    );
    app.finish().await;
}

/// `(name, expireAfterSeconds)` of the TTL indexes of a collection.
async fn ttl_indexes(app: &TestApp, collection: &str) -> Vec<(String, u64)> {
    use futures::TryStreamExt;
    let indexes: Vec<mongodb::IndexModel> = app
        .store
        .db()
        .collection::<mongodb::bson::Document>(collection)
        .list_indexes()
        .await
        .expect("list")
        .try_collect()
        .await
        .expect("collect");
    indexes
        .into_iter()
        .filter_map(|i| {
            let o = i.options?;
            Some((o.name?, o.expire_after?.as_secs()))
        })
        .collect()
}

#[tokio::test]
async fn notifications_and_analytics_exports_have_ttl_indexes_after_start_up() {
    // Arrange + act: start-up creates the catalogue indexes.
    let app = spawn_app().await;
    // Assert: both expire documents as soon as their `expiresAt` has passed.
    assert_eq!(
        ttl_indexes(&app, "notifications").await,
        vec![("expiresAt_1".to_string(), 0)]
    );
    assert_eq!(
        ttl_indexes(&app, "analyticsexports").await,
        vec![("expiresAt_ttl".to_string(), 0)]
    );
    app.finish().await;
}
