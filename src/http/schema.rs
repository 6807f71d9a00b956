//! A request body read into its typed request struct, with Keystone's JSON-schema messages for what does not fit:
//! the struct is both the parser and what the OpenAPI document shows, so the two cannot drift. Every JSON body
//! goes through here (`JsonBody`).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{DomainError, DomainResult};

/// Read `body` as a `T`; a body that does not fit is a 400 worded as Keystone's schema validation words it
/// (`Invalid input for field/attribute PATH. ...`).
pub fn parse<T: DeserializeOwned>(body: Value) -> DomainResult<T> {
    match serde_path_to_error::deserialize::<_, T>(&body) {
        Ok(t) => Ok(t),
        Err(e) => Err(DomainError::validation(keystone_message(
            &body,
            &e.path().to_string(),
            &e.inner().to_string(),
        ))),
    }
}

/// The value at a dotted serde path (`a.b[0].c`), if the body has one.
fn at<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = body;
    for part in path.split('.').filter(|p| !p.is_empty() && *p != "?") {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !key.is_empty() {
            v = v.get(key)?;
        }
        if let Some(i) = index {
            v = v.get(i)?;
        }
    }
    Some(v)
}

/// The text between the first pair of backticks of serde's message (`unknown field \`x\``).
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Keystone's wording for serde's error `message` at `path` of `body`.
fn keystone_message(body: &Value, path: &str, message: &str) -> String {
    let path = if path == "." { "" } else { path };
    let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
    if message.starts_with("unknown field") {
        let field = quoted(message).unwrap_or("?");
        return format!(
            "{parent}. Additional properties are not allowed ('{field}' was unexpected)"
        );
    }
    if message.starts_with("missing field") {
        let field = quoted(message).unwrap_or("?");
        return format!("{path}. '{field}' is a required property");
    }
    if let Some(expected) = message
        .split(", expected ")
        .nth(1)
        .filter(|_| message.starts_with("invalid type"))
    {
        let kind = if expected.starts_with("a string") {
            "string"
        } else if expected.starts_with("a boolean") {
            "boolean"
        } else if expected.starts_with("a sequence") {
            "array"
        } else if expected.contains("integer") {
            "integer"
        } else {
            "object"
        };
        let value = at(body, path).map_or_else(|| "null".to_string(), Value::to_string);
        return format!("{path}. {value} is not of type '{kind}'");
    }
    format!("{path}. {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
        flag: Option<bool>,
        list: Option<Vec<String>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        thing: Inner,
    }

    fn refused(body: Value) -> String {
        parse::<Outer>(body).unwrap_err().to_string()
    }

    #[test]
    fn what_does_not_fit_is_worded_as_keystones_schema_words_it() {
        assert!(parse::<Outer>(json!({"thing": {"name": "x", "flag": null}})).is_ok());
        assert!(refused(json!({"thing": {"name": "x", "bogus": 1}}))
            .contains("thing. Additional properties are not allowed ('bogus' was unexpected)"));
        assert!(refused(json!({"thing": {"flag": true}}))
            .contains("thing. 'name' is a required property"));
        assert!(refused(json!({"other": 1})).contains(". 'thing' is a required property"));
        assert!(refused(json!({"thing": {"name": 5}}))
            .contains("thing.name. 5 is not of type 'string'"));
        assert!(refused(json!({"thing": {"name": "x", "flag": "yes"}}))
            .contains(r#"thing.flag. "yes" is not of type 'boolean'"#));
        assert!(refused(json!({"thing": {"name": "x", "list": "admin"}}))
            .contains(r#"thing.list. "admin" is not of type 'array'"#));
        assert!(refused(json!({"thing": {"name": "x", "list": ["a", 2]}}))
            .contains("thing.list[1]. 2 is not of type 'string'"));
    }
}
