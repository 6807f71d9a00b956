//! Keystone's password rules (`[security_compliance]`) and the user options that exempt a user from them: the
//! rules themselves, as functions of the configuration, the user and the time, so that each is tested without a
//! server. Keystone's messages, word for word.

use crate::model::User;
use chrono::{Duration, NaiveDateTime, Timelike};
use serde_json::{Map, Value};

use crate::config::{AuthSection, PasswordRules};
use crate::error::{DomainError, DomainResult};

/// `ignore_change_password_upon_first_use`: a password an administrator sets is not expired at once.
pub const IGNORE_FIRST_USE: &str = "ignore_change_password_upon_first_use";
/// `ignore_password_expiry`: the password never expires for this user.
pub const IGNORE_EXPIRY: &str = "ignore_password_expiry";
/// `ignore_lockout_failure_attempts`: failed attempts never lock this user out.
pub const IGNORE_LOCKOUT: &str = "ignore_lockout_failure_attempts";
/// `lock_password`: the user may not change their own password.
pub const LOCK_PASSWORD: &str = "lock_password";
/// `ignore_user_inactivity`: the user is never disabled for inactivity.
pub const IGNORE_INACTIVITY: &str = "ignore_user_inactivity";
const MFA_ENABLED: &str = "multi_factor_auth_enabled";
const MFA_RULES: &str = "multi_factor_auth_rules";
const FLAGS: [&str; 6] = [
    IGNORE_FIRST_USE,
    IGNORE_EXPIRY,
    IGNORE_LOCKOUT,
    LOCK_PASSWORD,
    IGNORE_INACTIVITY,
    MFA_ENABLED,
];

/// A user's options (Keystone's `options`): only known names, each a boolean, except the MFA rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserOptions(Map<String, Value>);

fn invalid(field: &str, value: &Value, why: &str) -> DomainError {
    DomainError::Invalid(format!(
        "Invalid input for field/attribute {field}. Value: {value}. {why}"
    ))
}

impl UserOptions {
    /// The options a stored user has (none when the column is empty or unreadable).
    pub fn of(u: &User) -> UserOptions {
        match u.options.as_deref().map(serde_json::from_str::<Value>) {
            Some(Ok(Value::Object(m))) => UserOptions(m),
            _ => UserOptions::default(),
        }
    }

    /// Whether an option is set to true.
    pub fn flag(&self, name: &str) -> bool {
        self.0.get(name) == Some(&Value::Bool(true))
    }

    /// The options as the API shows them.
    pub fn to_map(&self) -> Map<String, Value> {
        self.0.clone()
    }

    /// What the column keeps: nothing for no options.
    pub fn stored(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| Value::Object(self.0.clone()).to_string())
    }

    /// These options with a request's `options` applied, as Keystone merges them: a name with a value sets it, a
    /// name with null removes it, names not given stay. An unknown name or a value of the wrong type is refused.
    pub fn merged(&self, request: &Value) -> DomainResult<UserOptions> {
        let Value::Object(given) = request else {
            return Err(invalid(
                "options",
                request,
                &format!("{request} is not of type 'object'"),
            ));
        };
        let mut out = self.0.clone();
        for (name, value) in given {
            let known = FLAGS.contains(&name.as_str()) || name == MFA_RULES;
            if !known {
                return Err(invalid(
                    "options",
                    request,
                    &format!("Additional properties are not allowed ('{name}' was unexpected)"),
                ));
            }
            match value {
                Value::Null => {
                    out.remove(name);
                    continue;
                }
                Value::Bool(_) if name != MFA_RULES => {}
                Value::Array(rules) if name == MFA_RULES => {
                    let well_formed = rules.iter().all(|r| {
                        r.as_array()
                            .is_some_and(|r| !r.is_empty() && r.iter().all(Value::is_string))
                    });
                    if !well_formed {
                        return Err(invalid(
                            name,
                            value,
                            "Expected a list of non-empty lists of method names",
                        ));
                    }
                }
                _ if name == MFA_RULES => {
                    return Err(invalid(
                        name,
                        value,
                        &format!("{value} is not of type 'array', 'null'"),
                    ))
                }
                _ => {
                    return Err(invalid(
                        name,
                        value,
                        &format!("{value} is not of type 'boolean', 'null'"),
                    ))
                }
            }
            // Lintel has no second factor to enforce: saying "on" would promise what is not kept.
            let asks_mfa = (name == MFA_ENABLED && value == &Value::Bool(true))
                || value.as_array().is_some_and(|r| !r.is_empty());
            if asks_mfa {
                return Err(DomainError::Invalid(format!(
                    "The option {name} is not supported: this server has no multi-factor authentication."
                )));
            }
            out.insert(name.clone(), value.clone());
        }
        Ok(UserOptions(out))
    }
}

