//! Keystone's hashes, as an import leaves them in the database: they verify as Keystone verifies them, and the
//! first successful use replaces them with argon2id.

use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::common::TestServer;

/// What Keystone 30's hashers made of this password (see src/legacy_hash.rs for how).
const SECRET: &str = "correct horse battery staple";
const BCRYPT: &str = "$2b$04$KBtnQs1jXU3uygAE5LlueOI/xMSwzkB0QHfa/THSUjeuPuNIguwuS";
const PBKDF2: &str = "$pbkdf2-sha512$1000$9eXIP9X1ynGi7U2Z0ATurA$AN4fcokB0QEyzrXxc6S0SMbDTx3bFa4nmGOeCIb3dhDI2DbxoOX1NZwUjDHfsAQZigtwouV2syv+KzHAeCCOZg";

#[tokio::test]
async fn keystone_hashes_verify_and_become_argon2id_on_first_use() {
    crate::common::each_backend(legacy_on).await;
}

async fn legacy_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let (status, _, user) = s
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            Some(json!({"user": {"name": "imported", "password": "not yet imported"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let uid = user["user"]["id"].as_str().unwrap().to_string();
    let (status, cred) = s
        .create_admin_credential(&admin, json!({"name": "imported"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cred}");
    let cid = cred["id"].as_str().unwrap().to_string();
    // What an import writes: Keystone's hashes, as they are.
    entity::user::Entity::update_many()
        .col_expr(entity::user::Column::PasswordHash, BCRYPT.into())
        .filter(entity::user::Column::Id.eq(&uid))
        .exec(&s.db)
        .await
        .unwrap();
    entity::application_credential::Entity::update_many()
        .col_expr(
            entity::application_credential::Column::SecretHash,
            PBKDF2.into(),
        )
        .filter(entity::application_credential::Column::Id.eq(&cid))
        .exec(&s.db)
        .await
        .unwrap();
    let stored_user = || async {
        entity::user::Entity::find_by_id(uid.clone())
            .one(&s.db)
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .unwrap()
    };
    let stored_cred = || async {
        entity::application_credential::Entity::find_by_id(cid.clone())
            .one(&s.db)
            .await
            .unwrap()
            .unwrap()
            .secret_hash
    };

    let (status, _, body) = s.password_token("imported", "wrong", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(stored_user().await, BCRYPT, "a failure changes nothing");
    for round in 0..2 {
        let (status, _, body) = s.password_token("imported", SECRET, None).await;
        assert_eq!(status, StatusCode::CREATED, "round {round}: {body}");
        assert!(
            stored_user().await.starts_with("$argon2id$"),
            "{backend}: the password is argon2id after its first use"
        );
    }

    let token = |s: &TestServer| {
        s.client
            .post(format!("{}/v3/OS-OAUTH2/token", s.base))
            .basic_auth(&cid, Some(SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    assert_eq!(token(&s).await.unwrap().status(), StatusCode::OK);
    assert!(
        stored_cred().await.starts_with("$argon2id$"),
        "{backend}: the secret is argon2id after its first use"
    );
    // Another node has nothing cached: the new hash alone vouches for the secret.
    let other = s.another_node("").await;
    assert_eq!(token(&other).await.unwrap().status(), StatusCode::OK);
    drop(other);
    s.stop().await;
}
