//! Products and variants: CRUD, validation, SKU uniqueness, search/filter/sort/pagination and
//! cross-merchant isolation.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{product_body, spawn_app};

#[tokio::test]
async fn a_product_is_created_read_updated_without_deactivation_and_deleted() {
    let app = spawn_app().await;
    let (token, merchant, _) = app.register("crud").await;
    let t = Some(token.as_str());
    // Create: the product itself is at `data` (peer shape).
    let created = app
        .post("/api/merchant/products", t, json!({
            "name": "Blue Tee", "description": "A comfortable blue tee", "price": 15, "compareAtPrice": 20,
            "category": "general", "sku": "tee-blue", "currency": "GBP", "status": "active",
            "inventory": { "stock": 8 }, "images": [{ "url": "https://img.example/1.png" }], "tags": ["Summer"],
        }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let p = &created.body["data"];
    assert_eq!(
        (p["sku"].as_str(), p["merchantId"].as_str()),
        (Some("TEE-BLUE"), Some(merchant.as_str()))
    );
    assert_eq!(p["pricing"]["discount"], json!(25.0));
    assert_eq!(p["pricing"]["currency"], "GBP");
    assert_eq!(p["_id"], p["id"]);
    assert_eq!(p["images"], json!(["https://img.example/1.png"]));
    assert_eq!(p["tags"], json!(["summer"]));
    let id = p["id"].as_str().expect("id").to_string();
    // Read: category and store populated.
    let got = app.get(&format!("/api/merchant/products/{id}"), t).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["data"]["category"]["name"], "General");
    assert_eq!(got.body["data"]["store"]["name"], "Acme Goods");
    // Update without `status` keeps the product active; price re-maps to pricing.
    let upd = app
        .put(
            &format!("/api/merchant/products/{id}"),
            t,
            json!({ "name": "Navy Tee", "price": 10 }),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{}", upd.body);
    let u = &upd.body["data"]["product"];
    assert_eq!(
        (u["name"].as_str(), u["isActive"].as_bool()),
        (Some("Navy Tee"), Some(true))
    );
    assert_eq!(
        (
            u["pricing"]["selling"].as_f64(),
            u["pricing"]["discount"].as_f64()
        ),
        (Some(10.0), Some(50.0))
    );
    let draft = app
        .put(
            &format!("/api/merchant/products/{id}"),
            t,
            json!({ "status": "draft" }),
        )
        .await;
    assert_eq!(draft.body["data"]["product"]["isActive"], json!(false));
    // Delete, then 404.
    let del = app.delete(&format!("/api/merchant/products/{id}"), t).await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/api/merchant/products/{id}"), t)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/merchant/products/{id}"), t)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/merchant/products/not-an-id", t).await.body["message"],
        "Invalid product ID format"
    );
    app.finish().await;
}

