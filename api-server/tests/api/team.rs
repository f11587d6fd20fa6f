//! Team & invitations: the e-mailed invitation flow end to end, token expiry, resends, role and
//! status rules, removal, and isolation between merchants.

use merchant_api::store::ObjectId;
use mongodb::bson::{Document, doc};
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{TestApp, mailed_link, spawn_app, unique},
    permissions::{audit_records, member_token},
};

fn invitee(role: &str) -> (String, serde_json::Value) {
    let email = format!("{}@example.com", unique("invitee").to_lowercase());
    let body =
        json!({ "email": email, "name": "Ivy Invitee", "role": role, "permissions": ["ignored"] });
    (email, body)
}

/// Invitation tokens e-mailed to `email`, oldest first; waits until there are `n`.
async fn mailed_tokens(email: &str, n: usize) -> Vec<String> {
    let dir = format!("{}/new", crate::helpers::testenv("SMTP_CAPTURE_DIR"));
    let mut tokens = Vec::new();
    for _ in 0..300 {
        let mut found: Vec<(std::time::SystemTime, String)> = Vec::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let text = text.replace("=\r\n", "").replace("=\n", "");
            if !text.contains(email) {
                continue;
            }
            if let Some(start) = text.find("/accept-invitation/") {
                let rest = &text[start + "/accept-invitation/".len()..];
                let token: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
                let at = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                found.push((at, token));
            }
        }
        found.sort();
        tokens = found.into_iter().map(|(_, t)| t).collect();
        if tokens.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        tokens.len() >= n,
        "expected {n} invitation e-mails to {email}"
    );
    tokens
}

/// The token of the only (or latest) invitation e-mailed to `email`.
async fn mailed_token(email: &str) -> String {
    let link = mailed_link(email, "accept-invitation")
        .await
        .expect("invitation e-mail captured");
    link.rsplit('/').next().expect("token").to_string()
}

async fn accept(app: &TestApp, token: &str, password: &str) -> crate::helpers::Resp {
    app.post(
        &format!("/api/merchant/team-public/accept-invitation/{token}"),
        None,
        json!({ "password": password, "confirmPassword": password }),
    )
    .await
}

