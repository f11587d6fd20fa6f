//! Bulk product files (contract §2.6): CSV/XLSX template and export, row-by-row validation and
//! all-or-nothing import, export of what import wrote, isolation between merchants.

use std::io::Cursor;

use calamine::{Data, Reader, open_workbook_auto_from_rs};
use reqwest::{StatusCode, multipart::Form};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_app},
    uploads::{part, png, send_form, staff_token},
};

async fn download(
    app: &TestApp,
    path: &str,
    token: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let res = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent");
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.expect("bytes").to_vec())
}

/// Rows of a CSV file, header included.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.expect("csv record").iter().map(str::to_string).collect())
        .collect()
}

/// Rows of the first sheet of an XLSX file, header included, numbers as text.
fn xlsx_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes.to_vec())).expect("workbook");
    let range = book
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("readable");
    range
        .rows()
        .map(|row| {
            row.iter()
                .map(|c| match c {
                    Data::Empty => String::new(),
                    Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

async fn import(
    app: &TestApp,
    token: &str,
    path: &str,
    bytes: Vec<u8>,
    name: &str,
) -> crate::helpers::Resp {
    let form = Form::new().part("file", part(bytes, name, "text/csv"));
    send_form(
        app,
        &format!("/api/merchant/bulk/products/{path}"),
        Some(token),
        form,
    )
    .await
}

async fn product_count(app: &TestApp, token: &str) -> u64 {
    let r = app
        .get("/api/merchant/products?limit=100", Some(token))
        .await;
    r.body["data"]["pagination"]["totalCount"]
        .as_u64()
        .expect("count")
}

#[tokio::test]
async fn the_template_downloads_as_csv_and_xlsx_and_parses_back() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("template").await;
    let header = "name,description,shortDescription,price,compareAtPrice,category,subcategory,brand,sku,barcode,stock,lowStockThreshold,weight,tags,status,visibility,cashbackPercentage,imageUrl";
    let (status, headers, csv) =
        download(&app, "/api/merchant/bulk/products/template", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"product-import-template.csv\""
    );
    let rows = csv_rows(&csv);
    assert_eq!(rows[0].join(","), header);
    assert_eq!(rows.len(), 2, "header and one example");
    let (status, headers, xlsx) = download(
        &app,
        "/api/merchant/bulk/products/template?format=xlsx",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ct")
            .contains("spreadsheetml")
    );
    let rows_x = xlsx_rows(&xlsx);
    assert_eq!(rows_x, rows, "the two formats hold the same cells");
    // The example row itself validates.
    let check = import(&app, &token, "validate", csv, "t.csv").await;
    assert_eq!(
        (check.status, check.body["data"]["valid"].clone()),
        (StatusCode::OK, json!(true)),
        "{}",
        check.body
    );
    let bad = app
        .get(
            "/api/merchant/bulk/products/template?format=pdf",
            Some(&token),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("Invalid format. Use \"csv\" or \"xlsx\"")
        )
    );
    app.finish().await;
}

#[tokio::test]
async fn a_file_with_bad_rows_reports_each_row_and_imports_nothing_then_a_clean_file_imports_all() {
    let app = spawn_app().await;
    // Arrange: one existing product whose SKU the file reuses.
    let (token, _, _) = app.register("import").await;
    let existing = app.product(&token, "Existing Lamp", 2).await;
    let taken = existing["sku"].as_str().expect("sku");
    let bad_file = format!(
        "name,description,price,category,stock,sku,tags,status\n\
         Good One,A perfectly fine product,10,General,5,IMP-1,\"a,b\",active\n\
         Bad Price,A product with a bad price,ten,General,5,IMP-2,,active\n\
         Unknown Cat,A product in no known category,3,Nope,1,IMP-3,,\n\
         Dup Sku,Same SKU as the first row,4,General,2,IMP-1,,\n\
         Taken Sku,SKU of an existing product,4,General,2,{taken},,\n\
         Short,tiny,4,General,-2,,,\n"
    );
    // Act
    let checked = import(
        &app,
        &token,
        "validate",
        bad_file.clone().into_bytes(),
        "p.csv",
    )
    .await;
    let r = import(&app, &token, "import", bad_file.into_bytes(), "p.csv").await;
    // Assert
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["success"], false);
    assert_eq!(
        checked.body["data"], r.body["data"],
        "validate and import report the same"
    );
    let report = &r.body["data"];
    assert_eq!(
        (
            report["totalRows"].clone(),
            report["validRows"].clone(),
            report["invalidRows"].clone()
        ),
        (json!(6), json!(1), json!(5))
    );
    let cells: Vec<(u64, String)> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().expect("row"),
                e["column"].as_str().expect("column").to_string(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = [
        (3, "price"),
        (4, "category"),
        (5, "sku"),
        (6, "sku"),
        (7, "description"),
        (7, "stock"),
    ]
    .iter()
    .map(|(r, c)| (*r, c.to_string()))
    .collect();
    assert_eq!(cells, expected, "{report}");
    let messages: Vec<&str> = report["errors"]
        .as_array()
        .expect("e")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"Duplicate SKU in file (first used on row 2)"),
        "{messages:?}"
    );
    assert!(messages.contains(&"SKU already exists"), "{messages:?}");
    assert!(
        messages.contains(&"\"price\" must be a number"),
        "{messages:?}"
    );
    assert_eq!(product_count(&app, &token).await, 1, "nothing was imported");
    // A clean file: all rows go in, a missing SKU is generated.
    let clean = "name,description,price,compareAtPrice,category,stock,sku,tags,status\n\
                 Good One,A perfectly fine product,10,12,General,5,IMP-1,\"a,b\",active\n\
                 Good Two,Another fine product here,3.5,,general,0,IMP-2,,draft\n\
                 Good Three,A product without any SKU,7,,General,9,,,\n";
    let ok = import(
        &app,
        &token,
        "import",
        clean.as_bytes().to_vec(),
        "clean.csv",
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["data"]["imported"], 3);
    let generated = ok.body["data"]["products"][2]["sku"]
        .as_str()
        .expect("generated sku");
    assert!(generated.starts_with("GOO"), "{generated}");
    assert_eq!(product_count(&app, &token).await, 4);
    let again = import(
        &app,
        &token,
        "import",
        clean.as_bytes().to_vec(),
        "clean.csv",
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::BAD_REQUEST,
        "re-importing reuses SKUs: {}",
        again.body
    );
    assert_eq!(product_count(&app, &token).await, 4);
    app.finish().await;
}

