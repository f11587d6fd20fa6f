//! `backup`, `restore`, `verify`, `prune` and `migrate plan` as users and the operator run them:
//! the binary, against the real MongoDB-wire server and the S3 server.

use std::{path::Path, process::Command};

use futures::TryStreamExt;
use merchant_api::backup::manifest::Manifest;
use mongodb::{
    Database,
    bson::{Document, doc},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    ACCESS_SECRET, REFRESH_SECRET, TestApp, spawn_app, testenv, unique, uploads_dir,
};

const BIN: &str = env!("CARGO_BIN_EXE_merchant-api");

/// What a run of the binary gave.
struct Run {
    code: Option<i32>,
    report: Value,
    stderr: String,
}

/// Run `merchant-api ARGS --report FILE` with the app's database and uploads settings.
fn run(app_db: &str, args: &[&str]) -> Run {
    let report = tempfile::NamedTempFile::new().expect("temp file");
    let uri = std::env::var("MONGODB_URI").expect("MONGODB_URI");
    let s3 = |n: &str| std::env::var(n).unwrap_or_default();
    let out = Command::new(BIN)
        .args(args)
        .arg("--report")
        .arg(report.path())
        .env_clear()
        .env("MONGODB_URI", uri)
        .env("MONGODB_DATABASE", app_db)
        .env("UPLOADS_DIR", uploads_dir(app_db))
        .env("JWT_MERCHANT_SECRET", ACCESS_SECRET)
        .env("JWT_REFRESH_SECRET", REFRESH_SECRET)
        .env("LOG_LEVEL", "warn")
        .env("BACKUP_S3_ENDPOINT", s3("S3_ENDPOINT"))
        .env("BACKUP_S3_ACCESS_KEY_ID", s3("S3_ACCESS_KEY_ID"))
        .env("BACKUP_S3_SECRET_ACCESS_KEY", s3("S3_SECRET_ACCESS_KEY"))
        .output()
        .expect("runs");
    let text = std::fs::read_to_string(report.path()).unwrap_or_default();
    Run {
        code: out.status.code(),
        report: serde_json::from_str(&text).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// An app with a merchant, products, an order-free catalogue and one uploaded file.
async fn app_with_data() -> TestApp {
    let app = spawn_app().await;
    let migrate = run(app.store.db().name(), &["migrate", "up"]);
    assert_eq!(migrate.code, Some(0), "{}", migrate.stderr);
    let (token, merchant, _) = app.register("backup").await;
    for i in 0..25 {
        app.product(&token, &format!("Product {i}"), i).await;
    }
    let dir = uploads_dir(app.store.db().name()).join(&merchant);
    std::fs::create_dir_all(&dir).expect("uploads dir");
    std::fs::write(dir.join("photo.png"), b"\x89PNG not really").expect("upload");
    app
}

async fn documents(db: &Database, collection: &str) -> Vec<Document> {
    db.collection::<Document>(collection)
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("collect")
}

async fn index_names(db: &Database, collection: &str) -> Vec<String> {
    let mut names = db
        .collection::<Document>(collection)
        .list_index_names()
        .await
        .expect("indexes");
    names.sort();
    names
}

async fn collection_names(db: &Database) -> Vec<String> {
    let mut names = db.list_collection_names().await.expect("collections");
    names.sort();
    names
}

#[tokio::test]
async fn a_backup_to_s3_restores_into_a_new_database_with_the_same_documents_and_indexes() {
    let endpoint = testenv("S3_ENDPOINT");
    let app = app_with_data().await;
    let db = app.store.db().name().to_string();
    let bucket = std::env::var("S3_BUCKET").expect("S3_BUCKET");
    let to = format!("s3://{bucket}/{}", unique("backups"));
    let backend =
        json!({"metadata": {"name": "shop", "namespace": "prod"}, "spec": {"image": "x"}});
    let backup = run(
        &db,
        &[
            "backup",
            "--to",
            &to,
            "--backend-spec",
            &backend.to_string(),
        ],
    );
    assert_eq!(backup.code, Some(0), "{}", backup.stderr);
    let report = &backup.report;
    assert_eq!(report["result"], "Succeeded", "{report}");
    let location = report["location"].as_str().expect("location").to_string();
    assert!(location.starts_with(&format!("{to}/20")), "{location}");
    assert_eq!(report["migrationVersion"], 5);
    assert_eq!(report["uploads"], 1);

    // The objects, in mongodump's layout, each matching the manifest's size and SHA-256.
    let s3 = merchant_api::backup::S3Args {
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        access_key_id: std::env::var("S3_ACCESS_KEY_ID").ok(),
        secret_access_key: std::env::var("S3_SECRET_ACCESS_KEY").ok(),
        ..Default::default()
    };
    let folder = merchant_api::backup::Location::parse(&location, &s3, false).expect("location");
    let objects = folder.objects().await.expect("list");
    let names: Vec<&str> = objects.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        format!("{db}/products.bson.gz"),
        format!("{db}/products.metadata.json.gz"),
        format!("{db}/merchants.bson.gz"),
        "manifest.json".into(),
        "backend.json".into(),
    ] {
        assert!(
            names.contains(&expected.as_str()),
            "{expected} not in {names:?}"
        );
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("uploads/") && n.ends_with("/photo.png"))
    );
    let manifest: Manifest = serde_json::from_slice(
        &folder
            .read_small("manifest.json")
            .await
            .expect("read")
            .expect("manifest"),
    )
    .expect("manifest json");
    assert_eq!(manifest.database, db);
    assert_eq!(manifest.backend.as_deref(), Some("prod/shop"));
    assert!(
        manifest
            .secret_fingerprints
            .contains_key("JWT_MERCHANT_SECRET")
    );
    let manifest_text = String::from_utf8(
        folder
            .read_small("manifest.json")
            .await
            .expect("should succeed")
            .expect("should succeed"),
    )
    .expect("should succeed");
    assert!(
        !manifest_text.contains(ACCESS_SECRET),
        "fingerprints, never values"
    );
    let products = manifest
        .collections
        .iter()
        .find(|c| c.name == "products")
        .expect("products");
    assert_eq!(products.documents, 25);
    for object in &manifest.objects {
        let bytes = folder
            .read_small(&object.path)
            .await
            .expect("read")
            .expect("object");
        assert_eq!(bytes.len() as u64, object.size, "{}", object.path);
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            object.sha256,
            "{}",
            object.path
        );
    }

    // Restore into a new database: the same documents and indexes, an identity of its own.
    let target = format!("{db}_r");
    let restore = run(
        &db,
        &[
            "restore",
            "--from",
            &location,
            "--db",
            &target,
            "--new-identity",
        ],
    );
    assert_eq!(restore.code, Some(0), "{}", restore.stderr);
    assert_eq!(restore.report["documents"], manifest.documents());
    let source = app.store.db();
    let restored = app.store.client().database(&target);
    let mut expected_collections = collection_names(source).await;
    expected_collections.retain(|c| c != "migrations_lock");
    assert_eq!(collection_names(&restored).await, expected_collections);
    for collection in &expected_collections {
        if collection != "database_identity" {
            assert_eq!(
                documents(&restored, collection).await,
                documents(source, collection).await,
                "{collection}"
            );
        }
        assert_eq!(
            index_names(&restored, collection).await,
            index_names(source, collection).await,
            "{collection}"
        );
    }
    let identity = |d: Vec<Document>| d[0].get_str("identity").expect("identity").to_string();
    let original = identity(documents(source, "database_identity").await);
    assert_ne!(
        identity(documents(&restored, "database_identity").await),
        original
    );
    assert_eq!(
        restore.report["identity"],
        identity(documents(&restored, "database_identity").await)
    );

    // Again without --drop: refused, naming the collection; with --drop: replaced.
    let again = run(&db, &["restore", "--from", &location, "--db", &target]);
    assert_eq!(again.code, Some(1));
    assert!(
        again.report["error"]
            .as_str()
            .expect("should succeed")
            .contains("already holds documents"),
        "{}",
        again.report
    );
    let replaced = run(
        &db,
        &["restore", "--from", &location, "--db", &target, "--drop"],
    );
    assert_eq!(replaced.code, Some(0), "{}", replaced.stderr);
    assert_eq!(documents(&restored, "products").await.len(), 25);

    // In place with the wrong expected identity: exit 3, nothing touched.
    let guarded = run(
        &db,
        &[
            "restore",
            "--from",
            &location,
            "--db",
            &db,
            "--drop",
            "--expect-identity",
            "someone-else",
        ],
    );
    assert_eq!(guarded.code, Some(3), "{}", guarded.stderr);
    assert_eq!(documents(source, "products").await.len(), 25);

    // In place (no --db: the serve database) with the right identity: replaced, identity kept.
    let in_place = run(
        &db,
        &[
            "restore",
            "--from",
            &location,
            "--drop",
            "--expect-identity",
            &original,
        ],
    );
    assert_eq!(in_place.code, Some(0), "{}", in_place.stderr);
    assert_eq!(in_place.report["database"], db.as_str());
    assert_eq!(in_place.report["identity"], original.as_str());
    assert_eq!(documents(source, "products").await.len(), 25);

    // verify: a trial restore into a scratch database, timed, recorded next to the backup.
    let verify = run(&db, &["verify", "--from", &to, "--latest"]);
    assert_eq!(verify.code, Some(0), "{}", verify.stderr);
    assert_eq!(verify.report["documents"], manifest.documents());
    assert!(verify.report["restoreSeconds"].as_f64().is_some());
    assert!(folder.exists("verification.json").await.expect("head"));
    assert!(!collection_names(source).await.is_empty());
    let scratch = merchant_api::backup::verify::scratch_name(&manifest);
    let all = app
        .store
        .client()
        .list_database_names()
        .await
        .expect("databases");
    assert!(!all.contains(&scratch), "the scratch database is dropped");

    restored.drop().await.expect("drop");
    folder.delete_all().await.expect("clean up");
    app.finish().await;
}

