//! Shape snapshots of the account areas (auth, team, onboarding, notifications) beyond the
//! representative ones in `shapes.rs`, recorded before their responses were typed.

use mongodb::bson::{DateTime, Document, doc};
use reqwest::multipart::Form;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, mailed_link},
    order_fixtures::Shop,
    permissions::audit_records,
    snapshot::Recorder,
    uploads::{part, png, send_form},
};

/// A registered owner, logged in: `(token, refresh token, e-mail)`.
async fn owner(app: &TestApp, rec: &mut Recorder) -> (String, String, String) {
    let (_, _, email) = app.register("acct").await;
    let login = json!({ "email": email, "password": "secret1" });
    let r = app.post("/api/merchant/auth/login", None, login).await;
    let token = r.body["data"]["token"].as_str().expect("token").to_string();
    let refresh = r.body["data"]["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_string();
    let r = app.get("/api/merchant/auth/test", None).await;
    rec.check("auth_test", "GET /api/merchant/auth/test", &r);
    (token, refresh, email)
}

/// Refresh, profile, verification, password flows, a member's login and logout.
async fn auth_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    let (token, refresh, email) = owner(app, rec).await;
    let r = app
        .post(
            "/api/merchant/auth/refresh",
            None,
            json!({ "refreshToken": refresh }),
        )
        .await;
    rec.check("auth_refresh", "POST /api/merchant/auth/refresh", &r);
    let profile = json!({ "description": "Lamps", "website": "https://acme.example", "businessAddress": { "city": "Shelbyville" } });
    let r = app
        .put("/api/merchant/auth/profile", Some(&token), profile)
        .await;
    rec.check("auth_profile", "PUT /api/merchant/auth/profile", &r);
    let link = mailed_link(&email, "verify-email").await.expect("mailed");
    let verify = link.rsplit('/').next().expect("token").to_string();
    let path = format!("/api/merchant/auth/verify-email/{verify}");
    let r = app.post(&path, None, json!({})).await;
    rec.check(
        "auth_verify_email",
        "POST /api/merchant/auth/verify-email/{token}",
        &r,
    );
    let r = app.post(&path, None, json!({})).await;
    rec.check(
        "auth_verify_email_again",
        "POST /api/merchant/auth/verify-email/{token} (already verified)",
        &r,
    );
    let r = app
        .post(
            "/api/merchant/auth/forgot-password",
            None,
            json!({ "email": email }),
        )
        .await;
    rec.check(
        "auth_forgot_password",
        "POST /api/merchant/auth/forgot-password",
        &r,
    );
    let change = json!({ "currentPassword": "secret1", "newPassword": "secret2", "confirmPassword": "secret2" });
    let r = app
        .put("/api/merchant/auth/change-password", Some(&token), change)
        .await;
    rec.check(
        "auth_change_password",
        "PUT /api/merchant/auth/change-password",
        &r,
    );
    let member = member_login(app, s).await;
    rec.check(
        "auth_login_member",
        "POST /api/merchant/auth/login (team member)",
        &member,
    );
    let r = app
        .post("/api/merchant/auth/logout", Some(&token), json!({}))
        .await;
    rec.check("auth_logout", "POST /api/merchant/auth/logout", &r);
}

/// Log in a new active manager of the shop.
async fn member_login(app: &TestApp, s: &Shop) -> crate::helpers::Resp {
    let hash = bcrypt::hash("member-pass", 4).expect("hash");
    let email = format!("{}@example.com", crate::helpers::unique("mgr"));
    app.store
        .db()
        .collection::<Document>("merchantusers")
        .insert_one(doc! { "merchantId": s.merchant, "email": &email, "password": &hash, "name": "Max", "role": "manager", "permissions": [], "status": "active", "createdAt": DateTime::now() })
        .await
        .expect("insert member");
    let login = json!({ "email": email, "password": "member-pass" });
    app.post("/api/merchant/auth/login", None, login).await
}

/// Invite a member and resend its invitation (left pending).
async fn pending_invitation(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    let email = format!("{}@example.com", crate::helpers::unique("pend"));
    let body = json!({ "email": email, "name": "Pat Pending", "role": "staff" });
    let r = app.post("/api/merchant/team/invite", s.t(), body).await;
    let id = r.body["data"]["invitationId"].as_str().expect("id");
    let path = format!("/api/merchant/team/{id}/resend-invite");
    let r = app.post(&path, s.t(), json!({})).await;
    rec.check(
        "team_resend_invite",
        "POST /api/merchant/team/{userId}/resend-invite",
        &r,
    );
}

