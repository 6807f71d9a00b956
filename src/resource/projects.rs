//! Projects and their tags: Keystone's rules, and the projects that are really domains (Keystone keeps domains as
//! projects acting as domains; Lintel keeps them in their own table and answers for them in both forms).

use crate::model::{Domain, Project};

use crate::audit::{Initiator, Operation};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::policy::{enforce, Action, Target};
use crate::resource::domains::{self, DomainFields};
use crate::rules::{check_description, check_name, PROJECT_NAME_MAX};
use crate::store;
use crate::store::projects::ProjectChanges;
pub use crate::store::projects::ProjectQuery;
use crate::token::revocation::{Event, RevKey};
use crate::token::Validated;

/// Most tags a project may carry (Keystone's schema).
pub const MAX_TAGS: usize = 80;

/// A project's fields as a create or update request gives them (absent: not given).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct ProjectFields {
    /// Name.
    pub name: Option<String>,
    /// Owning domain (only on create; on update it may only repeat the current one).
    pub domain_id: Option<String>,
    /// Description (`Some(None)`: cleared).
    pub description: Option<Option<String>>,
    /// Enabled flag.
    pub enabled: Option<bool>,
    /// Parent project (or its domain: top level); only on create.
    pub parent_id: Option<Option<String>>,
    /// Whether the project acts as a domain (only on create).
    pub is_domain: Option<bool>,
    /// Tags (all of them).
    pub tags: Option<Vec<String>>,
}

impl ProjectFields {
    fn into_domain(self) -> DomainFields {
        DomainFields {
            name: self.name,
            description: self.description,
            enabled: self.enabled,
        }
    }
}

/// What a project id names: a project with its tags, or a domain answered in project form.
#[derive(Debug)]
pub enum Found {
    /// A project and its tags.
    Project(Project, Vec<String>),
    /// A domain.
    Domain(Domain),
}

/// A project by id, or not found.
pub async fn load(cx: &Context, id: &str) -> DomainResult<Project> {
    store::find::<Project>(&cx.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found("Project", id))
}

/// Keystone's tag schema: 1 to 255 characters, no '/' or ','.
pub fn check_tag_name(field: &str, tag: &str) -> DomainResult<()> {
    let why = if tag.is_empty() {
        "should be non-empty"
    } else if tag.chars().count() > 255 {
        "is too long"
    } else if tag.contains('/') || tag.contains(',') {
        "does not match '^[^,/]*$'"
    } else {
        return Ok(());
    };
    Err(DomainError::validation(format!(
        "{field}. Value: {tag}. '{tag}' {why}"
    )))
}

fn repeated(tag: &str) -> DomainError {
    DomainError::validation(format!(
        "tags. '{tag}' appears more than once: tags must be unique"
    ))
}