#[tokio::test]
async fn an_invited_member_accepts_from_the_email_link_logs_in_and_is_limited_by_role() {
    let app = spawn_app().await;
    let (owner, merchant, _) = app.register("inviter").await;
    let (email, body) = invitee("staff");
    // Invite: 201 with the id, no token in the response outside development.
    let r = app
        .post("/api/merchant/team/invite", Some(&owner), body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["message"], "Invitation sent successfully");
    let member_id = r.body["data"]["invitationId"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(r.body["data"]["expiresAt"].is_string());
    assert!(r.body["data"].get("invitationToken").is_none());
    // The stored token is a digest, never the e-mailed value.
    let token = mailed_token(&email).await;
    let stored = app
        .store
        .db()
        .collection::<Document>("merchantusers")
        .find_one(doc! { "email": &email })
        .await
        .expect("find")
        .expect("member");
    assert_eq!(stored.get_str("status"), Ok("inactive"));
    assert_ne!(stored.get_str("invitationToken"), Ok(token.as_str()));
    assert_eq!(stored.get_str("invitationToken").map(str::len), Ok(64));
    // Validate.
    let v = app
        .get(
            &format!("/api/merchant/team-public/validate-invitation/{token}"),
            None,
        )
        .await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.body);
    assert_eq!(v.body["data"]["valid"], json!(true));
    assert_eq!(v.body["data"]["invitation"]["email"], json!(email));
    assert_eq!(v.body["data"]["invitation"]["role"], "staff");
    assert_eq!(v.body["data"]["invitation"]["businessName"], "Acme Goods");
    // Accept: mismatch and short passwords are field errors; then success, once.
    let mismatch = app
        .post(
            &format!("/api/merchant/team-public/accept-invitation/{token}"),
            None,
            json!({ "password": "secret12", "confirmPassword": "other123" }),
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert_eq!(mismatch.body["errors"][0]["field"], "confirmPassword");
    let short = accept(&app, &token, "abc").await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert_eq!(short.body["errors"][0]["field"], "password");
    let ok = accept(&app, &token, "staff-pass").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        ok.body["data"],
        json!({ "email": email, "name": "Ivy Invitee", "role": "staff" })
    );
    // The owner is told once, in the inbox.
    let inbox = app.get("/api/merchant/notifications", Some(&owner)).await;
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
    let joined: Vec<&serde_json::Value> = inbox.body["data"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|n| n["title"] == "Invitation accepted")
        .collect();
    assert_eq!(joined.len(), 1, "{}", inbox.body);
    assert_eq!(
        joined[0]["message"],
        "Ivy Invitee joined your team as staff."
    );
    assert_eq!(
        accept(&app, &token, "staff-pass").await.status,
        StatusCode::BAD_REQUEST
    );
    let again = app
        .get(
            &format!("/api/merchant/team-public/validate-invitation/{token}"),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    // Log in as the member: role staff, 11 permissions, limited.
    let login = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "staff-pass" }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.body["data"]["role"], "staff");
    let staff = login.body["data"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(
        app.get("/api/merchant/products", Some(&staff)).await.status,
        StatusCode::OK
    );
    let denied = app.get("/api/merchant/team", Some(&staff)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(
        (
            denied.body["required"].clone(),
            denied.body["userRole"].clone()
        ),
        (json!("team:view"), json!("staff"))
    );
    let create = app
        .post(
            "/api/merchant/products",
            Some(&staff),
            crate::helpers::product_body("Nope", 1),
        )
        .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);
    // The owner sees the active member, without secrets, invited by the owner (null).
    let list = app.get("/api/merchant/team", Some(&owner)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["data"]["total"], 1);
    let m = &list.body["data"]["teamMembers"][0];
    assert_eq!(
        (m["id"].as_str(), m["status"].as_str()),
        (Some(member_id.as_str()), Some("active"))
    );
    assert!(
        m.get("_id").is_none() && m.get("password").is_none() && m.get("invitationToken").is_none()
    );
    assert_eq!(m["invitedBy"], json!(null));
    // Audit: the invite by the owner, the acceptance by the member.
    let merchant = ObjectId::parse_str(&merchant).expect("id");
    let member = ObjectId::parse_str(&member_id).expect("id");
    let invite = audit_records(
        &app,
        doc! { "merchantId": merchant, "action": "team.invite" },
        1,
    )
    .await;
    assert_eq!(invite.len(), 1);
    assert_eq!(invite[0].get_object_id("resourceId"), Ok(member));
    assert!(invite[0].get("merchantUserId").is_none());
    let accepted = audit_records(
        &app,
        doc! { "merchantId": merchant, "action": "team.invitation_accepted" },
        1,
    )
    .await;
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].get_object_id("merchantUserId"), Ok(member));
    app.finish().await;
}