/// A new password against `password_regex`.
pub fn check_requirements(rules: &PasswordRules, password: &str) -> DomainResult<()> {
    let Some(regex) = &rules.regex else {
        return Ok(());
    };
    match regex.is_match(password) {
        Ok(true) => Ok(()),
        Ok(false) => Err(DomainError::Invalid(format!(
            "The password does not match the requirements: {}.",
            rules.regex_description.as_deref().unwrap_or("None")
        ))),
        // The backtracking limit: the pattern cannot decide this password in bounded time.
        Err(_) => Err(DomainError::Invalid(
            "Password validation error: Unable to validate password due to invalid configuration."
                .into(),
        )),
    }
}

/// `"password": null` where a pattern is configured (Keystone's check of a non-string password).
pub fn check_present(rules: &PasswordRules) -> DomainResult<()> {
    match rules.regex {
        Some(_) => Err(DomainError::Invalid(
            "Password validation error: Password must be a string type.".into(),
        )),
        None => Ok(()),
    }
}

/// When a password set at `now` expires: at once when an administrator set it under
/// `change_password_upon_first_use` (unless the user ignores that), else after `password_expires_days`
/// (whole seconds, as Keystone keeps it), else never.
pub fn expiry_of_new(
    rules: &PasswordRules,
    now: NaiveDateTime,
    set_by_admin: bool,
    options: &UserOptions,
) -> Option<NaiveDateTime> {
    if set_by_admin && rules.change_password_upon_first_use && !options.flag(IGNORE_FIRST_USE) {
        return Some(now);
    }
    rules.password_expires_days.map(|days| {
        let at = now + Duration::days(i64::from(days));
        at.with_nanosecond(0).unwrap_or(at)
    })
}

/// Whether a user's password has expired (the option `ignore_password_expiry` is read now, as Keystone does).
pub fn is_expired(u: &User, options: &UserOptions, now: NaiveDateTime) -> bool {
    u.password_expires_at.is_some_and(|t| t <= now) && !options.flag(IGNORE_EXPIRY)
}

/// Until when a user is locked out, if they are now.
pub fn locked_until(
    auth: &AuthSection,
    u: &User,
    options: &UserOptions,
    now: NaiveDateTime,
) -> Option<NaiveDateTime> {
    if auth.lockout_failure_attempts == 0
        || options.flag(IGNORE_LOCKOUT)
        || u.failed_auth_count < i32::try_from(auth.lockout_failure_attempts).unwrap_or(i32::MAX)
    {
        return None;
    }
    let since = u.last_failed_auth_at?;
    // A duration past the calendar's end locks for good rather than not at all.
    let until = Duration::from_std(auth.lockout_duration)
        .ok()
        .and_then(|d| since.checked_add_signed(d))
        .unwrap_or(NaiveDateTime::MAX);
    (now < until).then_some(until)
}

/// Whether a user has been inactive for `disable_user_account_days_inactive` days: counted in whole days from
/// their last password authentication (or being enabled), or from their creation.
pub fn is_inactive(
    rules: &PasswordRules,
    active_since: NaiveDateTime,
    ignores_inactivity: bool,
    now: NaiveDateTime,
) -> bool {
    let Some(days) = rules.disable_user_account_days_inactive else {
        return false;
    };
    !ignores_inactivity && (now.date() - active_since.date()).num_days() >= i64::from(days)
}

/// When a stored user last counted as active.
pub fn active_since(u: &User) -> NaiveDateTime {
    u.last_active_at.unwrap_or(u.created_at)
}

/// Whether a stored user is enabled now: their flag, and not inactive.
pub fn is_enabled(rules: &PasswordRules, u: &User, now: NaiveDateTime) -> bool {
    u.enabled
        && !is_inactive(
            rules,
            active_since(u),
            UserOptions::of(u).flag(IGNORE_INACTIVITY),
            now,
        )
}