/// Keystone's tag list schema: valid tags, at most [`MAX_TAGS`], no repeats.
pub fn check_tags(tags: &[String]) -> DomainResult<()> {
    for (i, t) in tags.iter().enumerate() {
        check_tag_name(&i.to_string(), t)?;
    }
    if tags.len() > MAX_TAGS {
        return Err(DomainError::validation(format!(
            "tags. A project may have at most {MAX_TAGS} tags; {} were given",
            tags.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    match tags.iter().find(|t| !seen.insert(t.as_str())) {
        Some(dup) => Err(repeated(dup)),
        None => Ok(()),
    }
}

fn in_domain<'a>(domain_id: &'a str, project_id: Option<&'a str>) -> Target<'a> {
    Target {
        domain_id: Some(domain_id),
        project_id,
        ..Default::default()
    }
}

/// The projects the caller may list, with their tags; `is_domain` lists the domains in project form.
pub async fn list(
    cx: &Context,
    caller: &Validated,
    f: &ProjectQuery<'_>,
    is_domain: bool,
) -> DomainResult<Vec<Found>> {
    let target = in_domain(f.domain_id.unwrap_or(&caller.user_domain.id), None);
    enforce(Action::ListProjects, caller, target)?;
    if is_domain {
        let found = domains::search(cx, f.name, f.enabled).await?;
        return Ok(found.into_iter().map(Found::Domain).collect());
    }
    let found = store::projects::list(&cx.db, f).await?;
    let mut tags =
        store::projects::tags_of_many(&cx.db, found.iter().map(|p| p.id.clone()).collect()).await?;
    Ok(found
        .into_iter()
        .map(|p| {
            let t = tags.remove(&p.id).unwrap_or_default();
            Found::Project(p, t)
        })
        .collect())
}

/// One project (or the domain of that id); policy is decided before a missing project is reported.
pub async fn get(cx: &Context, caller: &Validated, id: &str) -> DomainResult<Found> {
    let p = crate::rules::existing(load(cx, id).await)?;
    if p.is_err() {
        if let Some(d) = domains::find(cx, id).await? {
            enforce(Action::GetDomain, caller, in_domain(id, None))?;
            return Ok(Found::Domain(d));
        }
    }
    let domain = p.as_ref().ok().map(|p| p.domain_id.clone());
    let target = Target {
        domain_id: domain.as_deref(),
        project_id: Some(id),
        ..Default::default()
    };
    enforce(Action::GetProject, caller, target)?;
    let p = p?;
    let tags = store::projects::tags(&cx.db, id).await?;
    Ok(Found::Project(p, tags))
}

/// Create a project (or, with `is_domain`, a domain).
pub async fn create(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    f: ProjectFields,
) -> DomainResult<Found> {
    if f.is_domain == Some(true) {
        return create_acting_domain(cx, caller, who, f).await;
    }
    let name = f
        .name
        .clone()
        .ok_or_else(|| DomainError::validation("project. 'name' is a required property"))?;
    check_name(&name, PROJECT_NAME_MAX)?;
    check_description(f.description.as_ref().and_then(Option::as_deref), None)?;
    let mut parent = f.parent_id.flatten();
    let domain_id = match (&f.domain_id, &parent) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) => match crate::rules::existing(load(cx, p).await)? {
            Ok(pp) => pp.domain_id,
            // Policy first; the missing parent is reported when the project is made.
            Err(_) => p.clone(),
        },
        (None, None) => caller.user_domain.id.clone(),
    };
    enforce(Action::CreateProject, caller, in_domain(&domain_id, None))?;
    domains::load(cx, &domain_id).await?;
    if parent.as_deref() == Some(domain_id.as_str()) {
        parent = None;
    }
    if let Some(p) = &parent {
        if load(cx, p).await?.domain_id != domain_id {
            return Err(DomainError::Invalid(
                "The parent project must be in the same domain.".into(),
            ));
        }
    }
    let tags = f.tags.unwrap_or_default();
    check_tags(&tags)?;
    let row = Project {
        id: crate::rules::new_id(),
        name,
        domain_id,
        parent_id: parent,
        description: f.description.flatten(),
        enabled: f.enabled.unwrap_or(true),
        created_at: cx.clock.now(),
    };
    let created = store::projects::insert(&cx.db, row, &tags).await?;
    cx.audit_change(who, Operation::Created, "project", &created.id, &[]);
    Ok(Found::Project(created, tags))
}

/// `POST /v3/projects` with `is_domain`: a domain, with Keystone's words for a duplicate name.
async fn create_acting_domain(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    f: ProjectFields,
) -> DomainResult<Found> {
    if f.domain_id.is_some() || f.parent_id.clone().flatten().is_some() {
        return Err(DomainError::Invalid(
            "only root projects are allowed to act as domains.".into(),
        ));
    }
    let name = f.name.clone().unwrap_or_default();
    let created = domains::create(cx, caller, who, f.into_domain())
        .await
        .map_err(|e| match e {
            DomainError::Conflict(_) => DomainError::Conflict(format!(
                "Conflict occurred attempting to store project - it is not permitted to have two projects acting \
                 as domains with the same name: {name}."
            )),
            other => other,
        })?;
    Ok(Found::Domain(created))
}

/// Change a project (or the domain of that id); disabling a project revokes the tokens scoped to it.
pub async fn update(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    id: &str,
    f: ProjectFields,
) -> DomainResult<Found> {
    let p = match load(cx, id).await {
        Err(DomainError::NotFound(m)) => {
            if domains::find(cx, id).await?.is_none() {
                return Err(DomainError::NotFound(m));
            }
            return Ok(Found::Domain(
                domains::update(cx, caller, who, id, f.into_domain()).await?,
            ));
        }
        other => other?,
    };
    enforce(Action::UpdateProject, caller, in_domain(&p.domain_id, None))?;
    if f.domain_id.as_ref().is_some_and(|d| *d != p.domain_id) {
        return Err(DomainError::Invalid(
            "Cannot change the domain_id of a project.".into(),
        ));
    }
    if let Some(n) = &f.name {
        check_name(n, PROJECT_NAME_MAX)?;
    }
    if let Some(d) = &f.description {
        check_description(d.as_deref(), None)?;
    }
    if let Some(tags) = &f.tags {
        check_tags(tags)?;
    }
    let events: Vec<Event> = (f.enabled == Some(false) && p.enabled)
        .then(|| Event::now(&cx.clock, RevKey::Project(id.to_string())))
        .into_iter()
        .collect();
    let changes = ProjectChanges {
        name: f.name,
        description: f.description,
        enabled: f.enabled,
        tags: f.tags,
    };
    let updated = store::projects::update(&cx.db, &p, changes, &events).await?;
    cx.view.forget_project(id);
    crate::cluster::settle(cx, &events).await?;
    cx.audit_change(who, Operation::Updated, "project", id, &[]);
    let tags = store::projects::tags(&cx.db, id).await?;
    Ok(Found::Project(updated, tags))
}

/// Delete a project without children (or the domain of that id) with its grants; its tokens are revoked.
pub async fn delete(
    cx: &Context,
    caller: &Validated,
    who: &Initiator,
    id: &str,
) -> DomainResult<()> {
    let p = match load(cx, id).await {
        Err(DomainError::NotFound(m)) => {
            if domains::find(cx, id).await?.is_none() {
                return Err(DomainError::NotFound(m));
            }
            return domains::delete(cx, caller, who, id).await;
        }
        other => other?,
    };
    enforce(Action::DeleteProject, caller, in_domain(&p.domain_id, None))?;
    let event = Event::now(&cx.clock, RevKey::Project(id.to_string()));
    if !store::projects::delete(&cx.db, p, &event).await? {
        return Err(DomainError::Forbidden(
            "Cannot delete a project that has child projects.".into(),
        ));
    }
    cx.view.forget_project(id);
    crate::cluster::settle(cx, &[event]).await?;
    cx.audit_change(who, Operation::Deleted, "project", id, &[]);
    Ok(())
}

/// What to do with a project's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    /// List them.
    List,
    /// Replace them all.
    Replace(Vec<String>),
    /// Remove them all.
    Clear,
    /// Whether the project has this one (not found when not).
    Check(String),
    /// Add this one (a tag already there is a repeat, as Keystone's schema sees it).
    Add(String),
    /// Remove this one (not found when not there).
    Remove(String),
}

/// Read or change a project's tags; the tags after the operation come back.
pub async fn tags(
    cx: &Context,
    caller: &Validated,
    id: &str,
    op: Tags,
) -> DomainResult<Vec<String>> {
    let rule = match &op {
        Tags::List => Action::ListProjectTags,
        Tags::Replace(_) => Action::UpdateProjectTags,
        Tags::Clear => Action::DeleteProjectTags,
        Tags::Check(_) => Action::GetProjectTag,
        Tags::Add(_) => Action::CreateProjectTag,
        Tags::Remove(_) => Action::DeleteProjectTag,
    };
    let p = load(cx, id).await?;
    enforce(rule, caller, in_domain(&p.domain_id, Some(id)))?;
    let db = &cx.db;
    match op {
        Tags::List => {}
        Tags::Replace(tags) => {
            check_tags(&tags)?;
            store::projects::replace_tags(db, id, &tags).await?;
            return Ok(tags);
        }
        Tags::Clear => store::projects::replace_tags(db, id, &[]).await?,
        Tags::Check(tag) => {
            if !store::projects::tags(db, id).await?.contains(&tag) {
                return Err(DomainError::not_found("Project tag", &tag));
            }
        }
        Tags::Add(tag) => {
            check_tag_name("tag", &tag)?;
            let mut all = store::projects::tags(db, id).await?;
            all.push(tag.clone());
            check_tags(&all)?;
            store::projects::add_tag(db, id, &tag, || repeated(&tag)).await?;
        }
        Tags::Remove(tag) => {
            if !store::projects::remove_tag(db, id, &tag).await? {
                return Err(DomainError::not_found("Project tag", &tag));
            }
        }
    }
    store::projects::tags(db, id).await
}

/// The projects a user holds a role on, by name (for `/v3/users/{id}/projects` and `/v3/auth/projects`).
pub async fn by_ids(cx: &Context, ids: Vec<String>) -> DomainResult<Vec<Project>> {
    store::projects::by_ids(&cx.db, ids).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::context;
    use serde_json::json;

    fn fields(v: serde_json::Value) -> ProjectFields {
        serde_json::from_value(v).unwrap()
    }

    fn project_id(found: Found) -> String {
        match found {
            Found::Project(p, _) => p.id,
            Found::Domain(d) => panic!("a domain: {d:?}"),
        }
    }

    #[tokio::test]
    async fn a_parent_with_children_is_kept_and_a_child_stays_in_its_parents_domain() {
        let t = context().await;
        let admin = t.admin().await;
        let parent = project_id(
            create(
                &t,
                &admin,
                &t.admin_initiator(),
                fields(json!({"name": "p"})),
            )
            .await
            .unwrap(),
        );
        let child = project_id(
            create(
                &t,
                &admin,
                &t.admin_initiator(),
                fields(json!({"name": "c", "parent_id": parent})),
            )
            .await
            .unwrap(),
        );
        assert_eq!(
            load(&t, &child).await.unwrap().parent_id.as_deref(),
            Some(parent.as_str())
        );
        let err = delete(&t, &admin, &t.admin_initiator(), &parent)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DomainError::Forbidden(m) if m.contains("child projects")),
            "{err:?}"
        );

        let other = domains::create(
            &t,
            &admin,
            &t.admin_initiator(),
            serde_json::from_value(json!({"name": "d2"})).unwrap(),
        )
        .await
        .unwrap();
        let err = create(
            &t,
            &admin,
            &t.admin_initiator(),
            fields(json!({"name": "x", "parent_id": parent, "domain_id": other.id})),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, DomainError::Invalid(m) if m.contains("same domain")),
            "{err:?}"
        );

        delete(&t, &admin, &t.admin_initiator(), &child)
            .await
            .unwrap();
        delete(&t, &admin, &t.admin_initiator(), &parent)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn disabling_a_project_revokes_tokens_scoped_to_it() {
        let t = context().await;
        let (_, member) = t.member("alice").await;
        let token = t.tokens.issue(&member.data);
        let admin = t.admin().await;
        update(
            &t,
            &admin,
            &t.admin_initiator(),
            &t.admin.project_id,
            fields(json!({"enabled": false})),
        )
        .await
        .unwrap();
        assert!(crate::token::validate(&t, &token, false).await.is_err());
    }

    #[tokio::test]
    async fn an_acting_domain_must_be_a_root_and_a_member_creates_nothing() {
        let t = context().await;
        let admin = t.admin().await;
        let err = create(
            &t,
            &admin,
            &t.admin_initiator(),
            fields(json!({"name": "d", "is_domain": true, "parent_id": t.admin.project_id})),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, DomainError::Invalid(m) if m.contains("root projects")),
            "{err:?}"
        );
        let (_, member) = t.member("alice").await;
        let err = create(
            &t,
            &member,
            &t.admin_initiator(),
            fields(json!({"name": "mine"})),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
    }
}
