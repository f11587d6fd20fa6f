//! Oversized request bodies as a real client sees them: a client that writes its whole body and
//! only then reads the answer (Python's http.client, Node's fetch) must read the 413 envelope,
//! not a reset connection. Covers JSON, multipart and CSV uploads, with and without
//! `Content-Length`, and early answers (401) on a body nobody reads.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, spawn_app};

/// How the raw client frames its body.
enum Framing {
    /// `Content-Length: <n>`.
    Length,
    /// `Transfer-Encoding: chunked`, 64 KiB chunks.
    Chunked,
}

/// What the raw client got: status and JSON body, or the I/O error that cut it off.
type RawAnswer = Result<(u16, Value), String>;

/// Send `body` to `path` the way simple clients do: the head, every byte of the body, then
/// read the answer. Writing errors (broken pipe, reset) are the defect under test, so they are
/// returned as the answer rather than panicking.
async fn send_all_then_read(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
    framing: Framing,
) -> RawAnswer {
    let addr = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut head =
        format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    match framing {
        Framing::Length => head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len())),
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n\r\n"),
    }
    let io = |e: std::io::Error| format!("while sending: {e} ({:?})", e.kind());
    stream.write_all(head.as_bytes()).await.map_err(io)?;
    match framing {
        Framing::Length => stream.write_all(body).await.map_err(io)?,
        Framing::Chunked => {
            for chunk in body.chunks(64 * 1024) {
                stream
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await
                    .map_err(io)?;
                stream.write_all(chunk).await.map_err(io)?;
                stream.write_all(b"\r\n").await.map_err(io)?;
            }
            stream.write_all(b"0\r\n\r\n").await.map_err(io)?;
        }
    }
    stream.flush().await.map_err(io)?;
    read_answer(&mut stream).await
}

/// Read one HTTP/1.1 response with a `Content-Length` body.
async fn read_answer(stream: &mut TcpStream) -> RawAnswer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let io = |e: std::io::Error| format!("while reading: {e} ({:?})", e.kind());
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(format!(
                "connection closed before a response ({} bytes)",
                buf.len()
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {head:?}"))?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .ok_or_else(|| format!("no content-length in {head:?}"))?;
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err("connection closed inside the response body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut body: Value = serde_json::from_slice(&buf[head_end..head_end + length])
        .map_err(|e| format!("response body is not JSON: {e}"))?;
    // The request id differs on every request: present, then left out of the comparison.
    if let Some(fields) = body.as_object_mut() {
        let id = fields.remove("requestId");
        if !id.as_ref().is_some_and(Value::is_string) {
            return Err(format!("no requestId in the error body: {body}"));
        }
    }
    Ok((status, body))
}

async fn within_a_minute(answer: impl std::future::Future<Output = RawAnswer>) -> RawAnswer {
    tokio::time::timeout(Duration::from_secs(60), answer)
        .await
        .unwrap_or_else(|_| Err("no answer within a minute".into()))
}

fn too_large(limit: &str) -> (u16, Value) {
    (
        413,
        json!({
            "success": false,
            "message": format!("Request body too large. Maximum size is {limit}."),
            "code": "PAYLOAD_TOO_LARGE"
        }),
    )
}

/// A multipart body with one `file` part of `size` bytes of CSV.
fn multipart_csv(size: usize) -> (String, Vec<u8>) {
    let boundary = "----merchant-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nname,description,price,category,stock\n"
    )
    .into_bytes();
    body.resize(body.len() + size, b'\n');
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_client_that_sends_an_oversized_json_body_whole_reads_the_413_envelope() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("oversize").await;
    let mut product = crate::helpers::product_body("Big", 1);
    product["description"] = json!("x".repeat(11 * 1024 * 1024));
    let body = serde_json::to_vec(&product).expect("json");
    for framing in [Framing::Length, Framing::Chunked] {
        let answer = within_a_minute(send_all_then_read(
            &app,
            "/api/merchant/products",
            Some(&token),
            "application/json",
            &body,
            framing,
        ))
        .await;
        assert_eq!(answer, Ok(too_large("50kb")));
    }
    // Unauthenticated: the same body on a public JSON route.
    let answer = within_a_minute(send_all_then_read(
        &app,
        "/api/merchant/auth/login",
        None,
        "application/json",
        &body,
        Framing::Length,
    ))
    .await;
    assert_eq!(answer, Ok(too_large("50kb")));
    // Nothing was created and the server still answers.
    let list = app.get("/api/merchant/products", Some(&token)).await;
    assert_eq!(list.body["data"]["pagination"]["totalCount"], 0);
    app.finish().await;
}

#[tokio::test]
async fn a_client_that_sends_an_oversized_csv_upload_whole_reads_the_413_envelope() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("oversize-csv").await;
    let (content_type, body) = multipart_csv(12 * 1024 * 1024);
    let send = |framing| {
        send_all_then_read(
            &app,
            "/api/merchant/bulk/products/import",
            Some(&token),
            &content_type,
            &body,
            framing,
        )
    };
    // Declared: refused on its length.
    let answer = within_a_minute(send(Framing::Length)).await;
    assert_eq!(answer, Ok(too_large("11mb")));
    // Chunked: the file passes its own limit (the contract's 400) before the body passes the
    // route's; either way the client reads the envelope naming the limit.
    let answer = within_a_minute(send(Framing::Chunked)).await;
    assert_eq!(
        answer,
        Ok((
            400,
            json!({
                "success": false,
                "message": "File too large. Maximum size is 10MB.",
                "code": "BAD_REQUEST"
            })
        ))
    );
    // An answer given before a body within the limit is read (no token) reaches the client too.
    let (content_type, body) = multipart_csv(5 * 1024 * 1024);
    let answer = within_a_minute(send_all_then_read(
        &app,
        "/api/merchant/bulk/products/import",
        None,
        &content_type,
        &body,
        Framing::Length,
    ))
    .await;
    assert_eq!(
        answer.map(|(status, body)| (status, body["success"].clone())),
        Ok((401, json!(false)))
    );
    app.finish().await;
}

#[tokio::test]
async fn a_client_that_sends_an_oversized_image_upload_whole_reads_the_413_envelope() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("oversize-image").await;
    let boundary = "----merchant-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend(crate::uploads::png(10, 10));
    body.resize(body.len() + 52 * 1024 * 1024, 0);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let answer = within_a_minute(send_all_then_read(
        &app,
        "/api/merchant/uploads/image",
        Some(&token),
        &format!("multipart/form-data; boundary={boundary}"),
        &body,
        Framing::Length,
    ))
    .await;
    assert_eq!(answer, Ok(too_large("51mb")));
    app.finish().await;
}