fn xlsx_file(rows: &[Vec<Value>]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            match v {
                Value::Number(n) => sheet.write_number(r, c, n.as_f64().expect("f64")).map(drop),
                Value::String(s) => sheet.write_string(r, c, s).map(drop),
                _ => Ok(()),
            }
            .expect("cell");
        }
    }
    book.save_to_buffer().expect("xlsx")
}

#[tokio::test]
async fn export_returns_what_an_xlsx_import_wrote_and_only_the_callers_products() {
    let app = spawn_app().await;
    // Arrange: import two products from an XLSX file.
    let (token, _, _) = app.register("export").await;
    let (other, _, _) = app.register("export-other").await;
    app.product(&other, "Not Yours", 1).await;
    let header = [
        "name",
        "description",
        "price",
        "compareAtPrice",
        "category",
        "brand",
        "sku",
        "stock",
        "lowStockThreshold",
        "weight",
        "tags",
        "status",
        "visibility",
        "cashbackPercentage",
    ];
    let file = xlsx_file(&[
        header.iter().map(|h| json!(h)).collect(),
        vec![
            json!("Desk Lamp"),
            json!("An adjustable LED desk lamp"),
            json!(39.5),
            json!(45),
            json!("General"),
            json!("Lumo"),
            json!("LAMP-01"),
            json!(12),
            json!(3),
            json!(1.2),
            json!("light,desk"),
            json!("active"),
            json!("featured"),
            json!(5),
        ],
        vec![
            json!("Lamp Shade"),
            json!("A linen shade for the desk lamp"),
            json!(9),
            json!(""),
            json!("General"),
            json!(""),
            json!("SHADE-01"),
            json!(40),
            json!(""),
            json!(""),
            json!(""),
            json!("draft"),
            json!(""),
            json!(""),
        ],
    ]);
    let r = import(&app, &token, "import", file, "products.xlsx").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Act
    let (status, headers, csv) = download(&app, "/api/merchant/bulk/products/export", &token).await;
    let (xstatus, _, xlsx) = download(
        &app,
        "/api/merchant/bulk/products/export?format=excel",
        &token,
    )
    .await;
    // Assert
    assert_eq!((status, xstatus), (StatusCode::OK, StatusCode::OK));
    let disposition = headers["content-disposition"].to_str().expect("cd");
    assert!(
        disposition.starts_with("attachment; filename=\"products-export-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let rows = csv_rows(&csv);
    assert_eq!(rows, xlsx_rows(&xlsx), "csv and xlsx exports agree");
    assert_eq!(rows[0].len(), 17, "the template's columns without imageUrl");
    let col = |name: &str| rows[0].iter().position(|h| h == name).expect(name);
    assert_eq!(
        rows.len(),
        3,
        "header and the caller's two products only: {rows:?}"
    );
    let lamp = &rows[1];
    let expect = [
        ("name", "Desk Lamp"),
        ("price", "39.5"),
        ("compareAtPrice", "45"),
        ("category", "General"),
        ("brand", "Lumo"),
        ("sku", "LAMP-01"),
        ("stock", "12"),
        ("lowStockThreshold", "3"),
        ("weight", "1.2"),
        ("tags", "light,desk"),
        ("status", "active"),
        ("visibility", "featured"),
        ("cashbackPercentage", "5"),
    ];
    for (c, v) in expect {
        assert_eq!(lamp[col(c)], v, "{c}");
    }
    let shade = &rows[2];
    for (c, v) in [
        ("name", "Lamp Shade"),
        ("sku", "SHADE-01"),
        ("compareAtPrice", ""),
        ("lowStockThreshold", "5"),
        ("status", "draft"),
        ("visibility", "public"),
    ] {
        assert_eq!(shade[col(c)], v, "{c}");
    }
    let (_, _, theirs) = download(&app, "/api/merchant/bulk/products/export", &other).await;
    let their_rows = csv_rows(&theirs);
    assert_eq!(their_rows.len(), 2);
    assert_eq!(their_rows[1][0], "Not Yours");
    app.finish().await;
}

#[tokio::test]
async fn import_refuses_non_sheets_missing_columns_oversize_files_and_staff() {
    let app = spawn_app().await;
    let (token, merchant, _) = app.register("refuse").await;
    let r = import(&app, &token, "import", png(2, 2), "products.csv").await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("Only CSV and Excel files (.csv, .xls, .xlsx) are allowed")
        )
    );
    let r = import(
        &app,
        &token,
        "import",
        b"name,description,category,stock\nA,Long enough text,General,1\n".to_vec(),
        "p.csv",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "price");
    let mut big = b"name,description,price,category,stock\n".to_vec();
    big.resize(10 * 1024 * 1024 + 1, b'\n');
    let r = import(&app, &token, "validate", big, "big.csv").await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("File too large. Maximum size is 10MB.")
        )
    );
    let none = send_form(
        &app,
        "/api/merchant/bulk/products/import",
        Some(&token),
        Form::new().text("x", "y"),
    )
    .await;
    assert_eq!(
        (none.status, none.body["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("No file uploaded"))
    );
    let staff = staff_token(&app, &merchant).await;
    let denied = import(&app, &staff, "import", b"name\n".to_vec(), "p.csv").await;
    assert_eq!(
        (denied.status, denied.body["required"].clone()),
        (StatusCode::FORBIDDEN, json!("products:bulk_import"))
    );
    let export = app
        .get("/api/merchant/bulk/products/export", Some(&staff))
        .await;
    assert_eq!(
        (export.status, export.body["required"].clone()),
        (StatusCode::FORBIDDEN, json!("products:export"))
    );
    app.finish().await;
}

#[tokio::test]
async fn bulk_update_changes_only_the_filled_cells_of_the_callers_products_or_nothing() {
    let app = spawn_app().await;
    // Arrange: two products, and another merchant's product.
    let (token, _, _) = app.register("update").await;
    let (other, _, _) = app.register("update-other").await;
    let a = app.product(&token, "Blue Cup", 5).await;
    let b = app.product(&token, "Red Cup", 8).await;
    let theirs = app.product(&other, "Green Cup", 1).await;
    let (sku_a, sku_b) = (a["sku"].as_str().expect("a"), b["sku"].as_str().expect("b"));
    let sku_theirs = theirs["sku"].as_str().expect("theirs");
    let bad = format!(
        "sku,price,stock,status\n{sku_a},12,,\n{sku_b},cheap,,\n{sku_theirs},1,,\nNOPE-1,1,,\n"
    );
    // Act
    let r = import(&app, &token, "bulk-update", bad.into_bytes(), "u.csv").await;
    // Assert: every problem by row; nothing changed, not even the valid first row.
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let cells: Vec<(u64, &str)> = r.body["data"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().expect("row"),
                e["column"].as_str().expect("col"),
            )
        })
        .collect();
    assert_eq!(cells, [(3, "price"), (4, "sku"), (5, "sku")], "{}", r.body);
    let path_a = format!("/api/merchant/products/{}", a["_id"].as_str().expect("id"));
    let path_b = format!("/api/merchant/products/{}", b["_id"].as_str().expect("id"));
    assert_eq!(
        app.get(&path_a, Some(&token)).await.body["data"]["pricing"]["selling"],
        10.0
    );
    // A clean file: only the filled cells change.
    let good = format!(
        "sku,price,compareAtPrice,stock,status,name\n{sku_a},12,15,,,\n{sku_b},,,20,draft,Crimson Cup\n"
    );
    let r = import(&app, &token, "bulk-update", good.into_bytes(), "u.csv").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["updated"], 2);
    let pa = app.get(&path_a, Some(&token)).await.body["data"].clone();
    assert_eq!(
        (
            pa["pricing"]["selling"].clone(),
            pa["pricing"]["original"].clone(),
            pa["pricing"]["discount"].clone()
        ),
        (json!(12.0), json!(15.0), json!(20.0))
    );
    assert_eq!(
        (
            pa["inventory"]["stock"].clone(),
            pa["status"].clone(),
            pa["name"].clone()
        ),
        (json!(5), json!("active"), json!("Blue Cup"))
    );
    let pb = app.get(&path_b, Some(&token)).await.body["data"].clone();
    assert_eq!(
        (
            pb["inventory"]["stock"].clone(),
            pb["status"].clone(),
            pb["isActive"].clone(),
            pb["name"].clone()
        ),
        (
            json!(20),
            json!("draft"),
            json!(false),
            json!("Crimson Cup")
        )
    );
    assert_eq!(pb["pricing"]["selling"], 10.0);
    let missing_sku = import(&app, &token, "bulk-update", b"price\n3\n".to_vec(), "u.csv").await;
    assert_eq!(
        (
            missing_sku.status,
            missing_sku.body["errors"][0]["field"].clone()
        ),
        (StatusCode::BAD_REQUEST, json!("sku"))
    );
    app.finish().await;
}