/// Invite, validate, accept, read, change and remove a team member.
async fn team_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    pending_invitation(app, rec, s).await;
    let email = format!("{}@example.com", crate::helpers::unique("inv"));
    let body = json!({ "email": email, "name": "Ivy Invitee", "role": "staff" });
    let r = app.post("/api/merchant/team/invite", s.t(), body).await;
    rec.check("team_invite", "POST /api/merchant/team/invite", &r);
    let id = r.body["data"]["invitationId"]
        .as_str()
        .expect("id")
        .to_string();
    let member = format!("/api/merchant/team/{id}");
    // The only e-mail to this address: its token is the current one.
    let link = mailed_link(&email, "accept-invitation").await;
    let token = link
        .expect("mailed")
        .rsplit('/')
        .next()
        .expect("t")
        .to_string();
    let public = "/api/merchant/team-public";
    let r = app
        .get(&format!("{public}/validate-invitation/{token}"), None)
        .await;
    rec.check(
        "team_validate_invitation",
        "GET /api/merchant/team-public/validate-invitation/{token}",
        &r,
    );
    let accept = json!({ "password": "member-pass", "confirmPassword": "member-pass" });
    let r = app
        .post(&format!("{public}/accept-invitation/{token}"), None, accept)
        .await;
    rec.check(
        "team_accept_invitation",
        "POST /api/merchant/team-public/accept-invitation/{token}",
        &r,
    );
    member_changes(app, rec, s, &member).await;
}

async fn member_changes(app: &TestApp, rec: &mut Recorder, s: &Shop, member: &str) {
    let r = app.get(member, s.t()).await;
    rec.check("team_show", "GET /api/merchant/team/{userId}", &r);
    let r = app.get("/api/merchant/team/me/permissions", s.t()).await;
    rec.check(
        "team_my_permissions",
        "GET /api/merchant/team/me/permissions",
        &r,
    );
    let role = json!({ "role": "manager" });
    let r = app.put(&format!("{member}/role"), s.t(), role).await;
    rec.check("team_role", "PUT /api/merchant/team/{userId}/role", &r);
    let status = json!({ "status": "suspended" });
    let r = app.put(&format!("{member}/status"), s.t(), status).await;
    rec.check("team_status", "PUT /api/merchant/team/{userId}/status", &r);
    // The audit writer is asynchronous: wait for the records the feed shows.
    let filter = doc! { "merchantId": s.merchant, "action": "team.status_change" };
    assert_eq!(audit_records(app, filter, 1).await.len(), 1);
    let r = app.get("/api/merchant/team/activity", s.t()).await;
    rec.check("team_activity", "GET /api/merchant/team/activity", &r);
    let r = app.delete(member, s.t()).await;
    rec.check("team_remove", "DELETE /api/merchant/team/{userId}", &r);
}

/// Every step saved and completed, documents, moving back and the submission.
async fn onboarding_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    let base = "/api/merchant/onboarding";
    let steps = [
        json!({ "businessName": "Acme Ltd", "businessType": "retail", "gstNumber": "22AAAAA0000A1Z5" }),
        json!({ "storeName": "Acme", "category": "Home", "address": { "street": "1 Main St", "city": "Springfield", "zipCode": "62701" } }),
        json!({ "accountNumber": "000123", "ifscCode": "SBIN0001234", "accountHolderName": "Ann Owner" }),
        json!({ "products": [] }),
        json!({ "documents": [{ "type": "id_proof", "url": "https://docs.example/id.pdf" }] }),
    ];
    for (i, body) in steps.into_iter().enumerate() {
        let step = i + 1;
        let r = app.post(&format!("{base}/step/{step}"), s.t(), body).await;
        assert!(r.status.is_success(), "step {step}: {}", r.body);
        let r = app
            .post(&format!("{base}/step/{step}/complete"), s.t(), json!({}))
            .await;
        if step == 1 {
            rec.check(
                "onboarding_complete",
                "POST /api/merchant/onboarding/step/{step}/complete",
                &r,
            );
        }
    }
    let form = Form::new()
        .text("documentType", "pan_card")
        .part("document", part(png(40, 30), "pan.png", "image/png"));
    let r = send_form(app, &format!("{base}/documents/upload"), s.t(), form).await;
    rec.check(
        "onboarding_upload",
        "POST /api/merchant/onboarding/documents/upload",
        &r,
    );
    let r = app.get(&format!("{base}/documents"), s.t()).await;
    rec.check(
        "onboarding_documents",
        "GET /api/merchant/onboarding/documents",
        &r,
    );
    let r = app.post(&format!("{base}/submit"), s.t(), json!({})).await;
    rec.check(
        "onboarding_submit",
        "POST /api/merchant/onboarding/submit",
        &r,
    );
    let r = app.get(&format!("{base}/status"), s.t()).await;
    rec.check(
        "onboarding_status_full",
        "GET /api/merchant/onboarding/status (every step saved)",
        &r,
    );
    let r = app
        .post(&format!("{base}/step/3/previous"), s.t(), json!({}))
        .await;
    rec.check(
        "onboarding_previous",
        "POST /api/merchant/onboarding/step/{step}/previous",
        &r,
    );
    let r = app.delete(&format!("{base}/documents/1"), s.t()).await;
    rec.check(
        "onboarding_delete_document",
        "DELETE /api/merchant/onboarding/documents/{index}",
        &r,
    );
}

