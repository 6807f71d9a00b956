//! Keystone's mapping rules: `remote` conditions on a provider's claims, `local` user, groups and projects, with
//! `{N}` standing for the values the N-th plain remote condition matched. Parsed once into types (the request's
//! schema check is the parse), applied without I/O: what the mapped user is, the store and the sign-in decide.
//!
//! Every rule whose remote conditions all hold contributes; the user comes from the first rule naming one, groups
//! and projects accumulate (Keystone's RuleProcessor). A claim is read by its name, by `OIDC-<name>` (the prefix
//! mod_auth_openidc gives, so Keystone mappings written for Apache keep working), or, inside an object claim, by a
//! dotted path (`kubernetes.io.namespace`). Arrays are their elements; numbers and booleans their JSON text.

use std::collections::HashMap;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DomainError, DomainResult};

/// Most rules a mapping may hold, and remote conditions or local entries a rule may hold (bounded work per
/// sign-in; Keystone sets none, real mappings have a handful).
pub const MAX_RULES: usize = 100;
/// Most values a condition may list.
pub const MAX_VALUES: usize = 200;
/// The compiled size a `regex` condition may take (linear-time matching either way).
const REGEX_SIZE: usize = 1 << 16;

/// A mapping's rules, checked, with their `regex` patterns compiled once.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
    patterns: HashMap<String, Regex>,
}

/// One rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// What the sign-in becomes.
    pub local: Vec<Local>,
    /// What the claims must say.
    pub remote: Vec<Remote>,
}

/// A condition on one claim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    /// The claim.
    #[serde(rename = "type")]
    pub kind: String,
    /// One of the claim's values must be one of these.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub any_one_of: Option<Vec<String>>,
    /// None of the claim's values may be one of these.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_any_of: Option<Vec<String>>,
    /// The claim's values but these stand for `{N}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blacklist: Option<Vec<String>>,
    /// Only these of the claim's values stand for `{N}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whitelist: Option<Vec<String>>,
    /// Whether the listed values are regular expressions (searched, as Python's `re.search`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<bool>,
}

/// A domain by id or name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct DomainRef {
    /// Id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What a rule makes of a sign-in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Local {
    /// The user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<LocalUser>,
    /// One group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<LocalGroup>,
    /// Groups by name (in `domain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
    /// Groups by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<String>,
    /// The domain of `groups`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainRef>,
    /// Projects the user gets roles on (Keystone's auto-provisioning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<LocalProject>>,
}

/// The mapped user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct LocalUser {
    /// Its id (the subject's unique id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Its domain (default: the provider's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainRef>,
    /// `ephemeral` (a federated user, the default) or `local` (an existing user).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<UserKind>,
}

/// Keystone's user types.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UserKind {
    /// A federated (shadow) user.
    Ephemeral,
    /// An existing local user.
    Local,
}

/// One group, by id or by name and domain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct LocalGroup {
    /// Id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainRef>,
}

/// A project and the roles the user gets on it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LocalProject {
    /// Its name.
    pub name: String,
    /// The roles, by name.
    pub roles: Vec<RoleName>,
    /// Its domain (default: the provider's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainRef>,
}

/// A role by name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleName {
    /// Name.
    pub name: String,
}

/// What the rules made of a sign-in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mapped {
    /// The user.
    pub user: LocalUser,
    /// Groups by id.
    pub group_ids: Vec<String>,
    /// Groups by name and domain.
    pub group_names: Vec<(String, DomainRef)>,
    /// Projects with roles.
    pub projects: Vec<LocalProject>,
}

fn invalid(why: impl std::fmt::Display) -> DomainError {
    DomainError::validation(format!("mapping.rules. {why}"))
}

