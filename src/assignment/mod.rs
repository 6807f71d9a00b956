//! Roles, implied roles, role grants and effective roles, as Keystone computes them.

pub mod grants;
pub mod roles;

use std::collections::{BTreeSet, HashMap};

use entity::{assignment, implied_role, role, user_group_membership};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};

/// The target of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A project id.
    Project(String),
    /// A domain id.
    Domain(String),
    /// The system.
    System,
}

/// Value of `assignment.target_id` for system grants.
pub const SYSTEM_TARGET: &str = "system";

impl Target {
    /// The `target_id` column value.
    pub fn id(&self) -> &str {
        match self {
            Target::Project(p) | Target::Domain(p) => p,
            Target::System => SYSTEM_TARGET,
        }
    }

    /// The `kind` column value for a user or group actor.
    pub fn kind(&self, group: bool) -> &'static str {
        match (self, group) {
            (Target::Project(_), false) => "UserProject",
            (Target::Project(_), true) => "GroupProject",
            (Target::Domain(_), false) => "UserDomain",
            (Target::Domain(_), true) => "GroupDomain",
            (Target::System, false) => "UserSystem",
            (Target::System, true) => "GroupSystem",
        }
    }
}

/// The ids of the groups a user belongs to.
pub async fn groups_of<C: ConnectionTrait>(db: &C, user_id: &str) -> Result<Vec<String>, DbErr> {
    user_group_membership::Entity::find()
        .select_only()
        .column(user_group_membership::Column::GroupId)
        .filter(user_group_membership::Column::UserId.eq(user_id))
        .into_tuple()
        .all(db)
        .await
}

/// The role ids granted to a user on a target, directly or through a group (before implied roles).
pub async fn direct_roles<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    target: &Target,
) -> Result<Vec<String>, DbErr> {
    let groups = groups_of(db, user_id).await?;
    let mut actors = Condition::any().add(
        Condition::all()
            .add(assignment::Column::Kind.eq(target.kind(false)))
            .add(assignment::Column::ActorId.eq(user_id)),
    );
    if !groups.is_empty() {
        actors = actors.add(
            Condition::all()
                .add(assignment::Column::Kind.eq(target.kind(true)))
                .add(assignment::Column::ActorId.is_in(groups)),
        );
    }
    assignment::Entity::find()
        .select_only()
        .column(assignment::Column::RoleId)
        .filter(assignment::Column::TargetId.eq(target.id()))
        .filter(assignment::Column::Inherited.eq(false))
        .filter(actors)
        .distinct()
        .into_tuple()
        .all(db)
        .await
}

/// The prior → implied map of every implication rule.
pub async fn implications<C: ConnectionTrait>(
    db: &C,
) -> Result<HashMap<String, Vec<String>>, DbErr> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for r in implied_role::Entity::find().all(db).await? {
        map.entry(r.prior_role_id)
            .or_default()
            .push(r.implied_role_id);
    }
    Ok(map)
}

/// Expand role ids with everything they imply, transitively (cycles are harmless).
pub fn expand(
    roles: impl IntoIterator<Item = String>,
    rules: &HashMap<String, Vec<String>>,
) -> Vec<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = roles.into_iter().collect();
    while let Some(r) = stack.pop() {
        if let Some(next) = rules.get(&r) {
            stack.extend(next.iter().filter(|n| !seen.contains(*n)).cloned());
        }
        seen.insert(r);
    }
    seen.into_iter().collect()
}

/// The effective role ids of a user on a target: grants, group grants and implied roles.
pub async fn effective_roles<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    target: &Target,
) -> Result<Vec<String>, DbErr> {
    let direct = direct_roles(db, user_id, target).await?;
    if direct.is_empty() {
        return Ok(direct);
    }
    strip_domain_roles(db, expand(direct, &implications(db).await?)).await
}

/// Drop domain-specific roles: as in Keystone, they only stand for the global roles they imply and are never
/// effective themselves (not in tokens, not in effective role assignments).
pub async fn strip_domain_roles<C: ConnectionTrait>(
    db: &C,
    mut roles: Vec<String>,
) -> Result<Vec<String>, DbErr> {
    if roles.is_empty() {
        return Ok(roles);
    }
    let domain_roles: Vec<String> = role::Entity::find()
        .select_only()
        .column(role::Column::Id)
        .filter(role::Column::Id.is_in(roles.clone()))
        .filter(role::Column::DomainId.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    roles.retain(|r| !domain_roles.contains(r));
    Ok(roles)
}

/// The projects on which a user has any role (directly or through groups).
pub async fn projects_of<C: ConnectionTrait>(db: &C, user_id: &str) -> Result<Vec<String>, DbErr> {
    let groups = groups_of(db, user_id).await?;
    let mut actors = Condition::any().add(
        Condition::all()
            .add(assignment::Column::Kind.eq("UserProject"))
            .add(assignment::Column::ActorId.eq(user_id)),
    );
    if !groups.is_empty() {
        actors = actors.add(
            Condition::all()
                .add(assignment::Column::Kind.eq("GroupProject"))
                .add(assignment::Column::ActorId.is_in(groups)),
        );
    }
    assignment::Entity::find()
        .select_only()
        .column(assignment::Column::TargetId)
        .filter(actors)
        .distinct()
        .into_tuple()
        .all(db)
        .await
}

/// Look a role up by name among global roles (and the given domain's roles).
pub async fn role_by_name<C: ConnectionTrait>(
    db: &C,
    name: &str,
    domain_id: Option<&str>,
) -> Result<Option<role::Model>, DbErr> {
    let mut q = role::Entity::find().filter(role::Column::Name.eq(name));
    q = match domain_id {
        Some(d) => q.filter(role::Column::DomainId.eq(d)),
        None => q.filter(role::Column::DomainId.is_null()),
    };
    // Name comparisons may be case-insensitive on MySQL: confirm exactly.
    Ok(q.all(db).await?.into_iter().find(|r| r.name == name))
}

/// Users reached by a grant to this actor (the user itself, or a group's members).
pub async fn affected_users<C: ConnectionTrait>(
    db: &C,
    actor_id: &str,
    group: bool,
) -> Result<Vec<String>, DbErr> {
    if !group {
        return Ok(vec![actor_id.to_string()]);
    }
    user_group_membership::Entity::find()
        .select_only()
        .column(user_group_membership::Column::UserId)
        .filter(user_group_membership::Column::GroupId.eq(actor_id))
        .into_tuple()
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_chains_and_survives_cycles() {
        let mut rules = HashMap::new();
        rules.insert("admin".to_string(), vec!["manager".to_string()]);
        rules.insert("manager".to_string(), vec!["member".to_string()]);
        rules.insert(
            "member".to_string(),
            vec!["reader".to_string(), "admin".to_string()],
        );
        let got = expand(vec!["manager".to_string()], &rules);
        assert_eq!(got, vec!["admin", "manager", "member", "reader"]);
        assert_eq!(expand(vec!["reader".to_string()], &rules), vec!["reader"]);
    }
}
