//! Uploads (contract §2.12) and onboarding document uploads (§2.3): stored on the uploads
//! directory and on the local S3 server, typed by content, size-limited, served back with
//! caching headers, scoped to their merchant and removed with their product.

use mongodb::bson::{Document, doc, oid::ObjectId};
use reqwest::{
    StatusCode,
    multipart::{Form, Part},
};
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, spawn_app, spawn_app_with, testenv, unique, uploads_dir};

/// A PNG header (signature, IHDR with the size, IEND): all sniffing and sizing read.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    b.extend(b"IHDR");
    b.extend(width.to_be_bytes());
    b.extend(height.to_be_bytes());
    b.extend([8, 6, 0, 0, 0, 0x11, 0x22, 0x33, 0x44]);
    b.extend([0, 0, 0, 0]);
    b.extend(b"IEND");
    b.extend([0xae, 0x42, 0x60, 0x82]);
    b
}

fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec()
}

/// An MP4 whose `moov/mvhd` says 3 seconds.
fn mp4() -> Vec<u8> {
    let mut mvhd = vec![0u8; 12];
    mvhd.extend(1000u32.to_be_bytes());
    mvhd.extend(3000u32.to_be_bytes());
    mvhd.extend([0u8; 80]);
    let boxed = |kind: &[u8], body: &[u8]| {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend(kind);
        b.extend(body);
        b
    };
    let mut file = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2");
    file.extend(boxed(b"moov", &boxed(b"mvhd", &mvhd)));
    file
}

/// A file part with a client-chosen name and MIME type (both ignored by the server).
pub fn part(bytes: Vec<u8>, name: &str, mime: &str) -> Part {
    Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .expect("mime")
}

/// POST a multipart form.
pub async fn send_form(app: &TestApp, path: &str, token: Option<&str>, form: Form) -> Resp {
    let mut req = app
        .client
        .post(format!("{}{path}", app.address))
        .multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// GET raw bytes with optional extra headers.
async fn fetch(
    app: &TestApp,
    url: &str,
    token: Option<&str>,
    if_none_match: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let full = if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{url}", app.address)
    };
    let mut req = app.client.get(full);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    let res = req.send().await.expect("fetched");
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.expect("bytes").to_vec())
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Upload, serve (200 with headers, then 304), delete by another merchant (404) and by the
/// owner (200), then 404: the same flow for every storage back end.
async fn upload_serve_and_delete(app: &TestApp) {
    // Arrange
    let (owner, _, _) = app.register("files").await;
    let (other, _, _) = app.register("intruder").await;
    let image = png(640, 480);
    // Act
    let form = Form::new().part("image", part(image.clone(), "photo.png", "image/png"));
    let r = send_form(app, "/api/merchant/uploads/image", Some(&owner), form).await;
    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let data = &r.body["data"];
    assert_eq!(
        (data["width"].clone(), data["height"].clone()),
        (json!(640), json!(480))
    );
    assert_eq!(data["size"], json!(image.len()));
    assert_eq!(data["filename"], "photo.png");
    let url = data["url"].as_str().expect("url").to_string();
    let public_id = data["publicId"].as_str().expect("publicId").to_string();
    assert!(
        public_id.ends_with(".png") && public_id.len() == 36,
        "{public_id}"
    );
    let (status, headers, body) = fetch(app, &url, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, image);
    assert_eq!(header(&headers, "content-type"), "image/png");
    assert_eq!(header(&headers, "content-length"), image.len().to_string());
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert!(header(&headers, "cache-control").contains("max-age=31536000"));
    let etag = header(&headers, "etag").to_string();
    assert!(etag.starts_with('"'), "{etag:?}");
    let (status, _, body) = fetch(app, &url, None, Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    let part_of = |range: &'static str| {
        let url = if url.starts_with("http") {
            url.clone()
        } else {
            format!("{}{url}", app.address)
        };
        async move {
            let res = app
                .client
                .get(url)
                .header("range", range)
                .send()
                .await
                .expect("sent");
            let (status, headers) = (res.status(), res.headers().clone());
            (status, headers, res.bytes().await.expect("bytes").to_vec())
        }
    };
    let (status, headers, body) = part_of("bytes=0-7").await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, image[..8]);
    assert_eq!(
        header(&headers, "content-range"),
        format!("bytes 0-7/{}", image.len())
    );
    assert_eq!(header(&headers, "content-length"), "8");
    assert_eq!(
        part_of("bytes=100000-").await.0,
        StatusCode::RANGE_NOT_SATISFIABLE
    );
    let path = format!("/api/merchant/uploads/delete/{public_id}?type=image");
    let denied = app.delete(&path, Some(&other)).await;
    assert_eq!(denied.status, StatusCode::NOT_FOUND, "{}", denied.body);
    assert_eq!(
        fetch(app, &url, None, None).await.0,
        StatusCode::OK,
        "still there"
    );
    let wrong_type = app
        .delete(
            &format!("/api/merchant/uploads/delete/{public_id}?type=video"),
            Some(&owner),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::NOT_FOUND);
    let deleted = app.delete(&path, Some(&owner)).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body["message"], "File deleted successfully");
    assert_eq!(fetch(app, &url, None, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&path, Some(&owner)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn files_on_the_uploads_directory_are_served_back_and_only_their_merchant_deletes_them() {
    let app = spawn_app().await;
    upload_serve_and_delete(&app).await;
    app.finish().await;
}

#[tokio::test]
async fn files_in_the_s3_bucket_are_served_back_and_only_their_merchant_deletes_them() {
    let endpoint = testenv("S3_ENDPOINT");
    let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("{n} with S3_ENDPOINT"));
    let (bucket, region, id, key) = (
        var("S3_BUCKET"),
        var("S3_REGION"),
        var("S3_ACCESS_KEY_ID"),
        var("S3_SECRET_ACCESS_KEY"),
    );
    let args = [
        "--cloud-storage-provider",
        "s3",
        "--s3-endpoint",
        &endpoint,
        "--s3-bucket",
        &bucket,
        "--s3-region",
        &region,
        "--s3-access-key-id",
        &id,
        "--s3-secret-access-key",
        &key,
    ];
    let app = spawn_app_with(&args).await;
    upload_serve_and_delete(&app).await;
    // The local directory was not used.
    let dir = uploads_dir(app.store.db().name());
    assert!(
        std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none()),
        "{dir:?} is empty"
    );
    app.finish().await;
}