impl Rules {
    /// The rules of a request, checked as Keystone's schema and Lintel's bounds say.
    pub fn parse(v: &Value) -> DomainResult<Rules> {
        let rules: Vec<Rule> = serde_path_to_error::deserialize(v)
            .map_err(|e| invalid(format!("{} at {}", e.inner(), e.path())))?;
        if rules.is_empty() {
            return Err(invalid("[] is too short"));
        }
        if rules.len() > MAX_RULES {
            return Err(invalid(format!("more than {MAX_RULES} rules")));
        }
        let mut patterns = HashMap::new();
        for r in &rules {
            if r.remote.is_empty() || r.local.is_empty() {
                return Err(invalid(
                    "a rule needs at least one local and one remote entry",
                ));
            }
            if r.remote.len() > MAX_RULES || r.local.len() > MAX_RULES {
                return Err(invalid(format!("more than {MAX_RULES} entries in a rule")));
            }
            for c in &r.remote {
                let lists = [&c.any_one_of, &c.not_any_of, &c.blacklist, &c.whitelist];
                if lists.iter().filter(|l| l.is_some()).count() > 1 {
                    return Err(invalid(format!(
                        "remote '{}' may have only one of any_one_of, not_any_of, blacklist, whitelist",
                        c.kind
                    )));
                }
                if c.regex.is_some() && lists.iter().all(|l| l.is_none()) {
                    return Err(invalid(format!(
                        "remote '{}': regex without values",
                        c.kind
                    )));
                }
                for list in lists.into_iter().flatten() {
                    if list.len() > MAX_VALUES {
                        return Err(invalid(format!("more than {MAX_VALUES} values")));
                    }
                    if c.regex == Some(true) {
                        for p in list {
                            let re = RegexBuilder::new(p)
                                .size_limit(REGEX_SIZE)
                                .build()
                                .map_err(|e| {
                                    invalid(format!("'{p}' is not a regular expression: {e}"))
                                })?;
                            patterns.insert(p.clone(), re);
                        }
                    }
                }
            }
        }
        Ok(Rules { rules, patterns })
    }

    /// Whether a rule names `value` literally in a condition's list (how an operator lets a Kubernetes namespace's
    /// `default` service account sign in: by naming it).
    pub fn names(&self, value: &str) -> bool {
        self.rules.iter().flat_map(|r| &r.remote).any(|c| {
            c.regex != Some(true)
                && [&c.any_one_of, &c.whitelist]
                    .into_iter()
                    .flatten()
                    .any(|l| l.iter().any(|v| v == value))
        })
    }

    /// Apply the rules to the claims: what the sign-in maps to, or None when no rule names a user.
    pub fn apply(&self, claims: &Value) -> Option<Mapped> {
        let mut out = Mapped::default();
        let mut user = None;
        for rule in &self.rules {
            let Some(direct) = holds(&rule.remote, claims, &self.patterns) else {
                continue;
            };
            for local in &rule.local {
                if user.is_none() {
                    if let Some(u) = &local.user {
                        user = Some(LocalUser {
                            id: one(u.id.as_deref(), &direct)?,
                            name: one(u.name.as_deref(), &direct)?,
                            email: one(u.email.as_deref(), &direct)?,
                            domain: u.domain.clone(),
                            kind: u.kind,
                        });
                    }
                }
                if let Some(g) = &local.group {
                    match (&g.id, &g.name) {
                        (Some(id), _) => out.group_ids.extend(all(id, &direct)),
                        (None, Some(n)) => out.group_names.extend(
                            all(n, &direct).map(|n| (n, g.domain.clone().unwrap_or_default())),
                        ),
                        (None, None) => {}
                    }
                }
                if let Some(ids) = &local.group_ids {
                    out.group_ids.extend(all(ids, &direct));
                }
                if let Some(names) = &local.groups {
                    let domain = local.domain.clone().unwrap_or_default();
                    out.group_names
                        .extend(all(names, &direct).map(|n| (n, domain.clone())));
                }
                // A project whose name has no single value is left out (the sign-in still maps).
                for p in local.projects.iter().flatten() {
                    if let Some(Some(name)) = one(Some(&p.name), &direct) {
                        out.projects.push(LocalProject { name, ..p.clone() });
                    }
                }
            }
        }
        out.user = user?;
        if out.user.id.is_none() && out.user.name.is_none() {
            return None;
        }
        out.group_ids.dedup();
        Some(out)
    }
}

