//! Projects and their tags in the database: the only code that writes `project` and `project_tag`.

use std::collections::HashMap;

use entity::{assignment, project, project_tag};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, ModelTrait,
    QueryFilter, QueryOrder, Set,
};

use crate::error::{DomainError, DomainResult};
use crate::model::revocation::Event;
use crate::model::Project;
use crate::Db;
use crate::Modeled;

/// Filters of a project listing (absent: any).
#[derive(Debug, Default)]
pub struct ProjectQuery<'a> {
    /// Exact name.
    pub name: Option<&'a str>,
    /// Owning domain.
    pub domain_id: Option<&'a str>,
    /// Enabled flag.
    pub enabled: Option<bool>,
    /// Parent: a project, or a domain (its top-level projects).
    pub parent_id: Option<&'a str>,
}

/// Projects matching the filters, by name.
pub async fn list(db: &Db, f: &ProjectQuery<'_>) -> DomainResult<Vec<Project>> {
    let mut q = project::Entity::find().order_by_asc(project::Column::Name);
    if let Some(n) = f.name {
        q = q.filter(project::Column::Name.eq(n));
    }
    if let Some(d) = f.domain_id {
        q = q.filter(project::Column::DomainId.eq(d));
    }
    if let Some(e) = f.enabled {
        q = q.filter(project::Column::Enabled.eq(e));
    }
    if let Some(p) = f.parent_id {
        q = q.filter(
            Condition::any().add(project::Column::ParentId.eq(p)).add(
                Condition::all()
                    .add(project::Column::ParentId.is_null())
                    .add(project::Column::DomainId.eq(p)),
            ),
        );
    }
    Ok(q.all(&db.conn).await?.modeled())
}

/// A project's tags, by name.
pub async fn tags(db: &Db, project_id: &str) -> DomainResult<Vec<String>> {
    Ok(project_tag::Entity::find()
        .filter(project_tag::Column::ProjectId.eq(project_id))
        .order_by_asc(project_tag::Column::Name)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect())
}

/// The tags of several projects in one query, each project's by name.
pub async fn tags_of_many(
    db: &Db,
    project_ids: Vec<String>,
) -> DomainResult<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if project_ids.is_empty() {
        return Ok(out);
    }
    let rows = project_tag::Entity::find()
        .filter(project_tag::Column::ProjectId.is_in(project_ids))
        .order_by_asc(project_tag::Column::Name)
        .all(&db.conn)
        .await?;
    for t in rows {
        out.entry(t.project_id).or_default().push(t.name);
    }
    Ok(out)
}

/// Replace a project's tags inside a transaction.
async fn set_tags<C: ConnectionTrait>(
    db: &C,
    project_id: &str,
    tags: &[String],
) -> DomainResult<()> {
    project_tag::Entity::delete_many()
        .filter(project_tag::Column::ProjectId.eq(project_id))
        .exec(db)
        .await?;
    add_tags(db, project_id, tags).await
}