/// A test app whose database lives on FerretDB v1 (no transactions, no TTL or partial indexes),
/// and a store handle on that same database. A missing FerretDB fails the test
/// (`scripts/testenv up ferretdb` starts it; `up all` includes it).
async fn ferret_app() -> (TestApp, merchant_api::store::Store) {
    crate::helpers::spawn_app_on("FERRETDB_URI").await
}

/// FerretDB v1 has no transactions: import and bulk update take the insert-and-compensate path.
#[tokio::test]
async fn import_and_bulk_update_work_on_a_server_without_transactions() {
    let (app, ferret) = ferret_app().await;
    let (token, _, _) = app.register("ferret").await;
    let file = "name,description,price,category,stock,sku\n\
                Ferret Cup,A cup imported without transactions,4,General,3,FER-1\n\
                Ferret Mug,A mug imported without transactions,6,General,2,FER-2\n";
    let r = import(&app, &token, "import", file.as_bytes().to_vec(), "f.csv").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(product_count(&app, &token).await, 2);
    let r = import(
        &app,
        &token,
        "bulk-update",
        b"sku,stock\nFER-1,30\nFER-2,40\n".to_vec(),
        "u.csv",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (_, _, csv) = download(&app, "/api/merchant/bulk/products/export", &token).await;
    let rows = csv_rows(&csv);
    let stock = rows[0].iter().position(|h| h == "stock").expect("stock");
    assert_eq!(
        (rows[1][stock].as_str(), rows[2][stock].as_str()),
        ("30", "40")
    );
    let _ = ferret.db().drop().await;
    app.finish().await;
}

/// The failure branch of the no-transaction path: an insert that fails part-way (a SKU taken
/// after the file was checked, as by a concurrent import) leaves none of the file's products.
#[tokio::test]
async fn an_insert_failing_mid_import_without_transactions_leaves_no_products_behind() {
    use futures::TryStreamExt;
    use merchant_api::store::{ObjectId, products::ProductDoc};
    use mongodb::bson::doc;
    // Arrange: two products on FerretDB; a 300-product batch whose 200th SKU is the second's.
    let (app, ferret) = ferret_app().await;
    let (token, _, _) = app.register("ferret-fail").await;
    app.product(&token, "Template", 5).await;
    app.product(&token, "Taken", 5).await;
    let products = ferret.db().collection::<ProductDoc>("products");
    let existing: Vec<ProductDoc> = products
        .find(doc! {})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("collect");
    assert_eq!(existing.len(), 2);
    let (template, taken) = (&existing[0], &existing[1]);
    let batch: Vec<ProductDoc> = (0..300)
        .map(|i| ProductDoc {
            id: ObjectId::new(),
            sku: if i == 199 {
                taken.sku.clone()
            } else {
                format!("FAIL-{i}")
            },
            slug: format!("fail-{i}"),
            ..template.clone()
        })
        .collect();

    // Act: the server rejects the 200th insert after the first 199 were written.
    let result = ferret.insert_products_atomically(&batch).await;

    // Assert: the error is the duplicate key, and the 199 written before it are gone again.
    let e = result.expect_err("duplicate SKU");
    assert!(e.is_duplicate_key(), "{e:?}");
    let ids: Vec<ObjectId> = batch.iter().map(|p| p.id).collect();
    let left = products
        .count_documents(doc! { "_id": { "$in": ids } })
        .await
        .expect("count");
    assert_eq!(left, 0, "partial import left behind");
    assert_eq!(products.count_documents(doc! {}).await.expect("count"), 2);
    let _ = ferret.db().drop().await;
    app.finish().await;
}

/// A CSV of `n` valid product rows with SKUs `{prefix}-{i}`.
fn many_rows(n: usize, prefix: &str) -> Vec<u8> {
    let mut csv = String::from("name,description,price,category,stock,sku\n");
    for i in 0..n {
        csv.push_str(&format!(
            "Item {i},A product imported in bulk,{}.50,General,{},{prefix}-{i}\n",
            1 + i % 90,
            i % 40
        ));
    }
    csv.into_bytes()
}

/// Validate then import 5,000 rows, check every product arrived, print the two durations.
async fn time_5000_row_import(app: &TestApp, server: &str) {
    let (token, _, _) = app.register("bulk-5000").await;
    let file = many_rows(5000, "BIG");
    let started = std::time::Instant::now();
    let r = import(app, &token, "validate", file.clone(), "big.csv").await;
    let validated = started.elapsed();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let started = std::time::Instant::now();
    let r = import(app, &token, "import", file, "big.csv").await;
    let imported = started.elapsed();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["imported"], json!(5000));
    assert_eq!(product_count(app, &token).await, 5000);
    eprintln!("{server}, 5000 rows: validate {validated:.2?}, import {imported:.2?}");
}

