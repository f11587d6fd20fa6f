//! Leader failover with real processes: two `merchant-operator run` replicas on one namespace,
//! the leader is frozen (SIGSTOP) in the middle of a burst of reconciles, the standby must hold
//! the Lease and reconcile within 15 s, and the old leader, once thawed (SIGCONT) with its
//! reconciles still in flight, must not send a single write after the takeover: its fence closed
//! at its renew deadline, before the standby could acquire. It then stands by.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::*;
use futures::{StreamExt, stream};
use k8s_openapi::api::{apps::v1::Deployment, coordination::v1::Lease};
use kube::{Api, Client, api::ListParams};

const LEASE: &str = "merchant-operator";
const BACKENDS: usize = 60;

/// One operator process and the log lines it has written so far.
struct Replica {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Replica {
    fn spawn(ns: &str, name: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_merchant-operator"))
            .args([
                "run",
                "--watch-namespace",
                ns,
                "--lease-namespace",
                ns,
                "--pod-name",
                name,
                "--admin-addr",
                "127.0.0.1:0",
                "--log-format",
                "json",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn merchant-operator");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().expect("log lock").push(line);
            }
        });
        Self { child, log }
    }

    fn logged(&self, message: &str) -> Option<serde_json::Value> {
        self.log.lock().expect("log lock").iter().find_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            (value["fields"]["message"] == message).then_some(value)
        })
    }

    async fn admin_port(&self) -> u16 {
        let mut port = 0;
        eventually("admin server listening", || {
            let found = self
                .logged("admin server listening")
                .and_then(|v| v["fields"]["addr"].as_str().map(str::to_owned))
                .and_then(|addr| addr.rsplit(':').next()?.parse().ok());
            port = found.unwrap_or(0);
            async move { found.is_some() }
        })
        .await;
        port
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    fn tail(&self) -> String {
        let log = self.log.lock().expect("log lock");
        log[log.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One metric of a replica's /metrics (blocking HTTP/1.0 GET; tests have no HTTP client).
async fn metric(port: u16, name: &str) -> Option<f64> {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        stream.read_to_string(&mut body).ok()?;
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
    })
    .await
    .ok()
    .flatten()
}

async fn holder(client: &Client, ns: &str) -> Option<String> {
    let lease = Api::<Lease>::namespaced(client.clone(), ns)
        .get_opt(LEASE)
        .await
        .ok()??;
    lease.spec?.holder_identity
}

async fn deployments(client: &Client, ns: &str) -> usize {
    Api::<Deployment>::namespaced(client.clone(), ns)
        .list_metadata(&ListParams::default())
        .await
        .map_or(0, |l| l.items.len())
}

#[tokio::test]
async fn a_frozen_leader_is_replaced_within_15s_and_writes_nothing_after_the_takeover() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-failover").await;
    create_default_secrets(&client, &ns).await;
    let a = Replica::spawn(&ns, "replica-a");
    eventually("replica-a leads", || async {
        holder(&client, &ns).await.as_deref() == Some("replica-a")
    })
    .await;
    let b = Replica::spawn(&ns, "replica-b");
    let (a_port, b_port) = (a.admin_port().await, b.admin_port().await);
    assert_eq!(metric(b_port, "merchant_operator_leader").await, Some(0.0));

    // A burst of work, so the leader has reconciles in flight when it is frozen.
    stream::iter(0..BACKENDS)
        .for_each_concurrent(16, |i| {
            let (client, ns) = (client.clone(), ns.clone());
            async move {
                let name = format!("shop-{i:02}");
                create_backend(
                    &client,
                    &ns,
                    &name,
                    "image: registry.invalid/api:1\nreplicas: 1",
                )
                .await;
            }
        })
        .await;
    eventually("replica-a mid-burst", || async {
        deployments(&client, &ns).await >= 5
    })
    .await;
    a.signal("STOP");
    let frozen = Instant::now();

    let deadline = frozen + Duration::from_secs(30);
    loop {
        let b_leads = holder(&client, &ns).await.as_deref() == Some("replica-b");
        let reconciled = metric(b_port, "merchant_operator_reconciles_total").await;
        if b_leads && reconciled.is_some_and(|r| r > 0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "no takeover in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let takeover = frozen.elapsed();
    eprintln!("takeover after {takeover:?}");
    assert!(
        takeover < Duration::from_secs(15),
        "replica-b led and reconciled only {takeover:?} after the leader froze"
    );
    let lease = Api::<Lease>::namespaced(client.clone(), &ns)
        .get(LEASE)
        .await
        .expect("lease");
    let acquired = lease
        .spec
        .and_then(|s| s.acquire_time)
        .expect("acquireTime")
        .0
        .as_millisecond() as f64
        / 1000.0;

    a.signal("CONT");
    eventually("replica-a stands by", || async {
        a.logged("controller stopped").is_some()
            && metric(a_port, "merchant_operator_leader").await == Some(0.0)
    })
    .await;
    let last_write = metric(a_port, "merchant_operator_last_write_timestamp_seconds")
        .await
        .expect("replica-a metrics");
    assert!(
        last_write < acquired,
        "replica-a wrote at {last_write}, after replica-b acquired the Lease at {acquired}:\n{}",
        a.tail()
    );
    let fenced = metric(a_port, "merchant_operator_fenced_writes_total")
        .await
        .unwrap_or(0.0);
    assert!(
        fenced > 0.0,
        "the thawed leader had writes in flight and the fence refused them"
    );
    assert!(
        a.logged("leadership lost: writes fenced, standing by")
            .is_some()
    );

    // The new leader finishes the burst.
    eventually("every Deployment applied by replica-b", || async {
        deployments(&client, &ns).await >= BACKENDS
    })
    .await;
    drop((a, b));
    delete_namespace(&client, &ns).await;
}