/// A claim's values: by name, by `OIDC-<name>`, or by a dotted path into object claims.
fn values(claims: &Value, kind: &str) -> Option<Vec<String>> {
    let v = claims
        .get(kind)
        .or_else(|| kind.strip_prefix("OIDC-").and_then(|k| claims.get(k)))
        .or_else(|| path(claims, kind))?;
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null | Value::Object(_) | Value::Array(_) => None,
        other => Some(other.to_string()),
    };
    match v {
        Value::Array(a) => Some(a.iter().filter_map(text).collect()),
        other => text(other).map(|s| vec![s]),
    }
}

/// `a.b.c` into nested objects, where a key may itself hold dots (`kubernetes.io.namespace`): the longest key
/// that matches a prefix wins.
fn path<'a>(v: &'a Value, p: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    let mut cut = p.len();
    while let Some(dot) = p[..cut].rfind('.') {
        if let Some(inner) = obj.get(&p[..dot]) {
            let rest = &p[dot + 1..];
            if let Some(found) = inner.get(rest).or_else(|| path(inner, rest)) {
                return Some(found);
            }
        }
        cut = dot;
    }
    None
}

/// Whether every condition holds; the values plain conditions (and black/whitelists) stand for, in order.
fn holds(
    remote: &[Remote],
    claims: &Value,
    patterns: &HashMap<String, Regex>,
) -> Option<Vec<Vec<String>>> {
    let mut direct = Vec::new();
    for c in remote {
        let got = values(claims, &c.kind)?;
        let is_re = c.regex == Some(true);
        let matches = |listed: &[String], value: &str| {
            listed.iter().any(|l| {
                if is_re {
                    patterns.get(l).is_some_and(|r| r.is_match(value))
                } else {
                    l == value
                }
            })
        };
        if let Some(any) = &c.any_one_of {
            if !got.iter().any(|v| matches(any, v)) {
                return None;
            }
        } else if let Some(none) = &c.not_any_of {
            if got.iter().any(|v| matches(none, v)) {
                return None;
            }
        } else if let Some(black) = &c.blacklist {
            direct.push(got.into_iter().filter(|v| !matches(black, v)).collect());
        } else if let Some(white) = &c.whitelist {
            direct.push(got.into_iter().filter(|v| matches(white, v)).collect());
        } else {
            direct.push(got);
        }
    }
    Some(direct)
}

