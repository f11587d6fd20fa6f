//! `merchant-operator healthcheck` against a real admin server on loopback: exit 0 once ready,
//! 1 with the status while starting, 1 naming the URL when nothing listens. No cluster needed.

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use merchant_operator::{
    admin::{AdminState, router},
    metrics::Metrics,
};

fn healthcheck(url: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_merchant-operator"))
        .args(["healthcheck", "--url", url, "--timeout-seconds", "3"])
        .output()
        .expect("run merchant-operator healthcheck");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn healthcheck_follows_the_admin_servers_readiness() {
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = router(AdminState {
        metrics: Arc::new(Metrics::default()),
        ready: ready.clone(),
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/readyz");

    let check = url.clone();
    let (ok, text) = tokio::task::spawn_blocking(move || healthcheck(&check))
        .await
        .expect("join");
    assert!(!ok, "a starting operator is not ready: {text}");
    assert!(text.contains("503"), "{text}");

    ready.store(true, Ordering::Relaxed);
    let check = url.clone();
    let (ok, text) = tokio::task::spawn_blocking(move || healthcheck(&check))
        .await
        .expect("join");
    assert!(ok, "{text}");
    assert!(text.contains("ready"), "{text}");

    // A port nobody listens on: the failure names the URL.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let (ok, text) = healthcheck(&format!("http://{closed}/readyz"));
    assert!(!ok);
    assert!(text.contains(&closed.to_string()), "names the URL: {text}");
}