/// A backup of `app` into a fresh local directory; returns (parent dir, backup folder).
fn local_backup(db: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let to = dir.path().to_str().expect("utf-8").to_string();
    let backup = run(db, &["backup", "--to", &to]);
    assert_eq!(backup.code, Some(0), "{}", backup.stderr);
    let folder = dir.path().join(backup.report["id"].as_str().expect("id"));
    (dir, folder)
}

fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(path, bytes).expect("write");
}

#[tokio::test]
async fn damaged_or_incomplete_backups_are_refused_before_any_write_naming_the_object() {
    let app = app_with_data().await;
    let db = app.store.db().name().to_string();
    let (_dir, folder) = local_backup(&db);
    let from = folder.to_str().expect("should succeed").to_string();
    let target = format!("{db}_damaged");
    let client = app.store.client();

    // A flipped byte: verify fails naming the object; restore writes nothing.
    let products = folder.join(&db).join("products.bson.gz");
    let pristine = std::fs::read(&products).expect("read");
    flip_a_byte(&products);
    let verify = run(&db, &["verify", "--from", &from]);
    assert_eq!(verify.code, Some(1));
    let mismatches = verify.report["mismatches"].to_string();
    assert!(
        mismatches.contains("checksum mismatch") && mismatches.contains("products.bson.gz"),
        "{}",
        verify.report
    );
    let restore = run(&db, &["restore", "--from", &from, "--db", &target]);
    assert_eq!(restore.code, Some(1));
    assert!(
        restore.report["error"]
            .as_str()
            .expect("should succeed")
            .contains("products.bson.gz"),
        "{}",
        restore.report
    );
    assert!(
        !client
            .list_database_names()
            .await
            .expect("should succeed")
            .contains(&target),
        "nothing written"
    );

    // A missing object.
    std::fs::write(&products, &pristine).expect("restore file");
    let orders_meta = folder.join(&db).join("merchants.metadata.json.gz");
    std::fs::remove_file(&orders_meta).expect("remove");
    let missing = run(&db, &["restore", "--from", &from, "--db", &target]);
    assert_eq!(missing.code, Some(1));
    let error = missing.report["error"].as_str().expect("should succeed");
    assert!(
        error.contains("missing") && error.contains("merchants.metadata.json.gz"),
        "{error}"
    );

    // A manifest that lies about the content (same objects): the trial restore catches it.
    let (_dir2, folder2) = local_backup(&db);
    let manifest_path = folder2.join("manifest.json");
    let mut manifest: Manifest =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("should succeed"))
            .expect("should succeed");
    let products = manifest
        .collections
        .iter_mut()
        .find(|c| c.name == "products")
        .expect("should succeed");
    products.digest = format!("sha256-sum:{}", "0".repeat(64));
    std::fs::write(
        &manifest_path,
        serde_json::to_vec(&manifest).expect("should succeed"),
    )
    .expect("should succeed");
    let lied = run(
        &db,
        &[
            "verify",
            "--from",
            folder2.to_str().expect("should succeed"),
        ],
    );
    assert_eq!(lied.code, Some(1));
    assert!(
        lied.report["mismatches"]
            .to_string()
            .contains("products: restored content digest"),
        "{}",
        lied.report
    );
    let record: Value = serde_json::from_slice(
        &std::fs::read(folder2.join("verification.json")).expect("should succeed"),
    )
    .expect("should succeed");
    assert_eq!(record["result"], "Failed");

    // A backup that never finished.
    std::fs::remove_file(&manifest_path).expect("should succeed");
    let incomplete = run(
        &db,
        &[
            "restore",
            "--from",
            folder2.to_str().expect("should succeed"),
            "--db",
            &target,
        ],
    );
    assert_eq!(incomplete.code, Some(1));
    assert!(
        incomplete.report["error"]
            .as_str()
            .expect("should succeed")
            .contains("incomplete backup"),
        "{}",
        incomplete.report
    );
    assert!(
        !client
            .list_database_names()
            .await
            .expect("should succeed")
            .contains(&target),
        "nothing written"
    );
    app.finish().await;
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("should succeed");
    for entry in std::fs::read_dir(from).expect("should succeed") {
        let entry = entry.expect("should succeed");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("should succeed").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("should succeed");
        }
    }
}

