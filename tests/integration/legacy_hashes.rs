//! Keystone's hashes, as an import leaves them in the database: they verify as Keystone verifies them, and the
//! first successful use replaces them with argon2id.

use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::common::TestServer;

/// What Keystone 30's hashers made of this password (see src/crypto/legacy_hash.rs for how).
const SECRET: &str = "correct horse battery staple";
const BCRYPT: &str = "$2b$04$KBtnQs1jXU3uygAE5LlueOI/xMSwzkB0QHfa/THSUjeuPuNIguwuS";
const PBKDF2: &str = "$pbkdf2-sha512$1000$9eXIP9X1ynGi7U2Z0ATurA$AN4fcokB0QEyzrXxc6S0SMbDTx3bFa4nmGOeCIb3dhDI2DbxoOX1NZwUjDHfsAQZigtwouV2syv+KzHAeCCOZg";

/// A user and an application credential named `name`, as an import leaves them: Keystone's hashes of [`SECRET`]
/// (bcrypt for the password, PBKDF2 for the secret), as they are. Returns their ids.
async fn imported(s: &TestServer, name: &str) -> (String, String) {
    let admin = s.admin_token().await;
    let (status, _, user) = s
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            Some(json!({"user": {"name": name, "password": "not yet imported"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let uid = user["user"]["id"].as_str().unwrap().to_string();
    let (status, cred) = s
        .create_admin_credential(&admin, json!({"name": name}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cred}");
    let cid = cred["id"].as_str().unwrap().to_string();
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
    (uid, cid)
}

#[tokio::test]
async fn keystone_hashes_verify_and_become_argon2id_on_first_use() {
    crate::common::each_backend(legacy_on).await;
}

async fn legacy_on(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let (uid, cid) = imported(&s, "imported").await;
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

#[tokio::test]
async fn a_failed_upgrade_still_lets_the_right_secret_in() {
    crate::common::each_backend(failed_upgrade_on).await;
}

/// Triggers that refuse to change a stored hash, in each backend's dialect: the write of the upgrade fails as a
/// real database error, and the refusal can be lifted again.
fn refuse_rehash(backend: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    match backend {
        "postgres" => (
            vec![
                "CREATE OR REPLACE FUNCTION lintel_test_refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql",
                r#"CREATE TRIGGER no_rehash_u BEFORE UPDATE OF password_hash ON "user" FOR EACH ROW EXECUTE FUNCTION lintel_test_refuse()"#,
                "CREATE TRIGGER no_rehash_c BEFORE UPDATE OF secret_hash ON application_credential FOR EACH ROW EXECUTE FUNCTION lintel_test_refuse()",
            ],
            vec![
                r#"DROP TRIGGER no_rehash_u ON "user""#,
                "DROP TRIGGER no_rehash_c ON application_credential",
            ],
        ),
        "mysql" => (
            vec![
                "CREATE TRIGGER no_rehash_u BEFORE UPDATE ON `user` FOR EACH ROW BEGIN IF NOT (NEW.password_hash <=> OLD.password_hash) THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the test'; END IF; END",
                "CREATE TRIGGER no_rehash_c BEFORE UPDATE ON application_credential FOR EACH ROW BEGIN IF NOT (NEW.secret_hash <=> OLD.secret_hash) THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the test'; END IF; END",
            ],
            vec!["DROP TRIGGER no_rehash_u", "DROP TRIGGER no_rehash_c"],
        ),
        _ => (
            vec![
                r#"CREATE TRIGGER no_rehash_u BEFORE UPDATE OF password_hash ON "user" BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"#,
                "CREATE TRIGGER no_rehash_c BEFORE UPDATE OF secret_hash ON application_credential BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            ],
            vec!["DROP TRIGGER no_rehash_u", "DROP TRIGGER no_rehash_c"],
        ),
    }
}

async fn failed_upgrade_on(backend: &'static str) {
    use sea_orm::ConnectionTrait;
    let s = TestServer::start(backend).await;
    let (uid, cid) = imported(&s, "stuck").await;
    let (refuse, lift) = refuse_rehash(backend);
    for sql in refuse {
        s.db.execute_unprepared(sql).await.unwrap();
    }
    let stored = || async {
        let u = entity::user::Entity::find_by_id(uid.clone())
            .one(&s.db)
            .await
            .unwrap()
            .unwrap();
        let c = entity::application_credential::Entity::find_by_id(cid.clone())
            .one(&s.db)
            .await
            .unwrap()
            .unwrap();
        (u.password_hash.unwrap(), c.secret_hash)
    };
    let token = || {
        s.client
            .post(format!("{}/v3/OS-OAUTH2/token", s.base))
            .basic_auth(&cid, Some(SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };

    // The database refuses the upgrade: the right password and secret are still taken, the old hashes stay.
    let (status, _, body) = s.password_token("stuck", SECRET, None).await;
    assert_eq!(status, StatusCode::CREATED, "{backend}: {body}");
    assert_eq!(token().await.unwrap().status(), StatusCode::OK, "{backend}");
    assert_eq!(stored().await, (BCRYPT.to_string(), PBKDF2.to_string()));
    let (status, _, _) = s.password_token("stuck", "wrong", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend}: still checked");

    // Once the database takes writes again, the next successful use upgrades them.
    for sql in lift {
        s.db.execute_unprepared(sql).await.unwrap();
    }
    let (status, _, body) = s.password_token("stuck", SECRET, None).await;
    assert_eq!(status, StatusCode::CREATED, "{backend}: {body}");
    let other = s.another_node("").await;
    let resp = other
        .client
        .post(format!("{}/v3/OS-OAUTH2/token", other.base))
        .basic_auth(&cid, Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{backend}");
    let (user_hash, cred_hash) = stored().await;
    assert!(
        user_hash.starts_with("$argon2id$"),
        "{backend}: {user_hash}"
    );
    assert!(
        cred_hash.starts_with("$argon2id$"),
        "{backend}: {cred_hash}"
    );
    drop(other);
    s.stop().await;
}
