//! Grants and group memberships in the database, as the effective-role computation reads them.

use std::collections::HashMap;

use entity::{assignment, implied_role, role, user_group_membership};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};

use super::{on, Reader};
use crate::error::DomainResult;
use crate::model::grant::Target;
use crate::model::Role;
use crate::Modeled;

/// The ids of the groups a user belongs to.
pub async fn groups_of<R: Reader>(db: &R, user_id: &str) -> DomainResult<Vec<String>> {
    user_group_membership::Entity::find()
        .select_only()
        .column(user_group_membership::Column::GroupId)
        .filter(user_group_membership::Column::UserId.eq(user_id))
        .into_tuple()
        .all(on(db))
        .await
        .map_err(Into::into)
}

/// Grants of `user_kind` to the user, or of `group_kind` to any of its groups.
async fn user_or_groups<R: Reader>(
    db: &R,
    user_id: &str,
    user_kind: &str,
    group_kind: &str,
) -> DomainResult<Condition> {
    let groups = groups_of(db, user_id).await?;
    let mut actors = Condition::any().add(
        Condition::all()
            .add(assignment::Column::Kind.eq(user_kind))
            .add(assignment::Column::ActorId.eq(user_id)),
    );
    if !groups.is_empty() {
        actors = actors.add(
            Condition::all()
                .add(assignment::Column::Kind.eq(group_kind))
                .add(assignment::Column::ActorId.is_in(groups)),
        );
    }
    Ok(actors)
}

/// The role ids granted to a user on a target, directly or through a group (before implied roles).
pub async fn direct_roles<R: Reader>(
    db: &R,
    user_id: &str,
    target: &Target,
) -> DomainResult<Vec<String>> {
    let actors = user_or_groups(db, user_id, target.kind(false), target.kind(true)).await?;
    assignment::Entity::find()
        .select_only()
        .column(assignment::Column::RoleId)
        .filter(assignment::Column::TargetId.eq(target.id()))
        .filter(assignment::Column::Inherited.eq(false))
        .filter(actors)
        .distinct()
        .into_tuple()
        .all(on(db))
        .await
        .map_err(Into::into)
}

/// The prior → implied map of every implication rule.
pub async fn implications<R: Reader>(db: &R) -> DomainResult<HashMap<String, Vec<String>>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for r in implied_role::Entity::find().all(on(db)).await? {
        map.entry(r.prior_role_id)
            .or_default()
            .push(r.implied_role_id);
    }
    Ok(map)
}

/// Drop domain-specific roles: as in Keystone, they only stand for the global roles they imply and are never
/// effective themselves (not in tokens, not in effective role assignments).
pub async fn strip_domain_roles<R: Reader>(
    db: &R,
    mut roles: Vec<String>,
) -> DomainResult<Vec<String>> {
    if roles.is_empty() {
        return Ok(roles);
    }
    let domain_roles: Vec<String> = role::Entity::find()
        .select_only()
        .column(role::Column::Id)
        .filter(role::Column::Id.is_in(roles.clone()))
        .filter(role::Column::DomainId.is_not_null())
        .into_tuple()
        .all(on(db))
        .await?;
    roles.retain(|r| !domain_roles.contains(r));
    Ok(roles)
}

/// The projects on which a user, or one of its groups, holds a grant.
pub async fn projects_of<R: Reader>(db: &R, user_id: &str) -> DomainResult<Vec<String>> {
    targets_of(db, user_id, Target::Project(String::new()), false).await
}

/// The domains on which a user, or one of its groups, holds a role of its own (not one inherited by projects).
pub async fn domains_of<R: Reader>(db: &R, user_id: &str) -> DomainResult<Vec<String>> {
    targets_of(db, user_id, Target::Domain(String::new()), true).await
}

/// The targets of `kind`'s kind on which a user or one of its groups holds a grant (`own`: not inherited ones).
async fn targets_of<R: Reader>(
    db: &R,
    user_id: &str,
    kind: Target,
    own: bool,
) -> DomainResult<Vec<String>> {
    let actors = user_or_groups(db, user_id, kind.kind(false), kind.kind(true)).await?;
    let mut q = assignment::Entity::find()
        .select_only()
        .column(assignment::Column::TargetId)
        .filter(actors);
    if own {
        q = q.filter(assignment::Column::Inherited.eq(false));
    }
    q.distinct()
        .into_tuple()
        .all(on(db))
        .await
        .map_err(Into::into)
}

/// Look a role up by name among global roles (and the given domain's roles).
pub async fn role_by_name<R: Reader>(
    db: &R,
    name: &str,
    domain_id: Option<&str>,
) -> DomainResult<Option<Role>> {
    let mut q = role::Entity::find().filter(role::Column::Name.eq(name));
    q = match domain_id {
        Some(d) => q.filter(role::Column::DomainId.eq(d)),
        None => q.filter(role::Column::DomainId.is_null()),
    };
    // Name comparisons may be case-insensitive on MySQL: confirm exactly.
    Ok(q.all(on(db))
        .await?
        .into_iter()
        .find(|r| r.name == name)
        .modeled())
}

/// Users reached by a grant to this actor (the user itself, or a group's members).
pub async fn affected_users<R: Reader>(
    db: &R,
    actor_id: &str,
    group: bool,
) -> DomainResult<Vec<String>> {
    if !group {
        return Ok(vec![actor_id.to_string()]);
    }
    user_group_membership::Entity::find()
        .select_only()
        .column(user_group_membership::Column::UserId)
        .filter(user_group_membership::Column::GroupId.eq(actor_id))
        .into_tuple()
        .all(on(db))
        .await
        .map_err(Into::into)
}