#[tokio::test]
async fn product_input_errors_are_400s_with_field_messages() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("val").await;
    let t = Some(token.as_str());
    let r = app
        .post(
            "/api/merchant/products",
            t,
            json!({ "name": "X", "price": -1, "inventory": { "stock": "ten" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["errors"][0]["field"], "inventory.stock");
    let r = app
        .post(
            "/api/merchant/products",
            t,
            json!({ "name": "X", "price": -1, "currency": "XYZ", "status": "gone" }),
        )
        .await;
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for f in [
        "name",
        "description",
        "category",
        "price",
        "currency",
        "status",
        "inventory",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    let mut body = product_body("Unknown Category", 1);
    body["category"] = json!("no-such-category");
    let r = app.post("/api/merchant/products", t, body).await;
    assert_eq!(
        r.body["message"],
        "Category \"no-such-category\" not found. Please use a valid category name or ID."
    );
    let mut body = product_body("First", 1);
    body["sku"] = json!("DUP-1");
    assert_eq!(
        app.post("/api/merchant/products", t, body.clone())
            .await
            .status,
        StatusCode::CREATED
    );
    body["sku"] = json!("dup-1");
    let dup = app.post("/api/merchant/products", t, body).await;
    assert_eq!(
        (dup.status, dup.body["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("SKU already exists"))
    );
    let malformed = app
        .client
        .post(format!("{}/api/merchant/products", app.address))
        .bearer_auth(&token)
        .body("{\"name\":")
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    app.finish().await;
}

#[tokio::test]
async fn the_list_searches_filters_sorts_and_paginates() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("list").await;
    let t = Some(token.as_str());
    for (name, stock) in [("Red Mug", 0), ("Blue Mug", 3), ("Green Plate", 50)] {
        app.product(&token, name, stock).await;
    }
    let all = app
        .get(
            "/api/merchant/products?sortBy=name&sortOrder=asc&limit=2",
            t,
        )
        .await;
    assert_eq!(all.status, StatusCode::OK);
    let names: Vec<&str> = all.body["data"]["products"]
        .as_array()
        .expect("products")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["Blue Mug", "Green Plate"]);
    assert_eq!(
        all.body["data"]["pagination"],
        json!({ "totalCount": 3, "page": 1, "limit": 2, "totalPages": 2, "hasNext": true, "hasPrevious": false })
    );
    let search = app.get("/api/merchant/products?query=mUg", t).await;
    assert_eq!(search.body["data"]["pagination"]["totalCount"], 2);
    let low = app
        .get("/api/merchant/products?stockLevel=low_stock", t)
        .await;
    assert_eq!(low.body["data"]["products"][0]["name"], "Blue Mug");
    let out = app
        .get("/api/merchant/products?stockLevel=out_of_stock", t)
        .await;
    assert_eq!(out.body["data"]["products"][0]["name"], "Red Mug");
    let by_price = app
        .get(
            "/api/merchant/products?sortBy=price&status=active&category=general",
            t,
        )
        .await;
    assert_eq!(by_price.body["data"]["pagination"]["totalCount"], 3);
    let bad = app
        .get("/api/merchant/products?limit=500&sortBy=colour", t)
        .await;
    assert_eq!(
        (bad.status, bad.body["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("Query validation failed"))
    );
    let foreign = app
        .get(
            &format!(
                "/api/merchant/products?storeId={}",
                mongodb::bson::oid::ObjectId::new().to_hex()
            ),
            t,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    let categories = app.get("/api/merchant/products/categories", t).await;
    assert_eq!(categories.body["data"]["categories"][0]["label"], "General");
    app.finish().await;
}

#[tokio::test]
async fn merchant_b_cannot_see_or_change_merchant_a_products() {
    let app = spawn_app().await;
    let (a, _, _) = app.register("tenant-a").await;
    let (b, _, _) = app.register("tenant-b").await;
    let p = app.product(&a, "Private Thing", 5).await;
    let id = p["id"].as_str().expect("id");
    let b = Some(b.as_str());
    assert_eq!(
        app.get(&format!("/api/merchant/products/{id}"), b)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.put(
            &format!("/api/merchant/products/{id}"),
            b,
            json!({ "name": "Stolen" })
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/merchant/products/{id}"), b)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/merchant/products/{id}/variants"), b)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let variant = app
        .post(
            &format!("/api/merchant/products/{id}/variants"),
            b,
            json!({ "type": "size", "value": "XL" }),
        )
        .await;
    assert_eq!(variant.status, StatusCode::NOT_FOUND);
    let stock = app
        .post(
            &format!("/api/merchant/products/{id}/stock"),
            b,
            json!({ "quantity": -1 }),
        )
        .await;
    assert_eq!(stock.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/merchant/products", b).await.body["data"]["pagination"]["totalCount"],
        0
    );
    let still = app
        .get(&format!("/api/merchant/products/{id}"), Some(&a))
        .await;
    assert_eq!(
        (
            still.body["data"]["name"].as_str(),
            still.body["data"]["inventory"]["stock"].as_i64()
        ),
        (Some("Private Thing"), Some(5))
    );
    app.finish().await;
}

#[tokio::test]
async fn variants_persist_through_create_update_and_delete() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("variants").await;
    let t = Some(token.as_str());
    let p = app.product(&token, "Hoodie", 0).await;
    let base = format!(
        "/api/merchant/products/{}/variants",
        p["id"].as_str().expect("id")
    );
    let created = app.post(&base, t, json!({ "type": "size", "value": "M", "stock": 4, "sku": "hood-m", "attributes": { "colour": "grey" } })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let vid = created.body["data"]["variant"]["variantId"]
        .as_str()
        .expect("variant id")
        .to_string();
    // Older clients' shape: name + quantity.
    let legacy = app
        .post(&base, t, json!({ "name": "L", "quantity": 2 }))
        .await;
    assert_eq!(legacy.status, StatusCode::CREATED, "{}", legacy.body);
    let dup = app
        .post(&base, t, json!({ "value": "S", "sku": "HOOD-M" }))
        .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    let invalid = app
        .post(&base, t, json!({ "value": "", "stock": -1 }))
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let listed = app.get(&base, t).await;
    assert_eq!(
        listed.body["data"]["variants"].as_array().map(Vec::len),
        Some(2)
    );
    let upd = app
        .put(
            &format!("{base}/{vid}"),
            t,
            json!({ "price": 39.5, "stock": 9 }),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{}", upd.body);
    assert_eq!(
        (
            upd.body["data"]["variant"]["price"].as_f64(),
            upd.body["data"]["variant"]["stock"].as_i64()
        ),
        (Some(39.5), Some(9))
    );
    let one = app.get(&format!("{base}/{vid}"), t).await;
    assert_eq!(one.body["data"]["variant"]["attributes"]["colour"], "grey");
    assert_eq!(
        app.delete(&format!("{base}/{vid}"), t).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("{base}/{vid}"), t).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("{base}/{vid}"), t).await.body["message"],
        "Variant not found"
    );
    assert_eq!(
        app.get(&base, t).await.body["data"]["variants"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    app.finish().await;
}

#[tokio::test]
async fn reviews_list_the_merchants_store_reviews_with_stats_filters_and_isolation() {
    use merchant_api::store::ObjectId;
    use mongodb::bson::{DateTime, Document, doc};

    let app = spawn_app().await;
    let (token, merchant, _) = app.register("reviews").await;
    let (other, _, _) = app.register("reviews-b").await;
    let t = Some(token.as_str());
    let product = app.product(&token, "Reviewed Tee", 3).await;
    let path = format!(
        "/api/merchant/products/{}/reviews",
        product["id"].as_str().expect("id")
    );
    let empty = app.get(&path, t).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body["data"]["reviews"], json!([]));
    assert_eq!(empty.body["data"]["stats"]["count"], 0);

    let db = app.store.db();
    let merchant = ObjectId::parse_str(&merchant).expect("id");
    let store = db
        .collection::<Document>("stores")
        .find_one(doc! { "merchantId": merchant })
        .await
        .expect("query")
        .expect("registration created a store");
    let store = store.get_object_id("_id").expect("store id");
    let author = ObjectId::new();
    db.collection::<Document>("users")
        .insert_one(doc! { "_id": author, "name": "Asha", "profile": { "firstName": "Asha" }, "password": "never-shown" })
        .await
        .expect("user");
    let at = |n: i64| DateTime::from_millis(1_700_000_000_000 + n);
    let reviews = [
        doc! { "store": store, "user": author, "rating": 5, "comment": "great", "verified": true, "images": ["https://i/1.png"], "createdAt": at(3) },
        doc! { "store": store, "user": ObjectId::new(), "rating": 4, "comment": "good", "verified": false, "images": [], "createdAt": at(2) },
        doc! { "store": store, "user": ObjectId::new(), "rating": 3, "comment": "ok", "verified": true, "createdAt": at(1) },
        doc! { "store": store, "user": ObjectId::new(), "rating": 1, "comment": "hidden", "isActive": false, "createdAt": at(0) },
        doc! { "store": ObjectId::new(), "user": author, "rating": 1, "comment": "other store", "createdAt": at(4) },
    ];
    db.collection::<Document>("reviews")
        .insert_many(reviews)
        .await
        .expect("reviews");

    let r = app.get(&format!("{path}?limit=2"), t).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let data = &r.body["data"];
    assert_eq!(
        data["stats"],
        json!({ "average": 4.0, "count": 3, "distribution": { "1": 0, "2": 0, "3": 1, "4": 1, "5": 1 } })
    );
    assert_eq!(
        data["pagination"],
        json!({ "totalCount": 3, "page": 1, "limit": 2, "totalPages": 2, "hasNext": true, "hasPrevious": false })
    );
    let first = &data["reviews"][0];
    assert_eq!(
        (first["comment"].as_str(), first["user"]["name"].as_str()),
        (Some("great"), Some("Asha"))
    );
    assert!(
        first["user"].get("password").is_none(),
        "only the public author fields"
    );
    assert_eq!(data["reviews"][1]["comment"], "good");
    for (filter, expected) in [
        ("5", vec!["great"]),
        ("verified", vec!["great", "ok"]),
        ("with_images", vec!["great"]),
    ] {
        let r = app.get(&format!("{path}?filter={filter}"), t).await;
        let comments: Vec<&str> = r.body["data"]["reviews"]
            .as_array()
            .expect("reviews")
            .iter()
            .filter_map(|v| v["comment"].as_str())
            .collect();
        assert_eq!(comments, expected, "filter={filter}");
    }
    let bad = app.get(&format!("{path}?filter=7&limit=0"), t).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["limit", "filter"]);
    assert_eq!(
        app.get("/api/merchant/products/not-an-id/reviews", t)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let foreign = app.get(&path, Some(&other)).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(foreign.body["message"], "Product not found");
    let smoke = app.get("/api/merchant/auth/test", None).await;
    assert_eq!(smoke.status, StatusCode::OK);
    assert_eq!(smoke.body["message"], "Merchant auth route is working!");
    app.finish().await;
}

#[tokio::test]
async fn a_variant_with_attributes_as_name_value_pairs_is_stored_and_listed() {
    // Arrange
    let app = spawn_app().await;
    let (token, _, _) = app.register("variant-pairs").await;
    let t = Some(token.as_str());
    let p = app.product(&token, "Pair Shirt", 10).await;
    let base = format!(
        "/api/merchant/products/{}/variants",
        p["id"].as_str().expect("id")
    );
    // Act: the body existing clients send, then an empty list and the object form.
    let pairs = app
        .post(
            &base,
            t,
            json!({"name":"Large","sku":"VAR-L-001","price":120,"compareAtPrice":150,"quantity":5,
                   "attributes":[{"name":"size","value":"L"},{"name":"fit","value":"slim"}]}),
        )
        .await;
    let empty = app
        .post(&base, t, json!({ "name": "Small", "attributes": [] }))
        .await;
    let object = app
        .post(
            &base,
            t,
            json!({ "name": "Medium", "attributes": { "size": "M" } }),
        )
        .await;
    let bad = app
        .post(
            &base,
            t,
            json!({ "name": "XL", "attributes": [{ "value": "XL" }] }),
        )
        .await;
    // Assert
    assert_eq!(pairs.status, StatusCode::CREATED, "{}", pairs.body);
    assert_eq!(empty.status, StatusCode::CREATED, "{}", empty.body);
    assert_eq!(object.status, StatusCode::CREATED, "{}", object.body);
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(bad.body["errors"][0]["field"], "attributes");
    let why = bad.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        why.contains("item 0") && why.contains("{name, value}"),
        "{why}"
    );
    let listed = app.get(&base, t).await;
    let variants = listed.body["data"]["variants"]
        .as_array()
        .expect("variants");
    assert_eq!(variants.len(), 3, "{}", listed.body);
    let large = &variants[0];
    assert_eq!(large["value"], "Large");
    assert_eq!(large["sku"], "VAR-L-001");
    assert_eq!(large["stock"], 5);
    assert_eq!(large["attributes"], json!({ "size": "L", "fit": "slim" }));
    assert_eq!(variants[1]["attributes"], json!({}));
    assert_eq!(variants[2]["attributes"], json!({ "size": "M" }));
    // Update takes the list form too and replaces the attributes whole.
    let vid = large["variantId"].as_str().expect("variant id");
    let upd = app
        .put(
            &format!("{base}/{vid}"),
            t,
            json!({ "attributes": [{ "name": "size", "value": "XL" }] }),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{}", upd.body);
    assert_eq!(
        upd.body["data"]["variant"]["attributes"],
        json!({ "size": "XL" })
    );
    // A document written by the older deployment (a list of pairs) still reads.
    let pid = merchant_api::store::ObjectId::parse_str(p["id"].as_str().expect("id")).expect("oid");
    app.store
        .db()
        .collection::<mongodb::bson::Document>("products")
        .update_one(
            mongodb::bson::doc! { "_id": pid },
            mongodb::bson::doc! { "$set": { "inventory.variants.1.attributes": [{ "name": "colour", "value": "red" }] } },
        )
        .await
        .expect("raw update");
    let again = app.get(&base, t).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(
        again.body["data"]["variants"][1]["attributes"],
        json!({ "colour": "red" })
    );
    app.finish().await;
}

#[tokio::test]
async fn product_attributes_and_specifications_are_accepted_in_either_shape() {
    // Arrange
    let app = spawn_app().await;
    let (token, _, _) = app.register("product-attrs").await;
    let t = Some(token.as_str());
    let mut body = product_body("Spec Shirt", 3);
    body["attributes"] = json!([{ "name": "material", "value": "cotton" }]);
    body["specifications"] = json!({ "Weight": "200 g" });
    // Act
    let created = app.post("/api/merchant/products", t, body).await;
    let id = created.body["data"]["id"].as_str().unwrap_or_default();
    let path = format!("/api/merchant/products/{id}");
    let updated = app
        .put(
            &path,
            t,
            json!({ "attributes": { "material": "linen" },
                    "specifications": [{ "key": "Weight", "value": 180, "group": "Size" }] }),
        )
        .await;
    let bad = app
        .put(&path, t, json!({ "specifications": "Weight=1" }))
        .await;
    // Assert
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["data"]["attributes"],
        json!({ "material": "cotton" })
    );
    assert_eq!(
        created.body["data"]["specifications"],
        json!([{ "key": "Weight", "value": "200 g" }])
    );
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let read = app.get(&path, t).await.body["data"].clone();
    assert_eq!(read["attributes"], json!({ "material": "linen" }));
    assert_eq!(
        read["specifications"],
        json!([{ "key": "Weight", "value": "180", "group": "Size" }])
    );
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(bad.body["errors"][0]["field"], "specifications");
    app.finish().await;
}