/// Timing of a 5,000-row import (debug build) on the main test server; not run by default:
/// `CI=true cargo test -p merchant-api --test api -- --ignored --nocapture import_of_5000_rows`
#[tokio::test]
#[ignore = "timing run: a 5,000-row import takes seconds"]
async fn import_of_5000_rows_is_timed_and_complete() {
    // SecantusDB stores a few hundred documents a second: allow more than the default 30 s.
    let app = crate::helpers::spawn_app_with(&["--request-timeout-secs", "300"]).await;
    time_5000_row_import(&app, "SecantusDB").await;
    app.finish().await;
}

/// The same timing on FerretDB (no transactions).
#[tokio::test]
#[ignore = "timing run: a 5,000-row import takes seconds"]
async fn import_of_5000_rows_is_timed_and_complete_on_ferretdb() {
    let (app, ferret) = ferret_app().await;
    time_5000_row_import(&app, "FerretDB").await;
    let _ = ferret.db().drop().await;
    app.finish().await;
}

#[tokio::test]
async fn an_import_shows_at_once_in_cached_inventory_figures() {
    // Arrange: one product, the inventory report cached.
    let app = spawn_app().await;
    let (token, _, _) = app.register("bulk-cache").await;
    app.product(&token, "Existing", 5).await;
    let path = "/api/merchant/analytics/inventory/status";
    let total = |r: &crate::helpers::Resp| r.body["data"]["totalProducts"].clone();
    let first = app.get(path, Some(&token)).await;
    assert_eq!(total(&first), json!(1), "{}", first.body);
    assert_eq!(
        app.get(path, Some(&token)).await.header("x-cache"),
        Some("HIT")
    );

    // Act: import two more.
    let r = import(&app, &token, "import", many_rows(2, "CACHE"), "c.csv").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Assert: the next read recomputes and counts them.
    let after = app.get(path, Some(&token)).await;
    assert_eq!(
        (after.header("x-cache"), total(&after)),
        (Some("MISS"), json!(3))
    );
    app.finish().await;
}

