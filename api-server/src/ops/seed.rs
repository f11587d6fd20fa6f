//! `merchant-api seed`: demo merchants (`demo1@merchant.test` … with password `demo-password`),
//! their stores, products (spread over a few categories) and, with `--orders N`, realistic orders
//! (see [`super::seed_orders`]), for local runs and benchmarks. Idempotent per e-mail.

use secrecy::SecretString;

use super::seed_orders::{self, SeedShop};
use crate::{
    config::DatabaseSettings,
    domain::{PriceInput, ProductPatch, ProductPlacement, ProductStatus, Sku, StockPatch, slugify},
    security::password,
    startup::{StartupError, connect_store},
    store::{
        ObjectId, Store, WriteError,
        merchants::{Address, MerchantDoc, NewMerchantAccount},
        products::ProductDoc,
    },
};

/// Categories the demo products rotate through (category analytics need more than one).
pub const DEMO_CATEGORIES: [&str; 5] = ["General", "Electronics", "Grocery", "Apparel", "Home"];

/// How much to seed per demo merchant.
#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    /// Number of demo merchants.
    pub merchants: u32,
    /// Products per merchant.
    pub products: u32,
    /// Orders per merchant.
    pub orders: u32,
    /// Random seed of the orders (same seed, same orders).
    pub seed: u64,
}

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
    /// A demo SKU was rejected.
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

/// Demo product `i` of a merchant.
fn demo_product(
    merchant: &MerchantDoc,
    shop: ObjectId,
    category: ObjectId,
    i: u32,
) -> Result<ProductDoc, SeedError> {
    let name = format!("Demo Product {i}");
    let sku = Sku::parse(&format!("{}-{i:04}", merchant.id.to_hex()))
        .map_err(|e| SeedError::Product(e.into()))?;
    let patch = ProductPatch {
        name: Some(name.clone()),
        description: Some(format!("A demo product number {i} for local runs.")),
        status: Some(ProductStatus::Active),
        tags: Some(vec!["demo".into()]),
        prices: PriceInput {
            selling: Some(f64::from(i) * 2.5),
            ..PriceInput::default()
        },
        stock: StockPatch {
            stock: Some(i64::from(i % 7) * 5),
            ..StockPatch::default()
        },
        ..ProductPatch::default()
    };
    let placement = ProductPlacement {
        merchant: merchant.id,
        shop,
        category,
        sku,
        slug: format!("{}-{}", slugify(&name), ObjectId::new().to_hex()),
    };
    Ok(ProductDoc::new(patch, placement))
}

async fn seed_products(
    store: &Store,
    merchant: &MerchantDoc,
    shop: ObjectId,
    categories: &[ObjectId],
    count: u32,
) -> Result<(), SeedError> {
    for i in 1..=count {
        let slot = (i as usize - 1) % categories.len();
        let product = demo_product(merchant, shop, categories[slot], i)?;
        store
            .insert_product(&product)
            .await
            .map_err(WriteError::into_source)?;
    }
    Ok(())
}

/// Create `merchants` demo merchants with `products` products each (skips existing e-mails).
pub async fn seed(store: &Store, merchants: u32, products: u32) -> Result<Vec<String>, SeedError> {
    seed_plan(
        store,
        SeedPlan {
            merchants,
            products,
            orders: 0,
            seed: 0,
        },
    )
    .await
}

/// Seed per `plan`: merchants, stores, products and orders (skips existing e-mails).
pub async fn seed_plan(store: &Store, plan: SeedPlan) -> Result<Vec<String>, SeedError> {
    store.ensure_indexes().await?;
    let hash = password::hash(SecretString::from(DEMO_PASSWORD)).await?;
    let mut categories = Vec::with_capacity(DEMO_CATEGORIES.len());
    for name in DEMO_CATEGORIES {
        categories.push(store.ensure_category(name).await?);
    }
    let mut created = Vec::new();
    for n in 1..=plan.merchants {
        let merchant = demo_merchant(n, &hash);
        if store.merchant_by_email(&merchant.email).await?.is_some() {
            continue;
        }
        store
            .insert_merchant(&merchant)
            .await
            .map_err(WriteError::into_source)?;
        let shop = store.create_default_shop(&merchant, categories[0]).await?;
        seed_products(store, &merchant, shop.id, &categories, plan.products).await?;
        if plan.orders > 0 {
            let shop = SeedShop {
                id: shop.id,
                name: shop.name,
                order_prefix: format!("ORD-{}", &merchant.id.to_hex()[16..]),
            };
            seed_merchant_orders(store, &merchant, &shop, plan).await?;
        }
        created.push(merchant.email);
    }
    Ok(created)
}

async fn seed_merchant_orders(
    store: &Store,
    merchant: &MerchantDoc,
    shop: &SeedShop,
    plan: SeedPlan,
) -> Result<(), SeedError> {
    let products = store.seed_products_of(merchant.id).await?;
    // Each merchant gets its own stream (same seed, same data per merchant number).
    let seed = plan
        .seed
        .wrapping_add(u64::from(merchant_number(&merchant.email)));
    let orders = seed_orders::generate(
        seed,
        plan.orders as usize,
        &products,
        shop,
        chrono::Utc::now(),
    );
    let total = orders.len();
    store
        .insert_orders(orders, |done| {
            println!("{}: {done}/{total} orders", merchant.email)
        })
        .await?;
    Ok(())
}

fn merchant_number(email: &str) -> u32 {
    email
        .trim_start_matches("demo")
        .split('@')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The `seed` subcommand.
pub async fn run(settings: &DatabaseSettings, plan: SeedPlan) -> Result<(), SeedError> {
    let store = connect_store(settings, None).await?;
    let result = seed_plan(&store, plan).await;
    store.client().clone().shutdown().immediate(true).await;
    let created = result?;
    println!(
        "seeded {} merchant(s) with {} product(s) and {} order(s) each; password {DEMO_PASSWORD:?}: {created:?}",
        created.len(),
        plan.products,
        plan.orders
    );
    Ok(())
}