#[tokio::test]
async fn expired_unknown_and_replaced_invitation_tokens_are_rejected() {
    let app = spawn_app().await;
    let (owner, _, _) = app.register("expiry").await;
    let (email, body) = invitee("manager");
    assert_eq!(
        app.post("/api/merchant/team/invite", Some(&owner), body.clone())
            .await
            .status,
        StatusCode::CREATED
    );
    let first = mailed_tokens(&email, 1).await.remove(0);
    // Inviting a pending address again resends with a new token; the old one stops working.
    let resent = app
        .post("/api/merchant/team/invite", Some(&owner), body)
        .await;
    assert_eq!(resent.status, StatusCode::CREATED);
    assert_eq!(resent.body["message"], "Invitation resent successfully");
    let users = app.store.db().collection::<Document>("merchantusers");
    let stored = users
        .find_one(doc! { "email": &email })
        .await
        .expect("find")
        .expect("member");
    assert_ne!(
        stored.get_str("invitationToken"),
        Ok(merchant_api::security::token::digest(&first).as_str())
    );
    let validate = |t: String| {
        let app = &app;
        async move {
            app.get(
                &format!("/api/merchant/team-public/validate-invitation/{t}"),
                None,
            )
            .await
        }
    };
    assert_eq!(
        validate(first.clone()).await.status,
        StatusCode::BAD_REQUEST
    );
    let current = mailed_tokens(&email, 2).await.pop().expect("token");
    assert_eq!(validate(current).await.status, StatusCode::OK);
    assert_eq!(
        validate("f".repeat(64)).await.status,
        StatusCode::BAD_REQUEST
    );
    let unknown = accept(&app, "deadbeef", "secret12").await;
    assert_eq!(
        (unknown.status, unknown.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("Invalid or expired invitation")
        )
    );
    // Expire the current invitation: both routes refuse it.
    users
        .update_one(
            doc! { "email": &email },
            doc! { "$set": { "invitationExpiry": mongodb::bson::DateTime::from_millis(0) } },
        )
        .await
        .expect("expire");
    let id = stored.get_object_id("_id").expect("id").to_hex();
    let resend = app
        .post(
            &format!("/api/merchant/team/{id}/resend-invite"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(resend.status, StatusCode::OK, "{}", resend.body);
    let renewed = users
        .find_one(doc! { "email": &email })
        .await
        .expect("find")
        .expect("member");
    assert!(
        renewed
            .get_datetime("invitationExpiry")
            .expect("expiry")
            .timestamp_millis()
            > mongodb::bson::DateTime::now().timestamp_millis()
    );
    users
        .update_one(
            doc! { "email": &email },
            doc! { "$set": { "invitationExpiry": mongodb::bson::DateTime::from_millis(0) } },
        )
        .await
        .expect("expire");
    let latest = mailed_tokens(&email, 3).await.pop().expect("token");
    assert_ne!(latest, first);
    assert_eq!(
        validate(latest.clone()).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        accept(&app, &latest, "secret12").await.status,
        StatusCode::BAD_REQUEST
    );
    app.finish().await;
}

#[tokio::test]
async fn invite_validates_fields_and_refuses_an_active_member_or_the_owner() {
    let app = spawn_app().await;
    let (owner, merchant, owner_email) = app.register("validation").await;
    let bad = app
        .post(
            "/api/merchant/team/invite",
            Some(&owner),
            json!({ "email": "nope", "name": "A", "role": "owner" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let mut fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "name", "role"]);
    let own = app
        .post(
            "/api/merchant/team/invite",
            Some(&owner),
            json!({ "email": owner_email, "name": "Me Me", "role": "admin" }),
        )
        .await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST);
    let (_, admin_id) = member_token(&app, &merchant, "admin").await;
    let users = app.store.db().collection::<Document>("merchantusers");
    let admin = users
        .find_one(doc! { "_id": ObjectId::parse_str(&admin_id).expect("id") })
        .await
        .expect("find")
        .expect("admin");
    let again = app
        .post("/api/merchant/team/invite", Some(&owner), json!({ "email": admin.get_str("email").expect("email"), "name": "Ad Min", "role": "staff" }))
        .await;
    assert_eq!(
        (again.status, again.body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("A team member with this email already exists")
        )
    );
    app.finish().await;
}

#[tokio::test]
async fn roles_change_only_by_the_owner_and_nobody_suspends_or_removes_themself() {
    let app = spawn_app().await;
    let (owner, merchant, _) = app.register("roles").await;
    let (admin, admin_id) = member_token(&app, &merchant, "admin").await;
    let (_, staff_id) = member_token(&app, &merchant, "staff").await;
    // The owner promotes staff to manager: permissions follow, the audit keeps before/after.
    let r = app
        .put(
            &format!("/api/merchant/team/{staff_id}/role"),
            Some(&owner),
            json!({ "role": "manager" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["role"], "manager");
    assert_eq!(
        r.body["data"]["permissions"].as_array().map(Vec::len),
        Some(28)
    );
    let merchant_oid = ObjectId::parse_str(&merchant).expect("id");
    let change = audit_records(
        &app,
        doc! { "merchantId": merchant_oid, "action": "team.role_change" },
        1,
    )
    .await;
    assert_eq!(change.len(), 1);
    let details = change[0].get_document("details").expect("details");
    assert_eq!(
        details
            .get_document("before")
            .and_then(|b| b.get_str("role")),
        Ok("staff")
    );
    assert_eq!(
        details
            .get_document("after")
            .and_then(|b| b.get_str("role")),
        Ok("manager")
    );
    // Admins may not change roles; bad input and unknown ids.
    let denied = app
        .put(
            &format!("/api/merchant/team/{staff_id}/role"),
            Some(&admin),
            json!({ "role": "staff" }),
        )
        .await;
    assert_eq!(
        (denied.status, denied.body["required"].clone()),
        (StatusCode::FORBIDDEN, json!("team:change_role"))
    );
    let bad = app
        .put(
            &format!("/api/merchant/team/{staff_id}/role"),
            Some(&owner),
            json!({ "role": "owner" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unknown = ObjectId::new().to_hex();
    assert_eq!(
        app.put(
            &format!("/api/merchant/team/{unknown}/role"),
            Some(&owner),
            json!({ "role": "staff" })
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/merchant/team/not-an-id", Some(&owner))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // Status: an admin may suspend others but not themself; a suspended member cannot log in.
    let own = app
        .put(
            &format!("/api/merchant/team/{admin_id}/status"),
            Some(&admin),
            json!({ "status": "suspended" }),
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    let invalid = app
        .put(
            &format!("/api/merchant/team/{staff_id}/status"),
            Some(&admin),
            json!({ "status": "gone" }),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let suspend = app
        .put(
            &format!("/api/merchant/team/{staff_id}/status"),
            Some(&admin),
            json!({ "status": "suspended" }),
        )
        .await;
    assert_eq!(suspend.status, StatusCode::OK, "{}", suspend.body);
    assert_eq!(suspend.body["data"]["status"], "suspended");
    let member = app
        .get(&format!("/api/merchant/team/{staff_id}"), Some(&owner))
        .await;
    assert_eq!(member.body["data"]["status"], "suspended");
    let email = member.body["data"]["email"]
        .as_str()
        .expect("email")
        .to_string();
    let login = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "member-pass" }),
        )
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
    // Removal: not oneself; then the member is gone.
    assert_eq!(
        app.delete(&format!("/api/merchant/team/{admin_id}"), Some(&admin))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let removed = app
        .delete(&format!("/api/merchant/team/{staff_id}"), Some(&admin))
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(
        app.get(&format!("/api/merchant/team/{staff_id}"), Some(&owner))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Activity: the admin's actions and the team changes, newest first.
    let activity = app.get("/api/merchant/team/activity", Some(&owner)).await;
    assert_eq!(activity.status, StatusCode::OK, "{}", activity.body);
    let actions: Vec<&str> = activity.body["data"]["activities"]
        .as_array()
        .expect("activities")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"team.remove")
            && actions.contains(&"team.status_change")
            && actions.contains(&"team.role_change"),
        "{actions:?}"
    );
    let by_admin = activity.body["data"]["activities"]
        .as_array()
        .expect("a")
        .iter()
        .find(|a| a["action"] == "team.remove")
        .expect("remove");
    assert_eq!(by_admin["user"]["id"], json!(admin_id), "{by_admin}");
    assert!(
        by_admin["user"].get("password").is_none(),
        "no secrets in the feed"
    );
    app.finish().await;
}

#[tokio::test]
async fn team_lists_members_and_activity_are_isolated_between_merchants() {
    let app = spawn_app().await;
    let (a, a_id, _) = app.register("team-a").await;
    let (b, _, _) = app.register("team-b").await;
    let (_, a_member) = member_token(&app, &a_id, "staff").await;
    let (_, b_body) = invitee("staff");
    assert_eq!(
        app.post("/api/merchant/team/invite", Some(&b), b_body)
            .await
            .status,
        StatusCode::CREATED
    );
    let list_b = app.get("/api/merchant/team", Some(&b)).await;
    assert_eq!(list_b.body["data"]["total"], 1);
    assert_ne!(list_b.body["data"]["teamMembers"][0]["id"], json!(a_member));
    assert_eq!(
        app.get(&format!("/api/merchant/team/{a_member}"), Some(&b))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/merchant/team/{a_member}"), Some(&b))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/merchant/team", Some(&a)).await.body["data"]["total"],
        1
    );
    // Each activity feed holds only its merchant's records: A's member login, B's invite.
    let _ = audit_records(&app, doc! { "action": "team.invite" }, 1).await;
    let _ = audit_records(&app, doc! { "action": "auth.login" }, 1).await;
    let act_a = app.get("/api/merchant/team/activity", Some(&a)).await;
    let act_b = app.get("/api/merchant/team/activity", Some(&b)).await;
    let actions = |r: &crate::helpers::Resp| -> Vec<String> {
        r.body["data"]["activities"]
            .as_array()
            .expect("activities")
            .iter()
            .map(|x| x["action"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(actions(&act_a), ["auth.login"], "{}", act_a.body);
    assert_eq!(actions(&act_b), ["team.invite"], "{}", act_b.body);
    assert_eq!(
        act_a.body["data"]["activities"][0]["merchantId"],
        json!(a_id)
    );
    app.finish().await;
}

#[tokio::test]
async fn a_pending_invitation_of_another_merchant_does_not_block_an_accepted_membership() {
    // Arrange: development servers return the invitation token with the invitation.
    let app = crate::helpers::spawn_app_with(&["--node-env", "development"]).await;
    let (a, _, _) = app.register("squat-a").await;
    let (b, b_id, _) = app.register("squat-b").await;
    let (email, body) = invitee("staff");
    // A invites the address first and the invitation is never accepted…
    let squat = app
        .post("/api/merchant/team/invite", Some(&a), body.clone())
        .await;
    assert_eq!(squat.status, StatusCode::CREATED, "{}", squat.body);
    // …then B invites it and the invitee accepts B's invitation.
    let real = app.post("/api/merchant/team/invite", Some(&b), body).await;
    assert_eq!(real.status, StatusCode::CREATED, "{}", real.body);
    let token = real.body["data"]["invitationToken"]
        .as_str()
        .expect("token in development");
    let accepted = accept(&app, token, "member-pass-1").await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    // Act
    let login = app
        .post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": "member-pass-1" }),
        )
        .await;
    // Assert: the member logs in to B, not to A's pending record.
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.body["data"]["merchant"]["id"], json!(b_id));
    // A's pending invitation is still A's to resend or withdraw, and B's member is not A's.
    let a_team = app.get("/api/merchant/team", Some(&a)).await;
    assert_eq!(a_team.body["data"]["teamMembers"][0]["status"], "inactive");
    app.finish().await;
}

#[tokio::test]
async fn an_address_registered_as_another_merchants_owner_can_still_join_a_team() {
    // Arrange: the address owns merchant A and is invited by B.
    let app = crate::helpers::spawn_app_with(&["--node-env", "development"]).await;
    let (_, a_id, email) = app.register("owner-a").await;
    let (b, b_id, _) = app.register("team-b").await;
    let invite = app
        .post(
            "/api/merchant/team/invite",
            Some(&b),
            json!({ "email": email, "name": "Olive Owner", "role": "manager" }),
        )
        .await;
    assert_eq!(invite.status, StatusCode::CREATED, "{}", invite.body);
    let token = invite.body["data"]["invitationToken"]
        .as_str()
        .expect("token in development");
    assert_eq!(
        accept(&app, token, "member-pass-2").await.status,
        StatusCode::OK
    );
    // Act: one address, two passwords.
    let login = |password: &'static str| {
        app.post(
            "/api/merchant/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
    };
    let as_member = login("member-pass-2").await;
    let as_owner = login("secret1").await;
    // Assert: each password opens its own account.
    assert_eq!(as_member.status, StatusCode::OK, "{}", as_member.body);
    assert_eq!(as_member.body["data"]["merchant"]["id"], json!(b_id));
    assert_eq!(as_member.body["data"]["user"]["role"], "manager");
    assert_eq!(as_owner.status, StatusCode::OK, "{}", as_owner.body);
    assert_eq!(as_owner.body["data"]["merchant"]["id"], json!(a_id));
    app.finish().await;
}