/// The first notification's id.
fn first_id(r: &crate::helpers::Resp) -> String {
    let items = &r.body["data"]["items"];
    items[0]["id"].as_str().expect("a notification").to_string()
}

/// Reads, stats, read/archive/delete and preferences of the inbox.
async fn notification_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    let base = "/api/merchant/notifications";
    let r = app.get(&format!("{base}/unread"), s.t()).await;
    rec.check(
        "notifications_unread",
        "GET /api/merchant/notifications/unread",
        &r,
    );
    let id = first_id(&r);
    let reads = [
        ("notifications_unread_count", "unread-count"),
        ("notifications_stats", "stats"),
        ("notifications_preferences", "preferences"),
    ];
    for (name, path) in reads {
        let r = app.get(&format!("{base}/{path}"), s.t()).await;
        rec.check(name, &format!("GET /api/merchant/notifications/{path}"), &r);
    }
    let r = app.get(&format!("{base}/{id}"), s.t()).await;
    rec.check(
        "notifications_show",
        "GET /api/merchant/notifications/{id}",
        &r,
    );
    let r = app
        .post(&format!("{base}/{id}/mark-read"), s.t(), json!({}))
        .await;
    rec.check(
        "notifications_mark_read",
        "POST /api/merchant/notifications/{id}/mark-read",
        &r,
    );
    let ids = json!({ "notificationIds": [id] });
    let r = app
        .post(&format!("{base}/mark-multiple-read"), s.t(), ids.clone())
        .await;
    rec.check(
        "notifications_mark_multiple_read",
        "POST /api/merchant/notifications/mark-multiple-read",
        &r,
    );
    let r = app
        .post(&format!("{base}/mark-all-read"), s.t(), json!({}))
        .await;
    rec.check(
        "notifications_mark_all_read",
        "POST /api/merchant/notifications/mark-all-read",
        &r,
    );
    notification_changes(app, rec, s, &id, ids).await;
}

async fn notification_changes(app: &TestApp, rec: &mut Recorder, s: &Shop, id: &str, ids: Value) {
    let base = "/api/merchant/notifications";
    let r = app
        .put(&format!("{base}/{id}/archive"), s.t(), json!({}))
        .await;
    rec.check(
        "notifications_archive",
        "PUT /api/merchant/notifications/{id}/archive",
        &r,
    );
    let r = app.get(&format!("{base}/archived"), s.t()).await;
    rec.check(
        "notifications_archived",
        "GET /api/merchant/notifications/archived",
        &r,
    );
    let prefs = json!({ "email": true, "events": { "lowStock": false } });
    let r = app.put(&format!("{base}/preferences"), s.t(), prefs).await;
    rec.check(
        "notifications_preferences_save",
        "PUT /api/merchant/notifications/preferences",
        &r,
    );
    let r = app.delete(&format!("{base}/{id}"), s.t()).await;
    rec.check(
        "notifications_remove",
        "DELETE /api/merchant/notifications/{id}",
        &r,
    );
    let r = app
        .post(&format!("{base}/delete-multiple"), s.t(), ids)
        .await;
    rec.check(
        "notifications_delete_multiple",
        "POST /api/merchant/notifications/delete-multiple",
        &r,
    );
    let r = app.delete(&format!("{base}/clear-all"), s.t()).await;
    rec.check(
        "notifications_clear_all",
        "DELETE /api/merchant/notifications/clear-all",
        &r,
    );
}

/// Every account-area case, on the shop of `shapes.rs`.
pub async fn account_cases(app: &TestApp, rec: &mut Recorder, s: &Shop) {
    auth_cases(app, rec, s).await;
    team_cases(app, rec, s).await;
    onboarding_cases(app, rec, s).await;
    notification_cases(app, rec, s).await;
}