#[tokio::test]
async fn product_images_are_attached_to_the_product_and_deleted_with_it() {
    let app = spawn_app().await;
    // Arrange
    let (token, merchant, _) = app.register("gallery").await;
    let product = app.product(&token, "Gallery Mug", 3).await;
    let id = product["_id"].as_str().expect("id");
    // Act
    let form = Form::new()
        .text("productId", id.to_string())
        .part("images", part(png(10, 10), "a.png", "image/png"))
        .part("images", part(png(20, 30), "b.png", "image/png"));
    let r = send_form(
        &app,
        "/api/merchant/uploads/product-images",
        Some(&token),
        form,
    )
    .await;
    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let images = r.body["data"]["images"].as_array().expect("images").clone();
    assert_eq!(images.len(), 2);
    assert_eq!(images[1]["height"], 30);
    let urls: Vec<String> = images
        .iter()
        .map(|i| i["url"].as_str().expect("url").to_string())
        .collect();
    let shown = app
        .get(&format!("/api/merchant/products/{id}"), Some(&token))
        .await;
    assert_eq!(shown.body["data"]["images"], json!(urls));
    let dir = uploads_dir(app.store.db().name()).join(&merchant);
    let on_disk = |name: &Value| dir.join(name.as_str().expect("name")).exists();
    assert!(images.iter().all(|i| on_disk(&i["publicId"])));
    let single = Form::new()
        .text("productId", id.to_string())
        .part("image", part(png(5, 5), "c.png", "image/png"));
    let one = send_form(
        &app,
        "/api/merchant/uploads/product-image",
        Some(&token),
        single,
    )
    .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["data"]["format"], "png");
    let deleted = app
        .delete(&format!("/api/merchant/products/{id}"), Some(&token))
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert!(
        !images.iter().any(|i| on_disk(&i["publicId"])),
        "files removed with the product"
    );
    assert!(!on_disk(&one.body["data"]["publicId"]));
    for url in &urls {
        assert_eq!(fetch(&app, url, None, None).await.0, StatusCode::NOT_FOUND);
    }
    // Another merchant's product is not found, and nothing is stored for it.
    let (other, _, _) = app.register("other").await;
    let theirs = app.product(&other, "Their Mug", 1).await;
    let form = Form::new()
        .text("productId", theirs["_id"].as_str().expect("id").to_string())
        .part("image", part(png(5, 5), "c.png", "image/png"));
    let r = send_form(
        &app,
        "/api/merchant/uploads/product-image",
        Some(&token),
        form,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    app.finish().await;
}

