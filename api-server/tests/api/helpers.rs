//! `spawn_app()`: a server on port 0 over a fresh database, with typed request helpers.

use std::time::Duration;

use merchant_api::{
    config::Config,
    startup::Application,
    store::{ObjectId, Store},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Access-token key of test apps.
pub const ACCESS_SECRET: &str = "test-access-secret-0123456789abcdef";
/// Refresh-token key of test apps.
pub const REFRESH_SECRET: &str = "test-refresh-secret-0123456789abcdef";

/// The value of a test-environment variable. A missing one fails the test, locally as in CI,
/// saying how to start the server it names: a test that skips itself proves nothing.
pub fn testenv(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: {}", start_hint(var)))
}

/// How to get the server behind a test-environment variable.
fn start_hint(var: &str) -> &'static str {
    match var {
        "FERRETDB_URI" => {
            "start FerretDB with `scripts/testenv up ferretdb` (`up all` includes it), then \
             `source target/testenv/env.sh`"
        }
        _ => {
            "start the test servers with `scripts/testenv up api`, then \
             `source target/testenv/env.sh` (unit tests alone: \
             `cargo test -p merchant-api --lib --bins`)"
        }
    }
}

/// A unique name with a prefix.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{prefix}_{nanos:x}_{:04x}", rand::random::<u16>())
}

/// A running test server.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The admin listener (metrics, probes).
    pub admin_address: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// Direct database access for arrange/assert.
    pub store: Store,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// A response: status, headers and JSON body (`Null` when not JSON).
pub struct Resp {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body.
    pub body: Value,
}

impl Resp {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The uploads directory of the test app over database `db`.
pub fn uploads_dir(db: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("merchant-api-test-uploads-{db}"))
}

/// Base arguments of a test app (limits high so only rate-limit tests trip them).
pub fn base_args(db: &str, uri: &str) -> Vec<String> {
    [
        "test",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--admin-port",
        "0",
        "--mongodb-uri",
        uri,
        "--mongodb-database",
        db,
        "--jwt-merchant-secret",
        ACCESS_SECRET,
        "--jwt-refresh-secret",
        REFRESH_SECRET,
        "--node-env",
        "test",
        "--log-level",
        "warn",
        "--smtp-tls",
        "none",
        "--rate-limit-general-max",
        "100000",
        "--rate-limit-auth-max",
        "1000",
        "--rate-limit-register-max",
        "1000",
        "--rate-limit-password-reset-max",
        "1000",
        "--rate-limit-product-read-max",
        "100000",
        "--rate-limit-product-write-max",
        "100000",
        "--rate-limit-product-delete-max",
        "100000",
        "--cors-origin",
        "https://shop.example",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--rate-limit-prefix".to_string(), format!("rl-{db}")])
    // Uploads of every test app go to a per-app temporary directory, never the working tree.
    .chain([
        "--uploads-dir".to_string(),
        uploads_dir(db).display().to_string(),
    ])
    .collect()
}

/// Spawn with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Spawn over the server named by the testenv variable `var` (`FERRETDB_URI`), with a store
/// handle on that server (the app's own `store` points at the main one).
pub async fn spawn_app_on(var: &str) -> (TestApp, Store) {
    let uri = testenv(var);
    let app = spawn_app_with(&["--mongodb-uri", &uri]).await;
    let args = base_args(app.store.db().name(), &uri);
    let settings = Config::from_args(args)
        .expect("args")
        .validate_database()
        .expect("db");
    let store = merchant_api::startup::connect_store(&settings, None)
        .await
        .expect("store on the other server");
    (app, store)
}

/// Spawn with extra `--flag value` arguments (later flags override earlier ones).
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let uri = testenv("MONGODB_URI");
    let db_name = unique("api");
    let mut args = base_args(&db_name, &uri);
    args.extend(extra.iter().map(|s| s.to_string()));
    let settings = Config::from_args(args)
        .expect("test args parse")
        .validate()
        .expect("test settings valid");
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_address = format!("http://127.0.0.1:{}", app.admin_port());
    let store = merchant_api::startup::connect_store(
        &Config::from_args(base_args(&db_name, &uri))
            .expect("args")
            .validate_database()
            .expect("db settings"),
        None,
    )
    .await
    .expect("store");
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until_stopped(async move {
            let _ = rx.await;
        })
        .await
        .expect("server runs");
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    TestApp {
        address,
        admin_address,
        client,
        store,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// Send a request; `body` `None` sends no body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    /// GET.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call("GET", path, token, None).await
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call("POST", path, token, Some(body)).await
    }

    /// PUT JSON.
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call("PUT", path, token, Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.call("DELETE", path, token, None).await
    }

    /// Register a merchant; returns `(token, merchant id, e-mail)`.
    pub async fn register(&self, name: &str) -> (String, String, String) {
        let email = format!("{}@example.com", unique(name).to_lowercase());
        let r = self
            .post("/api/merchant/auth/register", None, registration(&email))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let token = r.body["data"]["token"].as_str().expect("token").to_string();
        let id = r.body["data"]["merchant"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        (token, id, email)
    }

    /// Create an active product; returns its JSON.
    pub async fn product(&self, token: &str, name: &str, stock: i64) -> Value {
        let r = self
            .post(
                "/api/merchant/products",
                Some(token),
                product_body(name, stock),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["data"].clone()
    }

    /// The store registration made for `merchant` (its id as text).
    pub async fn store_of(&self, merchant: &str) -> ObjectId {
        let id = ObjectId::parse_str(merchant).expect("merchant id");
        self.store
            .default_shop(id)
            .await
            .expect("query")
            .expect("registration made a store")
            .id
    }

    /// Stop the server gracefully and drop the database.
    pub async fn finish(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
        }
        let _ = self.store.db().drop().await;
        let _ = std::fs::remove_dir_all(uploads_dir(self.store.db().name()));
    }

    /// Trigger graceful shutdown and return the server task.
    pub fn begin_shutdown(&mut self) -> tokio::task::JoinHandle<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take().expect("server running")
    }
}

/// A valid registration body.
pub fn registration(email: &str) -> Value {
    json!({
        "businessName": "Acme Goods",
        "ownerName": "Ann Owner",
        "email": email,
        "password": "secret1",
        "phone": "+1 555 0100",
        "businessAddress": { "street": "1 Main St", "city": "Springfield", "state": "IL", "zipCode": "62701", "country": "US" },
        "role": "owner",
    })
}

/// A valid, active product body.
pub fn product_body(name: &str, stock: i64) -> Value {
    json!({
        "name": name,
        "description": "A product used by the tests.",
        "price": 10.0,
        "category": "General",
        "status": "active",
        "inventory": { "stock": stock, "lowStockThreshold": 5 },
        "cashback": { "percentage": 5 },
    })
}

/// Wait for a captured e-mail to `to` and return the first link containing `path`.
pub async fn mailed_link(to: &str, path: &str) -> Option<String> {
    let dir = format!("{}/new", testenv("SMTP_CAPTURE_DIR"));
    for _ in 0..100 {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                // Quoted-printable soft line breaks.
                let text = text.replace("=\r\n", "").replace("=\n", "");
                if !text.contains(to) {
                    continue;
                }
                if let Some(start) = text.find(&format!("/{path}/")) {
                    let rest = &text[start..];
                    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
                    return Some(rest[..end].to_string());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