/// Fill `{N}` in a template: every combination is not wanted, so a placeholder stands for its values joined
/// only where the template is exactly `{N}` (see [`all`]); here each placeholder must have one value.
/// `Err`-like None: the template names a placeholder with several (or no) values, an ambiguous identity.
fn one(template: Option<&str>, direct: &[Vec<String>]) -> Option<Option<String>> {
    let Some(t) = template else {
        return Some(None);
    };
    let mut out = String::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find('}')
            .map(|close| (close, after[..close].parse::<usize>()))
        {
            Some((close, Ok(n))) => {
                match direct.get(n).map(Vec::as_slice) {
                    Some([v]) => out.push_str(v),
                    _ => return None,
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(Some(out))
}

/// A group template's values: `{N}` alone stands for each of its values (a claim listing groups); any other
/// template is one value.
fn all<'a>(template: &'a str, direct: &'a [Vec<String>]) -> Box<dyn Iterator<Item = String> + 'a> {
    let alone = template
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .and_then(|n| n.parse::<usize>().ok());
    match alone.and_then(|n| direct.get(n)) {
        Some(vals) => Box::new(vals.iter().cloned()),
        None => Box::new(one(Some(template), direct).flatten().into_iter()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: Value) -> Rules {
        Rules::parse(&v).unwrap()
    }

    #[test]
    fn plain_conditions_fill_placeholders_and_lists_decide() {
        let r = rules(json!([{
            "local": [{"user": {"name": "{0}", "id": "{1}"}}, {"groups": "{2}", "domain": {"id": "d"}}],
            "remote": [
                {"type": "preferred_username"}, {"type": "OIDC-sub"}, {"type": "groups"},
                {"type": "email_verified", "any_one_of": ["true"]},
                {"type": "tier", "not_any_of": ["guest"]}
            ]
        }]));
        let claims = json!({"preferred_username": "ci", "sub": "s-1", "groups": ["dev", "ops"],
                            "email_verified": true, "tier": "gold"});
        let m = r.apply(&claims).unwrap();
        assert_eq!(m.user.name.as_deref(), Some("ci"));
        assert_eq!(m.user.id.as_deref(), Some("s-1"));
        let names: Vec<_> = m.group_names.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["dev", "ops"]);
        assert_eq!(m.group_names[0].1.id.as_deref(), Some("d"));
        // A failed any_one_of, a hit not_any_of, a missing claim: the rule does not apply.
        for bad in [
            json!({"preferred_username": "ci", "sub": "s", "groups": [], "email_verified": false, "tier": "gold"}),
            json!({"preferred_username": "ci", "sub": "s", "groups": [], "email_verified": true, "tier": "guest"}),
            json!({"preferred_username": "ci", "groups": [], "email_verified": true, "tier": "gold"}),
        ] {
            assert_eq!(r.apply(&bad), None, "{bad}");
        }
    }

    #[test]
    fn nested_claims_regex_and_whitelists() {
        let r = rules(json!([{
            "local": [{"user": {"name": "{0}"}}, {"group": {"name": "{1}", "domain": {"name": "Default"}}}],
            "remote": [
                {"type": "sub", "any_one_of": ["^system:serviceaccount:ci:"], "regex": true},
                {"type": "sub"},
                {"type": "kubernetes.io.namespace", "any_one_of": ["ci"]}
            ]
        }]));
        let k8s = json!({"sub": "system:serviceaccount:ci:builder",
                         "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "builder"}}});
        // The user is {0}: the first *plain* condition (a condition with a list stands for nothing).
        let m = r.apply(&k8s).unwrap();
        assert_eq!(
            m.user.name.as_deref(),
            Some("system:serviceaccount:ci:builder")
        );
        let other_ns = json!({"sub": "system:serviceaccount:ci:builder", "kubernetes.io": {"namespace": "prod"}});
        assert_eq!(r.apply(&other_ns), None);

        let w = rules(json!([{
            "local": [{"user": {"name": "x"}}, {"groups": "{0}", "domain": {"id": "d"}}],
            "remote": [{"type": "groups", "whitelist": ["^team-"], "regex": true}]
        }]));
        let m = w
            .apply(&json!({"groups": ["team-a", "admins", "team-b"]}))
            .unwrap();
        assert_eq!(m.group_names.len(), 2);
    }

    #[test]
    fn an_ambiguous_identity_maps_to_no_one() {
        let r =
            rules(json!([{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "names"}]}]));
        assert_eq!(r.apply(&json!({"names": ["a", "b"]})), None);
        assert!(r.apply(&json!({"names": ["a"]})).is_some());
    }

    #[test]
    fn the_schema_is_the_parse() {
        for bad in [
            json!([]),
            json!([{"local": [], "remote": [{"type": "a"}]}]),
            json!([{"local": [{"user": {"name": "a"}}], "remote": [{"type": "a", "any_one_of": ["x"], "not_any_of": ["y"]}]}]),
            json!([{"local": [{"user": {"name": "a"}}], "remote": [{"type": "a", "any_one_of": ["("], "regex": true}]}]),
            json!([{"local": [{"user": {"nam": "a"}}], "remote": [{"type": "a"}]}]),
            json!([{"local": [{"user": {"name": "a", "type": "robot"}}], "remote": [{"type": "a"}]}]),
            json!({"rules": []}),
        ] {
            let err = Rules::parse(&bad).unwrap_err();
            assert!(matches!(err, DomainError::Invalid(_)), "{bad}: {err:?}");
        }
    }
}
