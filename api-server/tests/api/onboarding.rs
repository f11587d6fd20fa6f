//! Onboarding wizard: status, step rules, completion, previous, submit and documents.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_wizard_saves_completes_and_submits_all_five_steps() {
    let app = spawn_app().await;
    let (token, _, _) = app.register("onboard").await;
    let t = Some(token.as_str());
    let base = "/api/merchant/onboarding";
    let fresh = app.get(&format!("{base}/status"), t).await;
    assert_eq!(fresh.body["data"]["status"], "pending");
    assert_eq!(fresh.body["data"]["progressPercentage"], 0);
    assert_eq!(
        app.post(&format!("{base}/step/6"), t, json!({ "a": 1 }))
            .await
            .body["message"],
        "Invalid step number. Must be between 1 and 5."
    );
    assert_eq!(
        app.post(&format!("{base}/step/1"), t, json!({})).await.body["message"],
        "Step data is required"
    );
    let missing = app
        .post(
            &format!("{base}/step/1"),
            t,
            json!({ "registrationNumber": "R1" }),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.body["errors"][0]["message"],
        "\"companyName\" is required"
    );
    let early = app.post(&format!("{base}/submit"), t, json!({})).await;
    assert_eq!(
        (early.status, early.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("All steps must be completed before submission")
        )
    );
    let steps = [
        json!({ "businessName": "Acme Ltd", "businessType": "retail", "gstNumber": "whatever" }),
        json!({ "storeName": "Acme", "storeCategory": "fashion", "storeAddress": { "street": "1 Main", "city": "Springfield" } }),
        json!({ "accountNumber": "123456789", "ifscCode": "abcd0123456", "accountHolderName": "Ann" }),
        json!({ "products": [{ "name": "ignored" }] }),
        json!({ "documents": [{ "type": "id_proof", "url": "https://docs.example/id.pdf" }, { "type": "pan_card", "url": "https://docs.example/pan.pdf" }] }),
    ];
    let bad_doc = app
        .post(
            &format!("{base}/step/5"),
            t,
            json!({ "documents": [{ "type": "selfie", "url": "x" }] }),
        )
        .await;
    assert_eq!(
        bad_doc.status,
        StatusCode::BAD_REQUEST,
        "unknown document type is a client error, not a 500"
    );
    for (i, body) in steps.into_iter().enumerate() {
        let n = i + 1;
        let saved = app.post(&format!("{base}/step/{n}"), t, body).await;
        assert_eq!(saved.status, StatusCode::OK, "step {n}: {}", saved.body);
        assert_eq!(
            saved.body["message"],
            format!("Step {n} data saved successfully")
        );
        let done = app
            .post(&format!("{base}/step/{n}/complete"), t, json!({}))
            .await;
        assert_eq!(done.status, StatusCode::OK, "complete {n}: {}", done.body);
        assert_eq!(done.body["data"]["canSubmit"], n == 5);
    }
    let status = app.get(&format!("{base}/status"), t).await;
    assert_eq!(status.body["data"]["status"], "in_progress");
    assert_eq!(status.body["data"]["progressPercentage"], 100);
    assert_eq!(
        status.body["data"]["stepData"]["businessInfo"]["companyName"],
        "Acme Ltd"
    );
    assert_eq!(
        status.body["data"]["stepData"]["storeDetails"]["category"],
        "fashion"
    );
    let back = app
        .post(&format!("{base}/step/3/previous"), t, json!({}))
        .await;
    assert_eq!(back.body["data"]["currentStep"], 2);
    let docs = app.get(&format!("{base}/documents"), t).await;
    assert_eq!(
        docs.body["data"]["documents"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(docs.body["data"]["documents"][0]["status"], "pending");
    assert_eq!(
        app.delete(&format!("{base}/documents/0"), t).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&format!("{base}/documents/9"), t).await.status,
        StatusCode::NOT_FOUND
    );
    let docs = app.get(&format!("{base}/documents"), t).await;
    assert_eq!(docs.body["data"]["documents"][0]["type"], "pan_card");
    let submitted = app.post(&format!("{base}/submit"), t, json!({})).await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    assert_eq!(submitted.body["data"]["status"], "completed");
    app.finish().await;
}
