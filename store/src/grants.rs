//! Role grants in the database: the only code that reads and writes the `assignment` table for the grant API.

use entity::assignment;
use sea_orm::{ColumnTrait, Condition, EntityTrait, ModelTrait, QueryFilter, Set};

use crate::error::DomainResult;
use crate::model::grant::Target as Grant;
use crate::model::revocation::Event;
use crate::Db;
use crate::Modeled;

/// One grant: a role for a user or group on a target.
#[derive(Debug, Clone)]
pub struct GrantKey<'a> {
    /// Project, domain or system.
    pub grant: &'a Grant,
    /// Whether the actor is a group.
    pub group: bool,
    /// The user or group.
    pub actor_id: &'a str,
}

fn matching(k: &GrantKey<'_>) -> Condition {
    Condition::all()
        .add(assignment::Column::Kind.eq(k.grant.kind(k.group)))
        .add(assignment::Column::ActorId.eq(k.actor_id))
        .add(assignment::Column::TargetId.eq(k.grant.id()))
        .add(assignment::Column::Inherited.eq(false))
}

/// The ids of the roles granted.
pub async fn role_ids(db: &Db, k: &GrantKey<'_>) -> DomainResult<Vec<String>> {
    Ok(assignment::Entity::find()
        .filter(matching(k))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|r| r.role_id)
        .collect())
}

/// Whether this role is granted.
pub async fn exists(db: &Db, k: &GrantKey<'_>, role_id: &str) -> DomainResult<bool> {
    Ok(assignment::Entity::find()
        .filter(matching(k))
        .filter(assignment::Column::RoleId.eq(role_id))
        .one(&db.conn)
        .await?
        .is_some())
}

/// Grant a role (already granted is as good).
pub async fn insert(db: &Db, k: &GrantKey<'_>, role_id: &str) -> DomainResult<()> {
    let row = assignment::ActiveModel {
        kind: Set(k.grant.kind(k.group).to_string()),
        actor_id: Set(k.actor_id.to_string()),
        target_id: Set(k.grant.id().to_string()),
        role_id: Set(role_id.to_string()),
        inherited: Set(false),
    };
    super::insert_unless_present(db.write().await?, row).await
}

/// Take a role away, saving the events `events_for(users)` makes for the users it reached (read inside the
/// transaction, so a member added meanwhile is not missed); `None` when the role was not granted.
pub async fn delete(
    db: &Db,
    k: &GrantKey<'_>,
    role_id: &str,
    events_for: impl FnOnce(Vec<String>) -> Vec<Event>,
) -> DomainResult<Option<Vec<Event>>> {
    let txn = db.write().await?;
    let found = assignment::Entity::find()
        .filter(matching(k))
        .filter(assignment::Column::RoleId.eq(role_id))
        .one(&txn.txn)
        .await?;
    let Some(row) = found else {
        return Ok(None);
    };
    let users = super::assignments::affected_users(&txn, k.actor_id, k.group).await?;
    let events = events_for(users);
    row.delete(&txn.txn).await?;
    for e in &events {
        super::revocations::save(&txn, e).await?;
    }
    txn.commit().await?;
    Ok(Some(events))
}

/// Filters of the role-assignment listing (absent: any).
#[derive(Debug, Default, Clone, Copy)]
pub struct AssignmentQuery<'a> {
    /// On this project.
    pub project_id: Option<&'a str>,
    /// On this domain.
    pub domain_id: Option<&'a str>,
    /// On the system.
    pub system: bool,
    /// To this group.
    pub group_id: Option<&'a str>,
    /// To this user (directly).
    pub user_id: Option<&'a str>,
}

/// The direct (not inherited) grants matching the filters.
pub async fn assignments(
    db: &Db,
    f: &AssignmentQuery<'_>,
) -> DomainResult<Vec<crate::model::Assignment>> {
    let mut query = assignment::Entity::find().filter(assignment::Column::Inherited.eq(false));
    if let Some(p) = f.project_id {
        query = query
            .filter(assignment::Column::TargetId.eq(p))
            .filter(assignment::Column::Kind.is_in(["UserProject", "GroupProject"]));
    }
    if let Some(d) = f.domain_id {
        query = query
            .filter(assignment::Column::TargetId.eq(d))
            .filter(assignment::Column::Kind.is_in(["UserDomain", "GroupDomain"]));
    }
    if f.system {
        query = query.filter(assignment::Column::Kind.is_in(["UserSystem", "GroupSystem"]));
    }
    if let Some(g) = f.group_id {
        query = query
            .filter(assignment::Column::ActorId.eq(g))
            .filter(assignment::Column::Kind.starts_with("Group"));
    }
    if let Some(u) = f.user_id {
        query = query
            .filter(assignment::Column::ActorId.eq(u))
            .filter(assignment::Column::Kind.starts_with("User"));
    }
    Ok(query.all(&db.conn).await?.modeled())
}