fn folders(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("should succeed")
        .map(|e| {
            e.expect("should succeed")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn prune_deletes_only_what_retention_allows_and_keeps_the_newest_good_backups() {
    let app = app_with_data().await;
    let db = app.store.db().name().to_string();
    let (dir, newest) = local_backup(&db);
    let newest_id = newest
        .file_name()
        .expect("should succeed")
        .to_string_lossy()
        .into_owned();
    for old in ["20250101T020000Z", "20250201T020000Z", "20250301T020000Z"] {
        copy_tree(&newest, &dir.path().join(old));
    }
    // The newest old copy is damaged: it does not count as good.
    flip_a_byte(
        &dir.path()
            .join("20250301T020000Z")
            .join(&db)
            .join("products.bson.gz"),
    );
    // A folder that is not ours is never touched; neither is an old unfinished one's newer sibling.
    std::fs::create_dir_all(dir.path().join("notes")).expect("should succeed");
    std::fs::write(dir.path().join("notes/readme.txt"), "keep me").expect("should succeed");
    let at = dir.path().to_str().expect("should succeed");

    let dry = run(
        &db,
        &[
            "prune",
            "--at",
            at,
            "--retention-days",
            "30",
            "--min-backups",
            "2",
            "--dry-run",
        ],
    );
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert_eq!(
        dry.report["deleted"],
        json!(["20250101T020000Z", "20250301T020000Z"])
    );
    assert_eq!(folders(dir.path()).len(), 5, "a dry run deletes nothing");

    let pruned = run(
        &db,
        &[
            "prune",
            "--at",
            at,
            "--retention-days",
            "30",
            "--min-backups",
            "2",
        ],
    );
    assert_eq!(pruned.code, Some(0), "{}", pruned.stderr);
    assert_eq!(
        pruned.report["protected"],
        json!([newest_id, "20250201T020000Z"])
    );
    assert_eq!(
        folders(dir.path()),
        ["20250201T020000Z", newest_id.as_str(), "notes"]
    );

    // Bad input is a usage error, not a deletion.
    let bad = run(
        &db,
        &[
            "prune",
            "--at",
            at,
            "--retention-days",
            "0",
            "--min-backups",
            "2",
        ],
    );
    assert_eq!(bad.code, Some(2));
    assert_eq!(folders(dir.path()).len(), 3);
    app.finish().await;
}

/// Write `docs` as `mongodump --gzip` would: gzip'd concatenated BSON.
fn gzip_bson(path: &Path, docs: &[Document]) {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for d in docs {
        let mut bytes = Vec::new();
        d.to_writer(&mut bytes).expect("should succeed");
        encoder.write_all(&bytes).expect("should succeed");
    }
    std::fs::write(path, encoder.finish().expect("should succeed")).expect("should succeed");
}

fn gzip_text(path: &Path, text: &str) {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).expect("should succeed");
    std::fs::write(path, encoder.finish().expect("should succeed")).expect("should succeed");
}

#[tokio::test]
async fn a_plain_mongodump_gzip_folder_restores_with_its_indexes() {
    let app = spawn_app().await;
    let db = app.store.db().name().to_string();
    // `mongodump --gzip --out dump`: dump/<db>/<collection>.bson.gz and .metadata.json.gz,
    // metadata in canonical extended JSON (no manifest.json).
    let dump = tempfile::tempdir().expect("should succeed");
    let folder = dump.path().join("legacy");
    std::fs::create_dir_all(&folder).expect("should succeed");
    let items: Vec<Document> = (0..300)
        .map(|i| doc! { "_id": i, "sku": format!("SKU-{i:04}"), "price": f64::from(i) * 1.5 })
        .collect();
    gzip_bson(&folder.join("items.bson.gz"), &items);
    gzip_text(
        &folder.join("items.metadata.json.gz"),
        r#"{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"},{"v":{"$numberInt":"2"},"key":{"sku":{"$numberInt":"1"}},"name":"sku_1","unique":true}],"uuid":"0d5f1b1e2c3a4b5c8d9e0f1a2b3c4d5e","collectionName":"items","type":"collection"}"#,
    );
    gzip_bson(&folder.join("empty.bson.gz"), &[]);
    gzip_text(
        &folder.join("empty.metadata.json.gz"),
        r#"{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"}],"uuid":"","collectionName":"empty","type":"collection"}"#,
    );
    let target = format!("{db}_legacy");
    let restore = run(
        &db,
        &[
            "restore",
            "--from",
            dump.path().to_str().expect("should succeed"),
            "--db",
            &target,
        ],
    );
    assert_eq!(
        restore.code,
        Some(0),
        "{} {}",
        restore.stderr,
        restore.report
    );
    assert_eq!(restore.report["documents"], 300);
    let restored = app.store.client().database(&target);
    assert_eq!(documents(&restored, "items").await, items);
    assert_eq!(index_names(&restored, "items").await, ["_id_", "sku_1"]);
    assert!(
        collection_names(&restored)
            .await
            .contains(&"empty".to_string())
    );
    let duplicate = restored
        .collection::<Document>("items")
        .insert_one(doc! { "_id": 1000, "sku": "SKU-0001" })
        .await;
    assert!(duplicate.is_err(), "the unique index came back");

    // A truncated file in such a folder is refused before any write, naming it.
    let bytes = std::fs::read(folder.join("items.bson.gz")).expect("should succeed");
    std::fs::write(folder.join("items.bson.gz"), &bytes[..bytes.len() / 2])
        .expect("should succeed");
    let other = format!("{db}_legacy2");
    let cut = run(
        &db,
        &[
            "restore",
            "--from",
            dump.path().to_str().expect("should succeed"),
            "--db",
            &other,
        ],
    );
    assert_eq!(cut.code, Some(1));
    assert!(
        cut.report["error"]
            .as_str()
            .expect("should succeed")
            .contains("items.bson.gz"),
        "{}",
        cut.report
    );
    assert!(
        !app.store
            .client()
            .list_database_names()
            .await
            .expect("should succeed")
            .contains(&other)
    );
    restored.drop().await.expect("should succeed");
    app.finish().await;
}

#[tokio::test]
async fn migrate_plan_lists_pending_steps_with_phases_and_identity_guards_migrations() {
    let app = spawn_app().await;
    let db = app.store.db().name().to_string();
    let plan = run(&db, &["migrate", "plan", "--json"]);
    assert_eq!(plan.code, Some(0), "{}", plan.stderr);
    assert_eq!(plan.report["command"], "migrate-plan");
    assert_eq!(
        (
            plan.report["current"].clone(),
            plan.report["target"].clone()
        ),
        (json!(0), json!(5))
    );
    let pending = plan.report["pending"].as_array().expect("should succeed");
    assert_eq!(pending.len(), 5);
    assert_eq!(
        pending[0],
        json!({"version": 1, "name": "add-onboarding-to-merchants", "phase": "expand", "reversible": true})
    );

    let expand = run(&db, &["migrate", "up", "--phase", "expand"]);
    assert_eq!(expand.code, Some(0), "{}", expand.stderr);
    assert_eq!(expand.report["applied"], json!([1, 2, 3, 4, 5]));
    let identity = expand.report["identity"]
        .as_str()
        .expect("identity")
        .to_string();
    let after = run(&db, &["migrate", "plan", "--json"]);
    assert_eq!(after.report["current"], 5);
    assert_eq!(after.report["pending"], json!([]));
    assert_eq!(after.report["identity"], identity);

    let guarded = run(
        &db,
        &[
            "migrate",
            "down",
            "1",
            "--expect-identity",
            "not-this-database",
        ],
    );
    assert_eq!(guarded.code, Some(3));
    assert!(
        guarded.report["error"]
            .as_str()
            .expect("should succeed")
            .contains("expected not-this-database"),
        "{}",
        guarded.report
    );
    assert_eq!(
        run(&db, &["migrate", "plan", "--json"]).report["current"],
        5,
        "nothing reverted"
    );
    let allowed = run(
        &db,
        &["migrate", "down", "1", "--expect-identity", &identity],
    );
    assert_eq!(allowed.code, Some(0), "{}", allowed.stderr);
    assert_eq!(allowed.report["current"], 4);
    app.finish().await;
}

fn segments_in(dir: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(dir.join("changes")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect()
}

/// Wait (bounded) until captured segments reach cluster time `t`.
async fn captured_through(dir: &Path, t: i64) {
    for _ in 0..100 {
        if segments_in(dir)
            .iter()
            .any(|s| s["last"]["t"].as_i64() >= Some(t))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("capture did not reach t={t}: {:?}", segments_in(dir));
}

#[tokio::test]
async fn capture_and_restore_until_a_time_bring_back_the_data_as_it_was_then() {
    let app = app_with_data().await;
    let db = app.store.db().name().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let at = dir.path().to_str().expect("utf-8").to_string();
    let uri = std::env::var("MONGODB_URI").expect("MONGODB_URI");
    let mut capture = Command::new(BIN)
        .args([
            "capture",
            "--to",
            &at,
            "--segment-seconds",
            "1",
            "--for-seconds",
            "60",
        ])
        .env_clear()
        .env("MONGODB_URI", &uri)
        .env("MONGODB_DATABASE", &db)
        .env("LOG_LEVEL", "warn")
        .spawn()
        .expect("capture starts");
    let products = app.store.db().collection::<Document>("products");
    // Capture is running once a write shows up in a segment (it may take a moment to start).
    products
        .insert_one(
            doc! { "_id": "probe", "sku": "PROBE", "slug": "probe", "name": "probe", "beats": 0 },
        )
        .await
        .expect("insert");
    for _ in 0..100 {
        if !segments_in(dir.path()).is_empty() {
            break;
        }
        products
            .update_one(doc! { "_id": "probe" }, doc! { "$inc": { "beats": 1 } })
            .await
            .expect("beat");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert!(
        !segments_in(dir.path()).is_empty(),
        "capture never wrote a segment"
    );
    local_backup_into(&db, &at);
    // After the backup: an insert, an update with a removed field and a delete.
    products
        .insert_one(
            doc! { "_id": "late", "sku": "LATE", "slug": "late", "name": "added after the backup" },
        )
        .await
        .expect("insert");
    products
        .update_one(
            doc! { "_id": "probe" },
            doc! { "$set": { "name": "renamed" }, "$unset": { "unused": "" } },
        )
        .await
        .expect("update");
    let victim = documents(app.store.db(), "products").await[0]
        .get("_id")
        .cloned()
        .expect("id");
    products
        .delete_one(doc! { "_id": victim })
        .await
        .expect("delete");
    let expected = documents(app.store.db(), "products").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let until = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // The disaster, after the chosen time.
    products.delete_many(doc! {}).await.expect("disaster");
    captured_through(dir.path(), chrono::Utc::now().timestamp()).await;
    Command::new("kill")
        .args(["-TERM", &capture.id().to_string()])
        .status()
        .expect("kill");
    let status = capture.wait().expect("capture exits");
    assert!(
        status.success(),
        "capture stops cleanly on SIGTERM: {status}"
    );

    let target = format!("{db}_pitr");
    let until_text = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let restore = run(
        &db,
        &[
            "restore",
            "--from",
            &at,
            "--until",
            &until_text,
            "--db",
            &target,
        ],
    );
    assert_eq!(
        restore.code,
        Some(0),
        "{} {}",
        restore.stderr,
        restore.report
    );
    assert!(
        restore.report["replayedChanges"].as_u64() >= Some(3),
        "{}",
        restore.report
    );
    let restored = app.store.client().database(&target);
    assert_eq!(documents(&restored, "products").await, expected);

    // Retention: once a newer backup is the oldest kept, the segments before its snapshot go.
    let before = segments_in(dir.path()).len();
    local_backup_into(&db, &at);
    let newest_snapshot_t = chrono::Utc::now().timestamp();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let first = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("20"))
        .min()
        .expect("a backup");
    // Age the first backup past retention by renaming it to an old id.
    std::fs::rename(dir.path().join(&first), dir.path().join("20200101T000000Z")).expect("rename");
    let pruned = run(
        &db,
        &[
            "prune",
            "--at",
            &at,
            "--retention-days",
            "30",
            "--min-backups",
            "1",
        ],
    );
    assert_eq!(pruned.code, Some(0), "{}", pruned.stderr);
    assert_eq!(
        pruned.report["deleted"],
        json!(["20200101T000000Z"]),
        "{}",
        pruned.report
    );
    let left = segments_in(dir.path());
    assert!(
        left.len() < before,
        "{} of {before} segments left",
        left.len()
    );
    assert!(
        left.iter()
            .all(|s| s["last"]["t"].as_i64() >= Some(newest_snapshot_t - 2)),
        "{left:?}"
    );

    // A time before any backup: refused, nothing written.
    let early = run(
        &db,
        &[
            "restore",
            "--from",
            &at,
            "--until",
            "2020-01-01T00:00:00Z",
            "--db",
            &format!("{db}_early"),
        ],
    );
    assert_eq!(early.code, Some(1));
    assert!(
        early.report["error"]
            .as_str()
            .expect("error")
            .contains("no complete snapshot backup"),
        "{}",
        early.report
    );
    restored.drop().await.expect("drop");
    app.finish().await;
}

fn local_backup_into(db: &str, to: &str) -> String {
    let backup = run(db, &["backup", "--to", to]);
    assert_eq!(backup.code, Some(0), "{}", backup.stderr);
    assert_eq!(backup.report["consistency"], "snapshot");
    backup.report["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_in_bounded_memory_before_any_write() {
    use std::io::Write;
    let app = spawn_app().await;
    let db = app.store.db().name().to_string();
    // One gzip member of 1 MiB of valid documents, repeated: 192 MiB once decompressed from
    // a fifth of a megabyte, then a member ending inside a document (more than the cap below).
    let member = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).expect("compress");
        encoder.finish().expect("compress")
    };
    let mut block = Vec::new();
    let mut one = Vec::new();
    doc! { "pad": "x".repeat(1000) }
        .to_writer(&mut one)
        .expect("bson");
    while block.len() + one.len() <= 1 << 20 {
        block.extend_from_slice(&one);
    }
    let block = member(&block);
    let dump = tempfile::tempdir().expect("temp dir");
    let folder = dump.path().join("bomb");
    std::fs::create_dir_all(&folder).expect("dir");
    let mut file = std::fs::File::create(folder.join("big.bson.gz")).expect("create");
    for _ in 0..192 {
        file.write_all(&block).expect("write");
    }
    file.write_all(&member(&one[..one.len() - 10]))
        .expect("write");
    drop(file);

    let uri = std::env::var("MONGODB_URI").expect("MONGODB_URI");
    let target = format!("{db}_bomb");
    let script = format!(
        "ulimit -v 163840 && exec {BIN} restore --from {} --db {target}",
        dump.path().display()
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .env("MONGODB_URI", &uri)
        .env("MALLOC_ARENA_MAX", "2")
        .env("LOG_LEVEL", "warn")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("big.bson.gz") && stderr.contains("ends inside a document"),
        "{stderr}"
    );
    let databases = app
        .store
        .client()
        .list_database_names()
        .await
        .expect("databases");
    assert!(!databases.contains(&target), "nothing written");
    app.finish().await;
}
