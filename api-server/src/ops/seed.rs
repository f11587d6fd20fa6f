//! `merchant-api seed`: demo merchants (`demo1@merchant.test` … with password `demo-password`),
//! their stores and products, for local runs and benchmarks. Idempotent per e-mail.

use secrecy::SecretString;

use crate::{
    config::DatabaseSettings,
    domain::{Sku, slugify},
    routes::products::types::{InventoryInput, Placement, ProductInput},
    security::password,
    startup::{StartupError, connect_store},
    store::{
        ObjectId, Store,
        merchants::{Address, MerchantDoc, NewMerchantAccount},
    },
};

/// Password of every demo account.
pub const DEMO_PASSWORD: &str = "demo-password";

/// Seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Could not connect.
    #[error("failed to connect to MongoDB")]
    Connect(#[from] StartupError),
    /// A write failed.
    #[error("failed to write demo data")]
    Write(#[from] mongodb::error::Error),
    /// Hashing failed.
    #[error("failed to hash the demo password")]
    Hash(#[from] password::PasswordError),
    /// A demo product was rejected.
    #[error("failed to build a demo product: {0}")]
    Product(String),
}

fn demo_merchant(n: u32, hash: &str) -> MerchantDoc {
    let mut merchant = MerchantDoc::new_account(NewMerchantAccount {
        business_name: format!("Demo Shop {n}"),
        owner_name: format!("Demo Owner {n}"),
        email: format!("demo{n}@merchant.test"),
        password: hash.to_string(),
        phone: "+1 555 0100".into(),
        business_address: Address {
            street: "1 Main St".into(),
            city: "Springfield".into(),
            state: "IL".into(),
            zip_code: "62701".into(),
            country: "US".into(),
        },
    });
    merchant.verification_status = "verified".into();
    merchant.email_verified = true;
    merchant
}

async fn seed_products(
    store: &Store,
    merchant: &MerchantDoc,
    shop: ObjectId,
    category: ObjectId,
    count: u32,
) -> Result<(), SeedError> {
    for i in 1..=count {
        let name = format!("Demo Product {i}");
        let input = ProductInput {
            name: Some(name.clone()),
            description: Some(format!("A demo product number {i} for local runs.")),
            price: Some(f64::from(i) * 2.5),
            category: Some("General".into()),
            status: Some("active".into()),
            inventory: Some(InventoryInput {
                stock: Some(i64::from(i % 7) * 5),
                ..Default::default()
            }),
            tags: Some(vec!["demo".into()]),
            ..Default::default()
        };
        let fields = input
            .validate(true)
            .map_err(|e| SeedError::Product(e.to_string()))?;
        let sku = Sku::parse(&format!("{}-{i:04}", merchant.id.to_hex()))
            .map_err(|e| SeedError::Product(e.into()))?;
        let placement = Placement {
            merchant: merchant.id,
            store: shop,
            category,
            sku,
            slug: format!("{}-{}", slugify(&name), ObjectId::new().to_hex()),
        };
        let product = fields
            .into_doc(placement)
            .map_err(|e| SeedError::Product(e.to_string()))?;
        store.insert_product(&product).await?;
    }
    Ok(())
}

/// Create `merchants` demo merchants with `products` products each (skips existing e-mails).
pub async fn seed(store: &Store, merchants: u32, products: u32) -> Result<Vec<String>, SeedError> {
    store.ensure_indexes().await?;
    let hash = password::hash(SecretString::from(DEMO_PASSWORD)).await?;
    let category = store.ensure_category("General").await?;
    let mut created = Vec::new();
    for n in 1..=merchants {
        let merchant = demo_merchant(n, &hash);
        if store.merchant_by_email(&merchant.email).await?.is_some() {
            continue;
        }
        store.insert_merchant(&merchant).await?;
        let shop = store.create_default_store(&merchant, category).await?;
        seed_products(store, &merchant, shop.id, category, products).await?;
        created.push(merchant.email);
    }
    Ok(created)
}

/// The `seed` subcommand.
pub async fn run(
    settings: &DatabaseSettings,
    merchants: u32,
    products: u32,
) -> Result<(), SeedError> {
    let store = connect_store(settings, None).await?;
    let result = seed(&store, merchants, products).await;
    store.client().clone().shutdown().immediate(true).await;
    let created = result?;
    println!(
        "seeded {} merchant(s) with {products} product(s) each; password {DEMO_PASSWORD:?}: {created:?}",
        created.len()
    );
    Ok(())
}