/// Add tags inside a transaction. (A new project's tags are only inserted: on MariaDB a delete of rows that are
/// not there takes gap locks, and concurrent creates deadlock on them.)
async fn add_tags<C: ConnectionTrait>(
    db: &C,
    project_id: &str,
    tags: &[String],
) -> DomainResult<()> {
    for t in tags {
        project_tag::ActiveModel {
            project_id: Set(project_id.to_string()),
            name: Set(t.clone()),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Store a new project with its tags; its name is already taken in its domain when `Conflict`.
pub async fn insert(db: &Db, row: Project, tags: &[String]) -> DomainResult<Project> {
    let name = row.name.clone();
    let txn = db.write().await?;
    let active = project::ActiveModel::from(row).reset_all();
    let created = super::unique(active.insert(&txn.txn).await, || {
        DomainError::duplicate("project", "name", &name)
    })?;
    add_tags(&txn.txn, &created.id, tags).await?;
    txn.commit().await?;
    Ok(created.into())
}

/// The columns an update changes (absent: left as they are).
#[derive(Debug, Default)]
pub struct ProjectChanges {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
    /// New enabled flag.
    pub enabled: Option<bool>,
    /// New tags (all of them).
    pub tags: Option<Vec<String>>,
}

/// Store a project's changes with the revocation events they call for, in one transaction.
pub async fn update(
    db: &Db,
    old: &Project,
    changes: ProjectChanges,
    events: &[Event],
) -> DomainResult<Project> {
    let mut row: project::ActiveModel = old.clone().into();
    if let Some(n) = changes.name {
        row.name = Set(n);
    }
    if let Some(d) = changes.description {
        row.description = Set(d);
    }
    if let Some(e) = changes.enabled {
        row.enabled = Set(e);
    }
    let txn = db.write().await?;
    let updated = super::unique(row.update(&txn.txn).await, || {
        DomainError::duplicate("project", "name", &old.name)
    })?;
    if let Some(tags) = &changes.tags {
        set_tags(&txn.txn, &old.id, tags).await?;
    }
    for e in events {
        super::revocations::save(&txn, e).await?;
    }
    txn.commit().await?;
    Ok(updated.into())
}

/// Delete a project without children, with its grants, saving `event`, in one transaction; false when it has a
/// child project (checked inside the transaction).
pub async fn delete(db: &Db, p: Project, event: &Event) -> DomainResult<bool> {
    let txn = db.write().await?;
    let child = project::Entity::find()
        .filter(project::Column::ParentId.eq(p.id.as_str()))
        .one(&txn.txn)
        .await?;
    if child.is_some() {
        return Ok(false);
    }
    assignment::Entity::delete_many()
        .filter(assignment::Column::TargetId.eq(p.id.as_str()))
        .filter(assignment::Column::Kind.is_in(["UserProject", "GroupProject"]))
        .exec(&txn.txn)
        .await?;
    super::revocations::save(&txn, event).await?;
    project::Model::from(p).delete(&txn.txn).await?;
    txn.commit().await?;
    Ok(true)
}

/// Replace a project's tags.
pub async fn replace_tags(db: &Db, project_id: &str, tags: &[String]) -> DomainResult<()> {
    let txn = db.write().await?;
    set_tags(&txn.txn, project_id, tags).await?;
    Ok(txn.commit().await?)
}

/// Add one tag; one already there is `duplicate()`.
pub async fn add_tag(
    db: &Db,
    project_id: &str,
    tag: &str,
    duplicate: impl FnOnce() -> DomainError,
) -> DomainResult<()> {
    let row = project_tag::ActiveModel {
        project_id: Set(project_id.to_string()),
        name: Set(tag.to_string()),
    };
    super::insert_row(db, row, duplicate).await.map(drop)
}

/// Remove one tag; false when the project did not have it.
pub async fn remove_tag(db: &Db, project_id: &str, tag: &str) -> DomainResult<bool> {
    let txn = db.write().await?;
    let res = project_tag::Entity::delete_many()
        .filter(project_tag::Column::ProjectId.eq(project_id))
        .filter(project_tag::Column::Name.eq(tag))
        .exec(&txn.txn)
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected > 0)
}

/// Projects by id, by name.
pub async fn by_ids(db: &Db, ids: Vec<String>) -> DomainResult<Vec<Project>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(project::Entity::find()
        .filter(project::Column::Id.is_in(ids))
        .order_by_asc(project::Column::Name)
        .all(&db.conn)
        .await?
        .modeled())
}

/// A project by name in a domain (as the database compares names).
pub async fn by_name(db: &Db, domain_id: &str, name: &str) -> DomainResult<Option<Project>> {
    let found = project::Entity::find()
        .filter(project::Column::DomainId.eq(domain_id))
        .filter(project::Column::Name.eq(name))
        .one(&db.conn)
        .await?;
    Ok(found.modeled())
}
