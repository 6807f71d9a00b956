//! Input rules every resource shares: Keystone's limits on names and descriptions, its boolean query values,
//! new ids, and how a lookup made before policy keeps its "not found".

use crate::error::DomainError;

/// A lookup whose "not found" is kept for later (policy is enforced before a 404 tells the caller anything),
/// while any other failure, a database outage above all, is returned at once and never taken for a miss.
pub fn existing<T>(found: Result<T, DomainError>) -> Result<Result<T, DomainError>, DomainError> {
    match found {
        Err(DomainError::NotFound(m)) => Ok(Err(DomainError::NotFound(m))),
        Err(e) => Err(e),
        Ok(t) => Ok(Ok(t)),
    }
}

/// A new 32-character hex id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Parse Keystone's boolean query values (`true`, `True`, `1`, ...); anything else is a 400.
pub fn query_bool(name: &str, v: &str) -> Result<bool, DomainError> {
    match v.to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(DomainError::Invalid(format!(
            "Invalid value '{v}' for query parameter {name}: expected a boolean."
        ))),
    }
}

/// Longest domain and project name (Keystone's resource schema).
pub const PROJECT_NAME_MAX: usize = 64;
/// Longest group name (Keystone's column).
pub const GROUP_NAME_MAX: usize = 64;
/// Longest user, role, service and application credential name.
pub const NAME_MAX: usize = 255;
/// Longest description of a domain, role or region (Keystone's schema and columns).
pub const SHORT_DESCRIPTION_MAX: usize = 255;
/// Longest other description, in bytes: what a MariaDB/MySQL `TEXT` column holds, so that all three databases
/// accept the same descriptions.
pub const DESCRIPTION_MAX_BYTES: usize = 65_535;

/// A value for an error message: at most 64 characters of it.
fn shown(value: &str) -> String {
    if value.chars().count() <= 64 {
        value.to_string()
    } else {
        format!("{}...", value.chars().take(64).collect::<String>())
    }
}

/// Check a name as Keystone's schemas do: not empty, some non-space character, at most `max` characters.
pub fn check_name(name: &str, max: usize) -> Result<(), DomainError> {
    let why = if name.is_empty() {
        "should be non-empty"
    } else if name.chars().all(char::is_whitespace) {
        "does not match '[\\S]+'"
    } else if name.chars().count() > max {
        "is too long"
    } else {
        return Ok(());
    };
    let v = shown(name);
    Err(DomainError::validation(format!(
        "name. Value: {v}. '{v}' {why}"
    )))
}

/// Check a description: at most `max_chars` characters (when given) and [`DESCRIPTION_MAX_BYTES`] bytes.
pub fn check_description(
    description: Option<&str>,
    max_chars: Option<usize>,
) -> Result<(), DomainError> {
    let Some(d) = description else {
        return Ok(());
    };
    if d.len() > DESCRIPTION_MAX_BYTES || max_chars.is_some_and(|m| d.chars().count() > m) {
        let v = shown(d);
        return Err(DomainError::validation(format!(
            "description. Value: {v}. '{v}' is too long"
        )));
    }
    Ok(())
}

/// Check another bounded string field (an id, a type, a URL) the same way.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.chars().count() > max {
        let v = shown(value);
        return Err(DomainError::validation(format!(
            "{field}. Value: {v}. '{v}' is too long"
        )));
    }
    Ok(())
}

/// The dotted path of the first string (or key) in a JSON document that holds a NUL character: no database stores
/// one in a text column (PostgreSQL refuses it), so it is refused before any query. The walk is iterative; serde_json
/// bounds the nesting it parses.
pub fn nul_in(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let mut stack: Vec<(String, &Value)> = vec![(String::new(), value)];
    while let Some((path, v)) = stack.pop() {
        let at = |key: &str| {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            }
        };
        match v {
            Value::String(s) if s.contains('\0') => return Some(path),
            Value::Array(items) => {
                stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (at(&i.to_string()), x)),
                );
            }
            Value::Object(map) => {
                for (k, x) in map {
                    if k.contains('\0') {
                        return Some(path);
                    }
                    stack.push((at(k), x));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod nul_tests {
    use super::nul_in;
    use serde_json::json;

    #[test]
    fn a_nul_anywhere_is_found_and_named() {
        assert_eq!(nul_in(&json!({"user": {"name": "ok"}})), None);
        assert_eq!(
            nul_in(&json!({"user": {"name": "a\u{0}b"}})).as_deref(),
            Some("user.name")
        );
        assert_eq!(
            nul_in(&json!({"r": [{"path": "/x"}, {"path": "\u{0}"}]})).as_deref(),
            Some("r.1.path")
        );
        assert_eq!(nul_in(&json!({"k\u{0}": 1})).as_deref(), Some(""));
    }
}
