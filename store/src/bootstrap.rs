//! What `lintel bootstrap` writes: rows added only where missing, in one transaction.

use entity::{assignment, domain, endpoint, implied_role, project, region, role, service, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::{Db, WriteTxn};
use crate::error::DomainResult;
use crate::model::bootstrap::{Bootstrap, Bootstrapped};
use crate::model::grant::Target;
use crate::rules::new_id;

async fn ensure_role(db: &WriteTxn, name: &str) -> DomainResult<String> {
    if let Some(r) = crate::assignments::role_by_name(db, name, None).await? {
        return Ok(r.id);
    }
    let r = role::ActiveModel {
        id: Set(new_id()),
        name: Set(name.to_string()),
        domain_id: Set(None),
        description: Set(None),
        options: Set(r#"{"immutable":true}"#.to_string()),
        created_at: Set(crate::clock::Clock::system().now()),
    };
    Ok(r.insert(&db.txn).await?.id)
}

async fn ensure_grant(
    db: &WriteTxn,
    user_id: &str,
    target: &Target,
    role_id: &str,
) -> DomainResult<()> {
    let exists = assignment::Entity::find()
        .filter(assignment::Column::Kind.eq(target.kind(false)))
        .filter(assignment::Column::ActorId.eq(user_id))
        .filter(assignment::Column::TargetId.eq(target.id()))
        .filter(assignment::Column::RoleId.eq(role_id))
        .one(&db.txn)
        .await?;
    if exists.is_none() {
        assignment::ActiveModel {
            kind: Set(target.kind(false).to_string()),
            actor_id: Set(user_id.to_string()),
            target_id: Set(target.id().to_string()),
            role_id: Set(role_id.to_string()),
            inherited: Set(false),
        }
        .insert(&db.txn)
        .await?;
    }
    Ok(())
}

/// Add what bootstrap needs and is missing, in one transaction.
pub async fn run(db: &Db, b: &Bootstrap) -> DomainResult<Bootstrapped> {
    let txn = db.write().await?;
    let now = crate::clock::Clock::system().now();
    let t = &txn.txn;
    if domain::Entity::find_by_id("default")
        .one(t)
        .await?
        .is_none()
    {
        domain::ActiveModel {
            id: Set("default".into()),
            name: Set("Default".into()),
            description: Set(Some("The default domain".into())),
            enabled: Set(true),
            created_at: Set(now),
        }
        .insert(t)
        .await?;
    }
    let project_id = match project::Entity::find()
        .filter(project::Column::DomainId.eq("default"))
        .filter(project::Column::Name.eq(b.project_name.as_str()))
        .one(t)
        .await?
    {
        Some(p) => p.id,
        None => {
            project::ActiveModel {
                id: Set(new_id()),
                name: Set(b.project_name.clone()),
                domain_id: Set("default".into()),
                parent_id: Set(None),
                description: Set(Some("Bootstrap project for initializing the cloud.".into())),
                enabled: Set(true),
                created_at: Set(now),
            }
            .insert(t)
            .await?
            .id
        }
    };
    let mut ids = std::collections::HashMap::new();
    for name in crate::model::bootstrap::ROLES
        .iter()
        .copied()
        .chain(std::iter::once(b.role_name.as_str()))
    {
        ids.insert(name.to_string(), ensure_role(&txn, name).await?);
    }
    for (prior, implied) in crate::model::bootstrap::IMPLIES {
        let (p, i) = (ids[*prior].clone(), ids[*implied].clone());
        if implied_role::Entity::find_by_id((p.clone(), i.clone()))
            .one(t)
            .await?
            .is_none()
        {
            implied_role::ActiveModel {
                prior_role_id: Set(p),
                implied_role_id: Set(i),
            }
            .insert(t)
            .await?;
        }
    }
    let existing = user::Entity::find()
        .filter(user::Column::DomainId.eq("default"))
        .filter(user::Column::Name.eq(b.username.as_str()))
        .one(t)
        .await?;
    let user_id = match existing {
        Some(u) => {
            let id = u.id.clone();
            let mut row: user::ActiveModel = u.into();
            row.password_hash = Set(Some(b.password_hash.clone()));
            row.enabled = Set(true);
            row.failed_auth_count = Set(0);
            row.update(t).await?;
            id
        }
        None => {
            user::ActiveModel {
                id: Set(new_id()),
                name: Set(b.username.clone()),
                domain_id: Set("default".into()),
                enabled: Set(true),
                password_hash: Set(Some(b.password_hash.clone())),
                default_project_id: Set(None),
                extra: Set("{}".into()),
                password_expires_at: Set(None),
                failed_auth_count: Set(0),
                last_failed_auth_at: Set(None),
                created_at: Set(now),
                options: Set(None),
                last_active_at: Set(Some(now)),
                password_created_at: Set(Some(now)),
                password_self_service: Set(false),
                service_project_id: Set(None),
            }
            .insert(t)
            .await?
            .id
        }
    };
    let admin_role = ids[&b.role_name].clone();
    ensure_grant(
        &txn,
        &user_id,
        &Target::Project(project_id.clone()),
        &admin_role,
    )
    .await?;
    ensure_grant(&txn, &user_id, &Target::System, &admin_role).await?;
    if region::Entity::find_by_id(b.region_id.as_str())
        .one(t)
        .await?
        .is_none()
    {
        region::ActiveModel {
            id: Set(b.region_id.clone()),
            description: Set(None),
            parent_region_id: Set(None),
        }
        .insert(t)
        .await?;
    }
    let service_id = match service::Entity::find()
        .filter(service::Column::Type.eq("identity"))
        .one(t)
        .await?
    {
        Some(s) => s.id,
        None => {
            service::ActiveModel {
                id: Set(new_id()),
                r#type: Set("identity".into()),
                name: Set(Some(b.service_name.clone())),
                description: Set(None),
                enabled: Set(true),
            }
            .insert(t)
            .await?
            .id
        }
    };
    for (interface, url) in &b.endpoints {
        let existing = endpoint::Entity::find()
            .filter(endpoint::Column::ServiceId.eq(service_id.as_str()))
            .filter(endpoint::Column::Interface.eq(interface.as_str()))
            .one(t)
            .await?;
        match existing {
            Some(e) if e.url == *url => {}
            Some(e) => {
                let mut row: endpoint::ActiveModel = e.into();
                row.url = Set(url.clone());
                row.update(t).await?;
            }
            None => {
                endpoint::ActiveModel {
                    id: Set(new_id()),
                    service_id: Set(service_id.clone()),
                    interface: Set(interface.clone()),
                    url: Set(url.clone()),
                    region_id: Set(Some(b.region_id.clone())),
                    enabled: Set(true),
                }
                .insert(t)
                .await?;
            }
        }
    }
    txn.commit().await?;
    Ok(Bootstrapped {
        user_id,
        project_id,
    })
}

/// Whether the database has no users yet.
pub async fn no_users(db: &Db) -> DomainResult<bool> {
    Ok(user::Entity::find().one(&db.conn).await?.is_none())
}