#[tokio::test]
async fn bulk_update_raises_one_low_stock_notification_per_crossing() {
    // Arrange: stock 8, threshold 5.
    let app = spawn_app().await;
    let (token, _, _) = app.register("bulk-crossing").await;
    let p = app.product(&token, "Bulk Lamp", 8).await;
    let sku = p["sku"].as_str().expect("sku");
    let notes = || async {
        app.get(
            "/api/merchant/notifications?type=product",
            Some(token.as_str()),
        )
        .await
        .body["data"]["pagination"]["total"]
            .clone()
    };
    // Act: 8 → 2 crosses the threshold; the same file again crosses nothing.
    for _ in 0..2 {
        let file = format!("sku,stock\n{sku},2\n");
        let r = import(&app, &token, "bulk-update", file.into_bytes(), "u.csv").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    // Assert
    assert_eq!(notes().await, 1);
    let file = format!("sku,stock\n{sku},0\n");
    import(&app, &token, "bulk-update", file.into_bytes(), "u.csv").await;
    assert_eq!(notes().await, 2);
    app.finish().await;
}

/// Text a spreadsheet would run as a formula (tab and CR prefixes, which product fields trim,
/// are covered by `tabular`'s unit tests).
const FORMULAS: [&str; 4] = [
    "=HYPERLINK(\"http://evil.example\")",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
];

#[tokio::test]
async fn exports_neutralise_text_that_a_spreadsheet_would_run_as_a_formula() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("formula").await;
    for (i, formula) in FORMULAS.iter().enumerate() {
        let mut body = crate::helpers::product_body(&format!("Formula {i}"), 1);
        body["brand"] = json!(formula);
        body["tags"] = json!([formula]);
        let r = app.post("/api/merchant/products", Some(&token), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    // CSV: every cell that began with a trigger begins with a quote, which spreadsheets show
    // as text; the value after it is unchanged.
    let (status, _, bytes) = download(
        &app,
        "/api/merchant/bulk/products/export?format=csv",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let rows = csv_rows(&bytes);
    let brand = rows[0].iter().position(|h| h == "brand").expect("brand");
    let tags = rows[0].iter().position(|h| h == "tags").expect("tags");
    let mut brands: Vec<String> = rows[1..].iter().map(|r| r[brand].clone()).collect();
    brands.sort();
    let mut expected: Vec<String> = FORMULAS.iter().map(|f| format!("'{f}")).collect();
    expected.sort();
    assert_eq!(brands, expected);
    for row in &rows[1..] {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "unneutralised cell {cell:?}"
            );
        }
        assert!(row[tags].starts_with('\''), "{row:?}");
    }
    // XLSX: the same strings, as text cells marked with a quote prefix (never formulas).
    let (status, _, bytes) = download(
        &app,
        "/api/merchant/bulk/products/export?format=xlsx",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let parts = xlsx_parts(&bytes);
    let sheet = &parts["xl/worksheets/sheet1.xml"];
    assert!(!sheet.contains("<f>"), "a formula cell: {sheet}");
    assert!(
        parts["xl/styles.xml"].contains("quotePrefix=\"1\""),
        "{}",
        parts["xl/styles.xml"]
    );
    let xlsx = xlsx_rows(&bytes);
    let mut brands: Vec<String> = xlsx[1..].iter().map(|r| r[brand].clone()).collect();
    brands.sort();
    let mut plain: Vec<String> = FORMULAS.iter().map(|f| f.to_string()).collect();
    plain.sort();
    assert_eq!(brands, plain);
    // Re-importing the CSV export gives back the values, not the quotes.
    let r = import(
        &app,
        &token,
        "bulk-update",
        bytes_of_csv_export(&app, &token).await,
        "p.csv",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let listed = app
        .get("/api/merchant/products?limit=100", Some(&token))
        .await;
    let mut brands: Vec<String> = listed.body["data"]["products"]
        .as_array()
        .expect("products")
        .iter()
        .map(|p| p["brand"].as_str().unwrap_or_default().to_string())
        .collect();
    brands.sort();
    assert_eq!(brands, plain);
    // Audit export: a hostile User-Agent is recorded with a write and exported as text.
    let r = app
        .client
        .post(format!("{}/api/merchant/products", app.address))
        .bearer_auth(&token)
        .header("user-agent", FORMULAS[0])
        .json(&crate::helpers::product_body("Audited", 1))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::CREATED);
    let (status, _, bytes) = download(
        &app,
        "/api/merchant/audit/export?download=true&format=csv",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let rows = csv_rows(&bytes);
    let agent = rows[0]
        .iter()
        .position(|h| h == "User Agent")
        .expect("user agent column");
    assert!(
        rows[1..]
            .iter()
            .any(|r| r[agent] == format!("'{}", FORMULAS[0])),
        "{rows:?}"
    );
    for row in &rows[1..] {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "unneutralised cell {cell:?}"
            );
        }
    }
    app.finish().await;
}

async fn bytes_of_csv_export(app: &TestApp, token: &str) -> Vec<u8> {
    download(app, "/api/merchant/bulk/products/export?format=csv", token)
        .await
        .2
}

/// The text parts of an XLSX file by name.
fn xlsx_parts(bytes: &[u8]) -> std::collections::HashMap<String, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes.to_vec())).expect("zip");
    (0..zip.len())
        .map(|i| {
            let mut part = zip.by_index(i).expect("part");
            let mut text = String::new();
            std::io::Read::read_to_string(&mut part, &mut text).expect("text");
            (String::from_utf8_lossy(part.name_raw()).to_string(), text)
        })
        .collect()
}