/// A user changing their own password: allowed by `lock_password` and `minimum_password_age` (counted from a
/// password they set themselves; an administrator's reset may be changed at once).
pub fn check_self_service(
    rules: &PasswordRules,
    u: &User,
    options: &UserOptions,
    now: NaiveDateTime,
) -> DomainResult<()> {
    if options.flag(LOCK_PASSWORD) {
        return Err(DomainError::Invalid(
            "You cannot change your password at this time due to password policy disallowing password changes. \
             Please contact your administrator to reset your password."
                .into(),
        ));
    }
    let days = rules.minimum_password_age_days;
    if days == 0 || !u.password_self_service {
        return Ok(());
    }
    let Some(set_at) = u.password_created_at else {
        return Ok(());
    };
    let min_age = set_at + Duration::days(i64::from(days));
    if now < min_age {
        return Err(DomainError::Invalid(format!(
            "You cannot change your password at this time due to the minimum password age. Once you change your \
             password, it must be used for {days} day(s) before it can be changed. Please try again in {} day(s) \
             or contact your administrator to reset your password.",
            (min_age - now).num_days()
        )));
    }
    Ok(())
}

/// The refusal of a password the user had among the last `unique_last_password_count`.
pub fn reused(rules: &PasswordRules) -> DomainError {
    DomainError::Invalid(format!(
        "The new password cannot be identical to a previous password. The total number which includes the new \
         password must be unique is {}.",
        rules.unique_last_password_count
    ))
}