#[tokio::test]
async fn wrong_types_and_oversize_files_are_rejected_whatever_the_client_claims() {
    let app = spawn_app().await;
    let (token, merchant, _) = app.register("types").await;
    let upload = |field: &'static str, bytes: Vec<u8>, name: &'static str, mime: &'static str| {
        Form::new().part(field, part(bytes, name, mime))
    };
    let image_path = "/api/merchant/uploads/product-image";
    let cases = [
        (
            "text labelled image/png",
            upload(
                "image",
                b"hello, not an image".to_vec(),
                "x.png",
                "image/png",
            ),
        ),
        (
            "pdf renamed .png",
            upload("image", pdf(), "photo.png", "image/png"),
        ),
        (
            "video as image",
            upload("image", mp4(), "clip.png", "image/png"),
        ),
    ];
    for (what, form) in cases {
        let r = send_form(&app, image_path, Some(&token), form).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.body);
        assert_eq!(
            r.body["message"], "Only image files are allowed (jpeg, jpg, png, gif, webp)",
            "{what}"
        );
    }
    let empty = send_form(
        &app,
        image_path,
        Some(&token),
        Form::new().text("productId", ""),
    )
    .await;
    assert_eq!(
        (empty.status, empty.body["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("No file uploaded"))
    );
    let not_multipart = app
        .post(image_path, Some(&token), json!({ "image": "x" }))
        .await;
    assert_eq!(not_multipart.status, StatusCode::BAD_REQUEST);
    let wrong_field = send_form(
        &app,
        image_path,
        Some(&token),
        upload("file", png(1, 1), "a.png", "image/png"),
    )
    .await;
    assert_eq!(wrong_field.status, StatusCode::BAD_REQUEST);
    let mut big = png(100, 100);
    big.resize(50 * 1024 * 1024 + 1, 0);
    let r = send_form(
        &app,
        image_path,
        Some(&token),
        upload("image", big, "big.png", "image/png"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["message"], "File too large. Maximum size is 50MB.");
    let video = send_form(
        &app,
        "/api/merchant/uploads/video",
        Some(&token),
        upload("video", png(2, 2), "v.mp4", "video/mp4"),
    )
    .await;
    assert_eq!(video.status, StatusCode::BAD_REQUEST, "{}", video.body);
    // Nothing of the above was stored.
    let dir = uploads_dir(app.store.db().name()).join(&merchant);
    assert!(
        std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none()),
        "{dir:?}"
    );
    let r = send_form(
        &app,
        "/api/merchant/uploads/image",
        None,
        upload("image", png(1, 1), "a.png", "image/png"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

#[tokio::test]
async fn a_video_reports_its_duration_and_format() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("video").await;
    let form = Form::new()
        .text("type", "product")
        .part("video", part(mp4(), "clip.bin", "application/octet-stream"));
    let r = send_form(&app, "/api/merchant/uploads/video", Some(&token), form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (
            r.body["data"]["duration"].clone(),
            r.body["data"]["format"].clone()
        ),
        (json!(3.0), json!("mp4"))
    );
    let url = r.body["data"]["url"].as_str().expect("url");
    let (status, headers, _) = fetch(&app, url, None, None).await;
    assert_eq!(
        (status, header(&headers, "content-type")),
        (StatusCode::OK, "video/mp4")
    );
    let bad = send_form(
        &app,
        "/api/merchant/uploads/video",
        Some(&token),
        Form::new()
            .text("type", "banner")
            .part("video", part(mp4(), "c.mp4", "video/mp4")),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    app.finish().await;
}

#[tokio::test]
async fn a_store_logo_updates_the_store_and_replaces_the_previous_file() {
    let app = spawn_app().await;
    let (token, merchant, _) = app.register("logo").await;
    let stores = app.store.db().collection::<Document>("stores");
    let merchant_id = ObjectId::parse_str(&merchant).expect("id");
    let mut previous: Option<String> = None;
    for (i, size) in [(1, 64), (2, 128)] {
        let form = Form::new().part("logo", part(png(size, size), "logo.png", "image/png"));
        let r = send_form(&app, "/api/merchant/uploads/store-logo", Some(&token), form).await;
        assert_eq!(r.status, StatusCode::OK, "upload {i}: {}", r.body);
        let url = r.body["data"]["url"].as_str().expect("url").to_string();
        let store = stores
            .find_one(doc! { "merchantId": merchant_id })
            .await
            .expect("query")
            .expect("store");
        assert_eq!(store.get_str("logo").ok(), Some(url.as_str()));
        if let Some(old) = &previous {
            assert_eq!(
                fetch(&app, old, None, None).await.0,
                StatusCode::NOT_FOUND,
                "old logo removed"
            );
        }
        previous = Some(url);
    }
    let banner = send_form(
        &app,
        "/api/merchant/uploads/store-banner",
        Some(&token),
        Form::new().part("banner", part(png(1200, 300), "b.png", "image/png")),
    )
    .await;
    assert_eq!(banner.status, StatusCode::OK, "{}", banner.body);
    let store = stores
        .find_one(doc! { "merchantId": merchant_id })
        .await
        .expect("query")
        .expect("store");
    assert_eq!(
        store.get_str("banner").ok(),
        banner.body["data"]["url"].as_str()
    );
    let foreign = send_form(
        &app,
        "/api/merchant/uploads/store-logo",
        Some(&token),
        Form::new()
            .text("storeId", ObjectId::new().to_hex())
            .part("logo", part(png(1, 1), "l.png", "image/png")),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    app.finish().await;
}

/// A staff member's token (staff lacks products:edit and settings:edit_basic).
pub async fn staff_token(app: &TestApp, merchant: &str) -> String {
    let users = app.store.db().collection::<Document>("merchantusers");
    let email = format!("{}@example.com", unique("staff"));
    let hash = bcrypt::hash("staff-pass", 4).expect("hash");
    users
        .insert_one(doc! { "merchantId": ObjectId::parse_str(merchant).expect("id"), "email": &email, "password": hash, "name": "Sam", "role": "staff", "permissions": [], "status": "active", "createdAt": mongodb::bson::DateTime::now() })
        .await
        .expect("member");
    let r = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "staff-pass" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"]["token"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn staff_cannot_upload_media_and_are_told_the_missing_permission() {
    let app = spawn_app().await;
    let (_, merchant, _) = app.register("perm").await;
    let staff = staff_token(&app, &merchant).await;
    for (path, field, required) in [
        (
            "/api/merchant/uploads/product-image",
            "image",
            "products:edit",
        ),
        (
            "/api/merchant/uploads/store-logo",
            "logo",
            "settings:edit_basic",
        ),
    ] {
        let form = Form::new().part(field, part(png(1, 1), "a.png", "image/png"));
        let r = send_form(&app, path, Some(&staff), form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert_eq!(
            (r.body["required"].clone(), r.body["userRole"].clone()),
            (json!(required), json!("staff"))
        );
    }
    app.finish().await;
}

#[tokio::test]
async fn onboarding_documents_are_uploaded_privately_listed_as_pending_and_deleted_with_their_file()
{
    let app = spawn_app().await;
    // Arrange
    let (token, merchant, _) = app.register("docs").await;
    let (other, _, _) = app.register("docs-other").await;
    let staff = staff_token(&app, &merchant).await;
    let path = "/api/merchant/onboarding/documents/upload";
    // Act: a PNG sent as "scan.pdf"/application/pdf is stored and served as what it is.
    let form = Form::new().text("documentType", "id_proof").part(
        "document",
        part(png(300, 200), "scan.pdf", "application/pdf"),
    );
    let r = send_form(&app, path, Some(&token), form).await;
    // Assert
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let doc = r.body["data"]["document"].clone();
    assert_eq!(
        (doc["type"].clone(), doc["status"].clone()),
        (json!("id_proof"), json!("pending"))
    );
    let url = doc["url"].as_str().expect("url").to_string();
    assert!(
        url.starts_with("/api/merchant/uploads/private/") && url.ends_with(".png"),
        "{url}"
    );
    let pdf_form = Form::new()
        .text("documentType", "gst_certificate")
        .part("document", part(pdf(), "gst.pdf", "application/pdf"));
    assert_eq!(
        send_form(&app, path, Some(&token), pdf_form).await.status,
        StatusCode::CREATED
    );
    let listed = app
        .get("/api/merchant/onboarding/documents", Some(&token))
        .await;
    let docs = listed.body["data"]["documents"]
        .as_array()
        .expect("documents")
        .clone();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["url"], json!(url));
    let (status, headers, _) = fetch(&app, &url, Some(&token), None).await;
    assert_eq!(
        (status, header(&headers, "content-type")),
        (StatusCode::OK, "image/png")
    );
    assert!(header(&headers, "cache-control").starts_with("private"));
    assert_eq!(
        fetch(&app, &url, None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A KYC document is not for staff (no settings:view).
    assert_eq!(
        fetch(&app, &url, Some(&staff), None).await.0,
        StatusCode::FORBIDDEN,
        "staff"
    );
    assert_eq!(
        fetch(&app, &url, Some(&other), None).await.0,
        StatusCode::NOT_FOUND,
        "other merchant"
    );
    let theirs = app
        .get("/api/merchant/onboarding/documents", Some(&other))
        .await;
    assert_eq!(
        theirs.body["data"]["documents"],
        json!([]),
        "lists are per merchant"
    );
    // Errors: bad type value, missing type, wrong content, oversize.
    let bad_type = send_form(
        &app,
        path,
        Some(&token),
        Form::new()
            .text("documentType", "passport")
            .part("document", part(pdf(), "a.pdf", "application/pdf")),
    )
    .await;
    assert_eq!(
        (bad_type.status, bad_type.body["errors"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("documentType"))
    );
    let no_type = send_form(
        &app,
        path,
        Some(&token),
        Form::new().part("document", part(pdf(), "a.pdf", "application/pdf")),
    )
    .await;
    assert_eq!(no_type.status, StatusCode::BAD_REQUEST);
    let text = send_form(
        &app,
        path,
        Some(&token),
        Form::new().text("documentType", "pan_card").part(
            "document",
            part(b"plain text".to_vec(), "a.pdf", "application/pdf"),
        ),
    )
    .await;
    assert_eq!(
        (text.status, text.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("Only jpeg, jpg, png, gif and pdf files are allowed")
        )
    );
    let mut big = pdf();
    big.resize(10 * 1024 * 1024 + 1, b' ');
    let over = send_form(
        &app,
        path,
        Some(&token),
        Form::new()
            .text("documentType", "pan_card")
            .part("document", part(big, "a.pdf", "application/pdf")),
    )
    .await;
    assert_eq!(
        (over.status, over.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("File too large. Maximum size is 10MB.")
        )
    );
    // Deleting the entry deletes the file.
    let deleted = app
        .delete("/api/merchant/onboarding/documents/0", Some(&token))
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(
        fetch(&app, &url, Some(&token), None).await.0,
        StatusCode::NOT_FOUND
    );
    let left = app
        .get("/api/merchant/onboarding/documents", Some(&token))
        .await;
    assert_eq!(
        left.body["data"]["documents"].as_array().map(Vec::len),
        Some(1)
    );
    app.finish().await;
}

/// Settings of a test app storing uploads in the local S3 server.
fn s3_args() -> Vec<String> {
    let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("{n} with S3_ENDPOINT"));
    [
        ("--cloud-storage-provider", "s3".to_string()),
        ("--s3-endpoint", testenv("S3_ENDPOINT")),
        ("--s3-bucket", var("S3_BUCKET")),
        ("--s3-region", var("S3_REGION")),
        ("--s3-access-key-id", var("S3_ACCESS_KEY_ID")),
        ("--s3-secret-access-key", var("S3_SECRET_ACCESS_KEY")),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_string(), value])
    .collect()
}

/// Names of the objects stored under `merchant` in the test bucket.
async fn s3_objects(merchant: &str) -> Vec<String> {
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    let var = |n: &str| std::env::var(n).expect("S3 settings");
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(testenv("S3_ENDPOINT"))
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_bucket_name(var("S3_BUCKET"))
        .with_region(var("S3_REGION"))
        .with_access_key_id(var("S3_ACCESS_KEY_ID"))
        .with_secret_access_key(var("S3_SECRET_ACCESS_KEY"))
        .build()
        .expect("s3 client");
    let prefix = object_store::path::Path::from(merchant);
    store
        .list(Some(&prefix))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list")
}

/// A multipart body with one `image` part: a PNG header padded with zeros to `size` bytes.
fn image_body(size: usize) -> (String, Vec<u8>) {
    let boundary = "----merchant-stream-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    let start = body.len();
    body.extend(png(100, 100));
    body.resize(start + size, 0);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// POST `body` without a `Content-Length` (chunked, in 1 MiB pieces).
async fn send_chunked(
    app: &TestApp,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Resp {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(1024 * 1024).map(|c| Ok(c.to_vec())).collect();
    let res = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await
        .expect("sent");
    let status = res.status();
    let headers = res.headers().clone();
    let body = serde_json::from_str(&res.text().await.expect("body")).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

/// A large file is streamed to storage and served back whole; a file over its limit, sent
/// without `Content-Length` so that parts of it reach storage first, is refused and leaves
/// nothing behind; one declared over the route's limit is a 413 before anything is read.
async fn large_uploads_stream_and_oversize_ones_leave_nothing(
    app: &TestApp,
    stored: impl AsyncFn(&str) -> Vec<String>,
) {
    let (token, merchant, _) = app.register("stream").await;
    let path = "/api/merchant/uploads/image";
    let (content_type, body) = image_body(20 * 1024 * 1024);
    let r = send_chunked(app, path, &token, &content_type, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["size"], 20 * 1024 * 1024);
    assert_eq!(r.body["data"]["width"], 100);
    let url = r.body["data"]["url"].as_str().expect("url").to_string();
    let (status, _, served) = fetch(app, &url, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served.len(), 20 * 1024 * 1024);
    assert_eq!(&served[..8], &png(100, 100)[..8]);
    let before = stored(&merchant).await;
    assert_eq!(before.len(), 1, "{before:?}");
    // Over the file limit, streamed: refused once 50 MB went past.
    let (content_type, body) = image_body(50 * 1024 * 1024 + 1);
    let r = send_chunked(app, path, &token, &content_type, body).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("File too large. Maximum size is 50MB.")
        )
    );
    // Declared over the route's limit: 413 naming it.
    let (content_type, body) = image_body(52 * 1024 * 1024);
    let r = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(&token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let mut body: Value = r.json().await.expect("json");
    let id = body.as_object_mut().and_then(|b| b.remove("requestId"));
    assert!(id.is_some_and(|id| id.is_string()), "requestId in {body}");
    assert_eq!(
        body,
        json!({
            "success": false,
            "message": "Request body too large. Maximum size is 51mb.",
            "code": "PAYLOAD_TOO_LARGE"
        })
    );
    assert_eq!(
        stored(&merchant).await,
        before,
        "nothing left by the refused files"
    );
}

#[tokio::test]
async fn large_uploads_stream_to_the_uploads_directory_and_oversize_ones_leave_nothing() {
    let app = spawn_app().await;
    let dir = uploads_dir(app.store.db().name());
    let listing = async |merchant: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(merchant))
            .map(|d| {
                d.map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    large_uploads_stream_and_oversize_ones_leave_nothing(&app, listing).await;
    app.finish().await;
}

#[tokio::test]
async fn large_uploads_stream_to_s3_and_oversize_ones_leave_nothing() {
    let args = s3_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = spawn_app_with(&args).await;
    let listing = async |merchant: &str| -> Vec<String> {
        let mut names = s3_objects(merchant).await;
        names.sort();
        names
    };
    large_uploads_stream_and_oversize_ones_leave_nothing(&app, listing).await;
    app.finish().await;
}
