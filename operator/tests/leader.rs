//! Lease leader election against the real API server: one holder at a time, a standby takes
//! over after release, and another one after the holder stops renewing.

mod common;

use std::time::Duration;

use common::*;
use merchant_operator::leader::LeaseLock;

#[tokio::test]
async fn only_one_replica_leads_and_a_standby_takes_over_after_release() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client, "mb-lease").await;
    let duration = Duration::from_secs(3);
    let first = LeaseLock::new(
        client.clone(),
        &ns,
        "merchant-operator",
        "replica-a",
        duration,
    );
    let second = LeaseLock::new(
        client.clone(),
        &ns,
        "merchant-operator",
        "replica-b",
        duration,
    );
    first.acquire().await.expect("first replica leads");

    let blocked = tokio::time::timeout(Duration::from_secs(2), second.acquire()).await;
    assert!(
        blocked.is_err(),
        "the standby must not acquire a held, fresh lease"
    );

    first.release().await;
    tokio::time::timeout(Duration::from_secs(5), second.acquire())
        .await
        .expect("standby acquires after release")
        .expect("acquire");

    // The second replica stops renewing (crashed): a third takes over once the lease expires.
    let third = LeaseLock::new(
        client.clone(),
        &ns,
        "merchant-operator",
        "replica-c",
        duration,
    );
    tokio::time::timeout(Duration::from_secs(10), third.acquire())
        .await
        .expect("takeover after expiry")
        .expect("acquire");
    delete_namespace(&client, &ns).await;
}