/// How many earlier passwords to keep besides the current one: enough for the history rule (the current one and
/// the N-1 before it), and at least one.
pub fn history_kept(rules: &PasswordRules) -> u64 {
    u64::from(rules.unique_last_password_count.max(2) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32, hour: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, day)
            .unwrap()
            .and_hms_micro_opt(hour, 30, 15, 123_456)
            .unwrap()
    }

    fn user() -> User {
        User {
            id: "u1".into(),
            name: "u".into(),
            domain_id: "default".into(),
            enabled: true,
            password_hash: None,
            default_project_id: None,
            extra: "{}".into(),
            password_expires_at: None,
            failed_auth_count: 0,
            last_failed_auth_at: None,
            created_at: at(1, 9),
            options: None,
            last_active_at: None,
            password_created_at: None,
            password_self_service: false,
            service_project_id: None,
        }
    }

    fn opts(v: Value) -> UserOptions {
        UserOptions::default().merged(&v).unwrap()
    }

    #[test]
    fn options_merge_as_keystone_merges_them_and_refuse_what_it_refuses() {
        let o = opts(serde_json::json!({"lock_password": true, "ignore_password_expiry": false}));
        assert!(o.flag(LOCK_PASSWORD) && !o.flag(IGNORE_EXPIRY));
        // null removes, absent stays.
        let o = o
            .merged(&serde_json::json!({"lock_password": null}))
            .unwrap();
        assert_eq!(o.to_map().len(), 1);
        assert_eq!(
            o.stored().as_deref(),
            Some(r#"{"ignore_password_expiry":false}"#)
        );
        assert_eq!(UserOptions::default().stored(), None);
        let refused = |v: Value| UserOptions::default().merged(&v).unwrap_err().to_string();
        assert!(refused(serde_json::json!({"foo": true}))
            .contains("Additional properties are not allowed ('foo' was unexpected)"));
        assert!(refused(serde_json::json!({"lock_password": "yes"}))
            .contains(r#""yes" is not of type 'boolean', 'null'"#));
        assert!(refused(serde_json::json!("x")).contains("is not of type 'object'"));
        assert!(
            refused(serde_json::json!({"multi_factor_auth_enabled": true}))
                .contains("not supported")
        );
        assert!(
            refused(serde_json::json!({"multi_factor_auth_rules": [["password", 1]]}))
                .contains("lists")
        );
        // Saying "off" is fine.
        opts(
            serde_json::json!({"multi_factor_auth_enabled": false, "multi_factor_auth_rules": []}),
        );
    }

    #[test]
    fn a_password_matches_the_pattern_from_its_start_with_look_ahead() {
        let mut rules = PasswordRules::default();
        assert!(check_requirements(&rules, "x").is_ok());
        rules.regex = Some(fancy_regex::Regex::new(r"\A(?:(?=.*\d)(?=.*[a-zA-Z]).{7,}$)").unwrap());
        rules.regex_description = Some("seven characters, a letter and a digit".into());
        assert!(check_requirements(&rules, "abcdef1").is_ok());
        let e = check_requirements(&rules, "abcdefg")
            .unwrap_err()
            .to_string();
        assert!(e.contains(
            "The password does not match the requirements: seven characters, a letter and a digit."
        ));
        assert!(check_present(&rules).is_err());
        // Anchored at the start only, like re.match.
        rules.regex = Some(fancy_regex::Regex::new(r"\A(?:ab)").unwrap());
        assert!(check_requirements(&rules, "abzzz").is_ok());
        assert!(check_requirements(&rules, "zab").is_err());
    }

    #[test]
    fn a_new_password_expires_after_the_days_or_at_once_when_an_administrator_set_it_for_first_use()
    {
        let mut rules = PasswordRules::default();
        let none = UserOptions::default();
        assert_eq!(expiry_of_new(&rules, at(1, 9), true, &none), None);
        rules.password_expires_days = Some(90);
        let expires = expiry_of_new(&rules, at(1, 9), false, &none).unwrap();
        assert_eq!(
            expires,
            at(1, 9).with_nanosecond(0).unwrap() + Duration::days(90)
        );
        rules.change_password_upon_first_use = true;
        assert_eq!(expiry_of_new(&rules, at(1, 9), true, &none), Some(at(1, 9)));
        assert_eq!(
            expiry_of_new(&rules, at(1, 9), false, &none),
            Some(expires),
            "self-service"
        );
        let exempt = opts(serde_json::json!({"ignore_change_password_upon_first_use": true}));
        assert_eq!(
            expiry_of_new(&rules, at(1, 9), true, &exempt),
            Some(expires)
        );
        // Expired now, unless the user ignores expiry.
        let u = User {
            password_expires_at: Some(at(1, 9)),
            ..user()
        };
        assert!(is_expired(&u, &none, at(1, 9)));
        assert!(!is_expired(
            &u,
            &opts(serde_json::json!({"ignore_password_expiry": true})),
            at(1, 9)
        ));
    }

    #[test]
    fn lockout_runs_its_duration_unless_the_user_ignores_it() {
        let auth = crate::config::Config::defaults().unwrap().auth;
        let auth = AuthSection {
            lockout_failure_attempts: 2,
            lockout_duration: std::time::Duration::from_secs(10),
            ..auth
        };
        let u = User {
            failed_auth_count: 2,
            last_failed_auth_at: Some(at(1, 9)),
            ..user()
        };
        let none = UserOptions::default();
        assert!(locked_until(&auth, &u, &none, at(1, 9) + Duration::seconds(9)).is_some());
        assert!(locked_until(&auth, &u, &none, at(1, 9) + Duration::seconds(10)).is_none());
        let one = User {
            failed_auth_count: 1,
            ..u.clone()
        };
        assert!(locked_until(&auth, &one, &none, at(1, 9)).is_none());
        let exempt = opts(serde_json::json!({"ignore_lockout_failure_attempts": true}));
        assert!(locked_until(&auth, &u, &exempt, at(1, 9)).is_none());
    }

    #[test]
    fn inactivity_counts_whole_days_from_the_last_activity_or_creation() {
        let mut rules = PasswordRules::default();
        let u = user();
        assert!(is_enabled(&rules, &u, at(30, 9)));
        rules.disable_user_account_days_inactive = Some(3);
        assert!(is_enabled(&rules, &u, at(3, 23)));
        assert!(
            !is_enabled(&rules, &u, at(4, 0)),
            "three days after the 1st"
        );
        let active = User {
            last_active_at: Some(at(3, 9)),
            ..u.clone()
        };
        assert!(is_enabled(&rules, &active, at(5, 9)));
        let exempt = User {
            options: Some(r#"{"ignore_user_inactivity": true}"#.into()),
            ..u
        };
        assert!(is_enabled(&rules, &exempt, at(30, 9)));
    }

    #[test]
    fn a_user_may_change_their_own_password_once_it_is_old_enough_and_not_locked() {
        let mut rules = PasswordRules::default();
        let none = UserOptions::default();
        let u = User {
            password_created_at: Some(at(1, 9)),
            password_self_service: true,
            service_project_id: None,
            ..user()
        };
        assert!(check_self_service(&rules, &u, &none, at(1, 9)).is_ok());
        rules.minimum_password_age_days = 2;
        let e = check_self_service(&rules, &u, &none, at(2, 10))
            .unwrap_err()
            .to_string();
        assert!(e.contains("it must be used for 2 day(s) before it can be changed. Please try again in 0 day(s)"), "{e}");
        assert!(check_self_service(&rules, &u, &none, at(3, 9)).is_ok());
        // An administrator's reset may be changed at once.
        let reset = User {
            password_self_service: false,
            service_project_id: None,
            ..u.clone()
        };
        assert!(check_self_service(&rules, &reset, &none, at(1, 9)).is_ok());
        let locked = opts(serde_json::json!({"lock_password": true}));
        assert!(check_self_service(&rules, &reset, &locked, at(9, 9))
            .unwrap_err()
            .to_string()
            .contains("password policy disallowing password changes"));
        // History: the current password and the N-1 before it.
        rules.unique_last_password_count = 2;
        assert_eq!(history_kept(&rules), 1);
        assert!(reused(&rules).to_string().ends_with("must be unique is 2."));
    }
}
