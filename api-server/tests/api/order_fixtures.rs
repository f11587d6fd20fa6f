//! Fixtures of the orders, notifications and dashboard tests: consumer-side orders written
//! straight into `orders`, a merchant with a product, and team-member tokens.

use merchant_api::store::{
    DateTime, ObjectId,
    orders::{Delivery, OrderDoc, OrderItem, OrderVariant, Payment, Totals},
};
use mongodb::bson::{Document, doc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, unique};

/// A merchant with one product.
pub struct Shop {
    /// Owner token.
    pub token: String,
    /// Merchant id.
    pub merchant: ObjectId,
    /// Its registration store.
    pub store: ObjectId,
    /// A product (API JSON).
    pub product: Value,
}

impl Shop {
    /// The product id.
    pub fn product_id(&self) -> ObjectId {
        ObjectId::parse_str(self.product["id"].as_str().expect("product id")).expect("oid")
    }

    /// `Some(token)`.
    pub fn t(&self) -> Option<&str> {
        Some(self.token.as_str())
    }
}

/// Register a merchant and create a product with `stock` units (threshold 5).
pub async fn shop(app: &TestApp, name: &str, stock: i64) -> Shop {
    let (token, id, _) = app.register(name).await;
    let product = app.product(&token, &format!("{name} widget"), stock).await;
    let merchant = ObjectId::parse_str(&id).expect("merchant id");
    let store = app
        .store
        .default_shop(merchant)
        .await
        .expect("store read")
        .expect("registration store")
        .id;
    Shop {
        token,
        merchant,
        store,
        product,
    }
}

/// Milliseconds `days` days ago (plus `minutes`).
pub fn days_ago(days: i64) -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() - days * 86_400_000 - 60_000)
}

/// An order of `qty` units of `product` at `price` each, created at `at`.
pub fn order(
    store: ObjectId,
    product: ObjectId,
    qty: i64,
    price: f64,
    status: &str,
    at: DateTime,
) -> OrderDoc {
    let total = price * qty as f64;
    OrderDoc {
        id: ObjectId::new(),
        order_number: unique("ORD").to_uppercase(),
        user: ObjectId::new(),
        store: Some(store),
        fulfillment_type: "delivery".into(),
        items: vec![OrderItem {
            id: Some(ObjectId::new()),
            product,
            shop: store,
            store_name: Some("Acme Goods".into()),
            name: "Widget".into(),
            image: "https://img.example/w.png".into(),
            item_type: Some("product".into()),
            quantity: qty,
            variant: None,
            price,
            original_price: Some(price),
            discount: 0.0,
            subtotal: total,
            sku: None,
            notes: None,
            status: None,
        }],
        totals: Totals {
            subtotal: total,
            total,
            paid_amount: total,
            ..Default::default()
        },
        payment: Payment {
            method: Some("card".into()),
            status: "paid".into(),
            ..Default::default()
        },
        delivery: Delivery {
            status: "pending".into(),
            address: Some(
                doc! { "name": "Cara Customer", "phone": "+15550111", "addressLine1": "2 High St", "city": "Springfield", "pincode": "62701" },
            ),
            ..Default::default()
        },
        timeline: Vec::new(),
        status: status.into(),
        coupon_code: None,
        notes: None,
        special_instructions: None,
        cancel_reason: None,
        cancelled_at: None,
        cancelled_by: None,
        refunds: Vec::new(),
        stock_restored_at: None,
        created_at: at,
        updated_at: at,
    }
}

/// The same order line for a variant of the product.
pub fn with_variant(mut o: OrderDoc, variant_id: &str) -> OrderDoc {
    o.items[0].variant = Some(OrderVariant {
        variant_id: Some(variant_id.into()),
        ..Default::default()
    });
    o
}

/// Insert orders.
pub async fn insert(app: &TestApp, orders: &[OrderDoc]) {
    for o in orders {
        app.store.insert_order(o).await.expect("insert order");
    }
}

/// A customer in the consumer `users` collection.
pub async fn customer(app: &TestApp, first: &str, email: &str) -> ObjectId {
    let id = ObjectId::new();
    app.store
        .db()
        .collection::<Document>("users")
        .insert_one(doc! { "_id": id, "email": email, "phoneNumber": "+15550199", "profile": { "firstName": first, "lastName": "Buyer" } })
        .await
        .expect("insert user");
    id
}

/// Log in a new active team member of `merchant` with `role` (role-default permissions).
pub async fn member_token(app: &TestApp, merchant: ObjectId, role: &str) -> String {
    let hash = bcrypt::hash("member-pass", 4).expect("hash");
    let email = format!("{}@example.com", unique(role));
    app.store
        .db()
        .collection::<Document>("merchantusers")
        .insert_one(doc! { "merchantId": merchant, "email": &email, "password": &hash, "name": "Sam", "role": role, "permissions": [], "status": "active", "createdAt": DateTime::now() })
        .await
        .expect("insert member");
    let r = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "member-pass" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"]["token"].as_str().expect("token").to_string()
}

/// Current stock of a product (API).
pub async fn stock_of(app: &TestApp, shop: &Shop) -> i64 {
    let r = app
        .get(
            &format!("/api/merchant/products/{}", shop.product_id().to_hex()),
            shop.t(),
        )
        .await;
    r.body["data"]["inventory"]["stock"]
        .as_i64()
        .expect("stock")
}
