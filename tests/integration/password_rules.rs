//! Keystone's password rules on the wire, on every backend: what a user and an administrator see under
//! `[security_compliance]` with every rule on (the rules themselves: src/identity/passwords.rs).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{each_backend, TestServer};

const RULES: &str = "[security_compliance]\n\
    password_regex = ^(?=.*\\d)(?=.*[a-zA-Z]).{7,}$\n\
    password_regex_description = at least seven characters, a letter and a digit\n\
    unique_last_password_count = 2\n\
    minimum_password_age = 1\n\
    password_expires_days = 90\n\
    change_password_upon_first_use = true\n\
    disable_user_account_days_inactive = 30\n\
    lockout_failure_attempts = 2\n\
    lockout_duration = 600\n";

async fn login(s: &TestServer, id: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"id": id, "password": password}}}}});
    let (status, _, answer) = s
        .call(Method::POST, "/v3/auth/tokens", None, Some(body))
        .await;
    (status, answer)
}

async fn change_own(s: &TestServer, id: &str, original: &str, new: &str) -> (StatusCode, Value) {
    let body = json!({"user": {"original_password": original, "password": new}});
    let (status, _, answer) = s
        .call(
            Method::POST,
            &format!("/v3/users/{id}/password"),
            None,
            Some(body),
        )
        .await;
    (status, answer)
}

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn keystones_password_rules_hold_for_users_and_administrators() {
    each_backend(rules_on).await;
}

async fn rules_on(backend: &'static str) {
    let s = TestServer::start_with(backend, RULES).await;
    let mut admin = s.admin_token().await;
    // The administrator is exempt from inactivity: the test moves the clock a month on.
    let (_, _, me) = s
        .call(Method::GET, "/v3/users?name=admin", Some(&admin), None)
        .await;
    let admin_id = me["users"][0]["id"].as_str().unwrap().to_string();
    let exempt = json!({"user": {"options": {"ignore_user_inactivity": true}}});
    let (status, _, _) = s
        .call(
            Method::PATCH,
            &format!("/v3/users/{admin_id}"),
            Some(&admin),
            Some(exempt),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The pattern, with its description, on create.
    let (status, _, refused) = s
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            Some(json!({"user": {"name": "u", "password": "letters"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(
        message(&refused),
        "The password does not match the requirements: at least seven characters, a letter and a digit."
    );
    // Unknown options are refused; known ones are kept and shown.
    let (status, _, refused) = s
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            Some(json!({"user": {"name": "u", "options": {"foo": true}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, _, made) = s
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            Some(json!({"user": {"name": "u", "password": "first1pass", "options": {"ignore_user_inactivity": false}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(
        made["user"]["options"],
        json!({"ignore_user_inactivity": false})
    );
    let id = made["user"]["id"].as_str().unwrap().to_string();

    // Set by an administrator: expired at once, so the first login is refused, but the user may change it.
    let (status, answer) = login(&s, &id, "first1pass").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(
        message(&answer),
        format!("The password is expired and needs to be changed for user: {id}.")
    );
    assert_eq!(
        change_own(&s, &id, "first1pass", "second2pass").await.0,
        StatusCode::NO_CONTENT
    );
    let (status, token) = login(&s, &id, "second2pass").await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    // A password the user set expires after 90 days.
    let (_, _, shown) = s
        .call(Method::GET, &format!("/v3/users/{id}"), Some(&admin), None)
        .await;
    assert!(shown["user"]["password_expires_at"].is_string(), "{shown}");

    // The minimum age holds the user's own password for a day...
    let (status, answer) = change_own(&s, &id, "second2pass", "third3pass").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        message(&answer).contains("it must be used for 1 day(s) before it can be changed"),
        "{answer}"
    );
    s.clock.advance(std::time::Duration::from_secs(25 * 3600));
    admin = s.admin_token().await;
    // ...and the history refuses the current and the previous one.
    for reused in ["second2pass", "first1pass"] {
        let (status, answer) = change_own(&s, &id, "second2pass", reused).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reused}: {answer}");
        assert!(
            message(&answer).ends_with("must be unique is 2."),
            "{answer}"
        );
    }
    assert_eq!(
        change_own(&s, &id, "second2pass", "third3pass").await.0,
        StatusCode::NO_CONTENT
    );
    // An administrator's reset is not held by the history (and under first-use the user changes it again).
    for _ in 0..2 {
        let (status, _, answer) = s
            .call(Method::PATCH, &format!("/v3/users/{id}"), Some(&admin),
                Some(json!({"user": {"password": "third3pass", "options": {"ignore_change_password_upon_first_use": true}}})))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    assert_eq!(login(&s, &id, "third3pass").await.0, StatusCode::CREATED);

    // lock_password: only an administrator may change it.
    s.call(
        Method::PATCH,
        &format!("/v3/users/{id}"),
        Some(&admin),
        Some(json!({"user": {"options": {"lock_password": true}}})),
    )
    .await;
    let (status, answer) = change_own(&s, &id, "third3pass", "fourth4pass").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        message(&answer).contains("password policy disallowing password changes"),
        "{answer}"
    );

    // Lockout: two wrong passwords, then even the right one is refused; enabling the user unlocks it.
    for _ in 0..2 {
        assert_eq!(
            login(&s, &id, "wrong9pass").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, answer) = login(&s, &id, "third3pass").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        message(&answer),
        format!("The account is locked for user: {id}.")
    );
    s.call(
        Method::PATCH,
        &format!("/v3/users/{id}"),
        Some(&admin),
        Some(json!({"user": {"enabled": true}})),
    )
    .await;
    assert_eq!(login(&s, &id, "third3pass").await.0, StatusCode::CREATED);

    // Inactive for 30 days: shown disabled, refused with Keystone's message; ignore_user_inactivity exempts.
    s.clock
        .advance(std::time::Duration::from_secs(31 * 24 * 3600));
    admin = s.admin_token().await;
    let (_, _, shown) = s
        .call(Method::GET, &format!("/v3/users/{id}"), Some(&admin), None)
        .await;
    assert_eq!(shown["user"]["enabled"], false, "{shown}");
    let (status, answer) = login(&s, &id, "third3pass").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        message(&answer),
        format!("The account is disabled for user: {id}.")
    );
    let (_, _, shown) = s
        .call(Method::PATCH, &format!("/v3/users/{id}"), Some(&admin),
            Some(json!({"user": {"options": {"ignore_user_inactivity": true, "lock_password": null}}})))
        .await;
    assert_eq!(
        shown["user"]["options"],
        json!({"ignore_user_inactivity": true, "ignore_change_password_upon_first_use": true}),
        "{shown}"
    );
    assert_eq!(shown["user"]["enabled"], true, "{shown}");
    // The password the administrator set 31 days ago has not expired (90 days).
    assert_eq!(login(&s, &id, "third3pass").await.0, StatusCode::CREATED);
    s.stop().await;
}
