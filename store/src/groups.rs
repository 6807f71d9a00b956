//! Groups and memberships in the database: the only code that queries `identity_group` and
//! `user_group_membership`.

use entity::{assignment, group, user, user_group_membership};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, Set,
};

use crate::error::{DomainError, DomainResult};
use crate::model::revocation::Event;
use crate::model::{Group, User};
use crate::Db;
use crate::Modeled;

/// Groups by optional exact name and domain, by name.
pub async fn list(
    db: &Db,
    name: Option<&str>,
    domain_id: Option<&str>,
) -> DomainResult<Vec<Group>> {
    let mut q = group::Entity::find().order_by_asc(group::Column::Name);
    if let Some(n) = name {
        q = q.filter(group::Column::Name.eq(n));
    }
    if let Some(d) = domain_id {
        q = q.filter(group::Column::DomainId.eq(d));
    }
    Ok(q.all(&db.conn).await?.modeled())
}

/// Store a new group; its name is already taken in its domain when `Conflict`.
pub async fn insert(db: &Db, row: Group) -> DomainResult<Group> {
    let name = row.name.clone();
    super::insert_row(db, group::ActiveModel::from(row), || {
        DomainError::duplicate("group", "name", &name)
    })
    .await
    .map(Into::into)
}

/// Store a group's new name and description.
pub async fn update(
    db: &Db,
    old: &Group,
    name: Option<String>,
    description: Option<Option<String>>,
) -> DomainResult<Group> {
    let mut row: group::ActiveModel = old.clone().into();
    if let Some(n) = name {
        row.name = Set(n);
    }
    if let Some(d) = description {
        row.description = Set(d);
    }
    let txn = db.write().await?;
    let updated = super::unique(row.update(&txn.txn).await, || {
        DomainError::duplicate("group", "name", &old.name)
    })?;
    txn.commit().await?;
    Ok(updated.into())
}

/// Delete a group with its grants, saving the revocation events `events_for(members)` makes, all in one
/// transaction (the members are read inside it, so one added meanwhile is not missed).
pub async fn delete(
    db: &Db,
    g: Group,
    events_for: impl FnOnce(Vec<String>) -> Vec<Event>,
) -> DomainResult<Vec<Event>> {
    let txn = db.write().await?;
    let members = super::assignments::affected_users(&txn, &g.id, true).await?;
    let events = events_for(members);
    assignment::Entity::delete_many()
        .filter(assignment::Column::ActorId.eq(g.id.as_str()))
        .filter(assignment::Column::Kind.is_in(["GroupProject", "GroupDomain", "GroupSystem"]))
        .exec(&txn.txn)
        .await?;
    for e in &events {
        super::revocations::save(&txn, e).await?;
    }
    group::Model::from(g).delete(&txn.txn).await?;
    txn.commit().await?;
    Ok(events)
}

/// The users in a group, by name.
pub async fn members(db: &Db, group_id: &str) -> DomainResult<Vec<User>> {
    let ids = crate::assignments::affected_users(db, group_id, true).await?;
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .order_by_asc(user::Column::Name)
        .all(&db.conn)
        .await?
        .modeled())
}

/// The groups a user is in.
pub async fn of_user(db: &Db, user_id: &str) -> DomainResult<Vec<Group>> {
    let ids = crate::assignments::groups_of(db, user_id).await?;
    Ok(group::Entity::find()
        .filter(group::Column::Id.is_in(ids))
        .all(&db.conn)
        .await?
        .modeled())
}

/// Whether a user is in a group.
pub async fn is_member(db: &Db, group_id: &str, user_id: &str) -> DomainResult<bool> {
    Ok(
        user_group_membership::Entity::find_by_id((user_id.to_string(), group_id.to_string()))
            .one(&db.conn)
            .await?
            .is_some(),
    )
}

/// Put a user in a group (already there is as good).
pub async fn add_member(db: &Db, group_id: &str, user_id: &str) -> DomainResult<()> {
    let row = user_group_membership::ActiveModel {
        user_id: Set(user_id.to_string()),
        group_id: Set(group_id.to_string()),
    };
    super::insert_unless_present(db.write().await?, row).await
}

/// Take a user out of a group, saving `event` with it; false when the user was not in it.
pub async fn remove_member(
    db: &Db,
    group_id: &str,
    user_id: &str,
    event: &Event,
) -> DomainResult<bool> {
    let txn = db.write().await?;
    let removed =
        user_group_membership::Entity::delete_by_id((user_id.to_string(), group_id.to_string()))
            .exec(&txn.txn)
            .await?
            .rows_affected
            > 0;
    if removed {
        super::revocations::save(&txn, event).await?;
        txn.commit().await?;
    }
    Ok(removed)
}
