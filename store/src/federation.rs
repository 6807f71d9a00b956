//! OS-FEDERATION in the database: the only code that queries `identity_provider`, `idp_remote_id`,
//! `federation_mapping`, `federation_protocol` and `federated_user`. Single mappings go through `store::find`,
//! `insert_new`, `update_row` and `delete_row`.

use entity::{federated_user, federation_mapping, federation_protocol, identity_provider};
use entity::{idp_remote_id, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder};

use crate::error::{DomainError, DomainResult};
use crate::model::federation::{FederatedUser, IdentityProvider, Mapping, Protocol};
use crate::model::revocation::Event;
use crate::model::User;
use crate::{Db, Modeled, WriteTxn};

/// A remote id already another provider's.
fn remote_id_taken(remote_id: &str) -> DomainError {
    DomainError::Conflict(format!(
        "Conflict occurred attempting to store identity_provider - Duplicate remote ID: {remote_id}."
    ))
}

/// Identity providers, by id, each with its remote ids.
pub async fn providers(db: &Db) -> DomainResult<Vec<(IdentityProvider, Vec<String>)>> {
    let rows = identity_provider::Entity::find()
        .order_by_asc(identity_provider::Column::Id)
        .all(&db.conn)
        .await?;
    let mut remote = std::collections::HashMap::<String, Vec<String>>::new();
    for r in idp_remote_id::Entity::find()
        .order_by_asc(idp_remote_id::Column::RemoteId)
        .all(&db.conn)
        .await?
    {
        remote.entry(r.idp_id).or_default().push(r.remote_id);
    }
    Ok(rows
        .into_iter()
        .map(|p| {
            let ids = remote.remove(&p.id).unwrap_or_default();
            (p.into(), ids)
        })
        .collect())
}

/// A provider's remote ids.
pub async fn remote_ids(db: &Db, idp_id: &str) -> DomainResult<Vec<String>> {
    Ok(idp_remote_id::Entity::find()
        .filter(idp_remote_id::Column::IdpId.eq(idp_id))
        .order_by_asc(idp_remote_id::Column::RemoteId)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|r| r.remote_id)
        .collect())
}

/// The provider a remote id (an issuer) belongs to.
pub async fn provider_of_remote_id(
    db: &Db,
    remote_id: &str,
) -> DomainResult<Option<IdentityProvider>> {
    let Some(r) = idp_remote_id::Entity::find_by_id(remote_id.to_string())
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    crate::find::<IdentityProvider>(db, &r.idp_id).await
}

async fn put_remote_ids(txn: &WriteTxn, idp_id: &str, ids: &[String]) -> DomainResult<()> {
    for id in ids {
        let taken = idp_remote_id::Entity::find_by_id(id.clone())
            .one(&txn.txn)
            .await?;
        if taken.is_some() {
            return Err(remote_id_taken(id));
        }
    }
    for id in ids {
        let row = idp_remote_id::ActiveModel::from(idp_remote_id::Model {
            remote_id: id.clone(),
            idp_id: idp_id.to_string(),
        });
        crate::unique(row.insert(&txn.txn).await, || remote_id_taken(id))?;
    }
    Ok(())
}

/// Store a new provider with its remote ids (and the domain made for it, if any), in one transaction.
pub async fn insert_provider(
    db: &Db,
    idp: IdentityProvider,
    remote_ids: &[String],
    new_domain: Option<crate::model::Domain>,
) -> DomainResult<IdentityProvider> {
    let txn = db.write().await?;
    if let Some(d) = new_domain {
        let name = d.name.clone();
        crate::unique(
            entity::domain::ActiveModel::from(d).insert(&txn.txn).await,
            || DomainError::duplicate("domain", "name", &name),
        )?;
    }
    let id = idp.id.clone();
    let created = crate::unique(
        identity_provider::ActiveModel::from(idp)
            .insert(&txn.txn)
            .await,
        || {
            DomainError::Conflict(format!(
                "Conflict occurred attempting to store identity_provider - Duplicate entry: {id}."
            ))
        },
    )?;
    put_remote_ids(&txn, &id, remote_ids).await?;
    txn.commit().await?;
    Ok(created.into())
}

/// Write a provider's changed fields and, when given, its new remote ids, saving `events`, in one transaction.
pub async fn update_provider(
    db: &Db,
    idp: IdentityProvider,
    remote_ids: Option<&[String]>,
    events: &[Event],
) -> DomainResult<IdentityProvider> {
    let txn = db.write().await?;
    let id = idp.id.clone();
    let updated = identity_provider::ActiveModel::from(idp)
        .reset_all()
        .update(&txn.txn)
        .await?;
    if let Some(ids) = remote_ids {
        idp_remote_id::Entity::delete_many()
            .filter(idp_remote_id::Column::IdpId.eq(id.as_str()))
            .exec(&txn.txn)
            .await?;
        put_remote_ids(&txn, &id, ids).await?;
    }
    for e in events {
        super::revocations::save(&txn, e).await?;
    }
    txn.commit().await?;
    Ok(updated.into())
}

/// The users a provider's sign-ins made.
pub async fn users_of_provider(db: &Db, idp_id: &str) -> DomainResult<Vec<String>> {
    Ok(federated_user::Entity::find()
        .filter(federated_user::Column::IdpId.eq(idp_id))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|f| f.user_id)
        .collect())
}

/// Delete a provider with its remote ids, protocols and federated users (their local users too), saving
/// `events` (the revocation of what it issued), in one transaction.
pub async fn delete_provider(db: &Db, idp_id: &str, events: &[Event]) -> DomainResult<()> {
    let txn = db.write().await?;
    let users: Vec<String> = federated_user::Entity::find()
        .filter(federated_user::Column::IdpId.eq(idp_id))
        .all(&txn.txn)
        .await?
        .into_iter()
        .map(|f| f.user_id)
        .collect();
    federated_user::Entity::delete_many()
        .filter(federated_user::Column::IdpId.eq(idp_id))
        .exec(&txn.txn)
        .await?;
    if !users.is_empty() {
        entity::assignment::Entity::delete_many()
            .filter(entity::assignment::Column::ActorId.is_in(users.clone()))
            .exec(&txn.txn)
            .await?;
        entity::user_group_membership::Entity::delete_many()
            .filter(entity::user_group_membership::Column::UserId.is_in(users.clone()))
            .exec(&txn.txn)
            .await?;
        user::Entity::delete_many()
            .filter(user::Column::Id.is_in(users))
            .exec(&txn.txn)
            .await?;
    }
    federation_protocol::Entity::delete_many()
        .filter(federation_protocol::Column::IdpId.eq(idp_id))
        .exec(&txn.txn)
        .await?;
    idp_remote_id::Entity::delete_many()
        .filter(idp_remote_id::Column::IdpId.eq(idp_id))
        .exec(&txn.txn)
        .await?;
    identity_provider::Entity::delete_by_id(idp_id.to_string())
        .exec(&txn.txn)
        .await?;
    for e in events {
        super::revocations::save(&txn, e).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Mappings, by id.
pub async fn mappings(db: &Db) -> DomainResult<Vec<Mapping>> {
    Ok(federation_mapping::Entity::find()
        .order_by_asc(federation_mapping::Column::Id)
        .all(&db.conn)
        .await?
        .modeled())
}

/// The protocols using a mapping.
pub async fn protocols_using(db: &Db, mapping_id: &str) -> DomainResult<Vec<Protocol>> {
    Ok(federation_protocol::Entity::find()
        .filter(federation_protocol::Column::MappingId.eq(mapping_id))
        .all(&db.conn)
        .await?
        .modeled())
}

/// Delete a mapping, saving `events` (the revocation of what its sign-ins issued), in one transaction.
pub async fn delete_mapping(db: &Db, m: Mapping, events: &[Event]) -> DomainResult<()> {
    let txn = db.write().await?;
    federation_mapping::Model::from(m).delete(&txn.txn).await?;
    for e in events {
        super::revocations::save(&txn, e).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// A provider's protocols, by id.
pub async fn protocols(db: &Db, idp_id: &str) -> DomainResult<Vec<Protocol>> {
    Ok(federation_protocol::Entity::find()
        .filter(federation_protocol::Column::IdpId.eq(idp_id))
        .order_by_asc(federation_protocol::Column::Id)
        .all(&db.conn)
        .await?
        .modeled())
}

/// One protocol of a provider.
pub async fn protocol(db: &Db, idp_id: &str, id: &str) -> DomainResult<Option<Protocol>> {
    Ok(
        federation_protocol::Entity::find_by_id((id.to_string(), idp_id.to_string()))
            .one(&db.conn)
            .await?
            .modeled(),
    )
}

/// Store a new protocol.
pub async fn insert_protocol(db: &Db, p: Protocol) -> DomainResult<Protocol> {
    let (id, idp) = (p.id.clone(), p.idp_id.clone());
    super::insert_row(db, federation_protocol::ActiveModel::from(p), || {
        DomainError::Conflict(format!(
            "Conflict occurred attempting to store federation_protocol - Duplicate entry found with ID {id} for \
             Identity Provider {idp}."
        ))
    })
    .await
    .map(Into::into)
}

/// Write a protocol's changed mapping.
pub async fn update_protocol(db: &Db, p: Protocol) -> DomainResult<Protocol> {
    let txn = db.write().await?;
    let updated = federation_protocol::ActiveModel::from(p)
        .reset_all()
        .update(&txn.txn)
        .await?;
    txn.commit().await?;
    Ok(updated.into())
}

/// Delete a protocol, saving `events`, in one transaction.
pub async fn delete_protocol(db: &Db, p: Protocol, events: &[Event]) -> DomainResult<()> {
    let txn = db.write().await?;
    federation_protocol::Model::from(p).delete(&txn.txn).await?;
    for e in events {
        super::revocations::save(&txn, e).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The local user a provider's subject signed in as before.
pub async fn federated_user(
    db: &Db,
    idp_id: &str,
    protocol_id: &str,
    unique_id: &str,
) -> DomainResult<Option<FederatedUser>> {
    Ok(federated_user::Entity::find_by_id((
        idp_id.to_string(),
        protocol_id.to_string(),
        unique_id.to_string(),
    ))
    .one(&db.conn)
    .await?
    .modeled())
}

/// Store a first sign-in's local user and its federation link, in one transaction; false if another node made
/// the same link meanwhile (nothing written: read it again).
pub async fn insert_federated_user(db: &Db, u: User, link: FederatedUser) -> DomainResult<bool> {
    let txn = db.write().await?;
    let taken = federated_user::Entity::find_by_id((
        link.idp_id.clone(),
        link.protocol_id.clone(),
        link.unique_id.clone(),
    ))
    .one(&txn.txn)
    .await?;
    if taken.is_some() {
        return Ok(false);
    }
    // The same subject through another protocol of the provider is the same user.
    if user::Entity::find_by_id(u.id.clone())
        .one(&txn.txn)
        .await?
        .is_none()
    {
        let name = u.name.clone();
        crate::unique(user::ActiveModel::from(u).insert(&txn.txn).await, || {
            DomainError::duplicate("user", "name", &name)
        })?;
    }
    match federated_user::ActiveModel::from(link)
        .insert(&txn.txn)
        .await
    {
        Ok(_) => {}
        Err(e) if crate::is_unique_violation(&e) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    txn.commit().await?;
    Ok(true)
}

/// Make a user's group memberships exactly `groups` (a federated sign-in's mapped groups); whether any changed.
pub async fn set_groups(db: &Db, user_id: &str, groups: &[String]) -> DomainResult<bool> {
    use entity::user_group_membership as m;
    let txn = db.write().await?;
    let now: Vec<String> = m::Entity::find()
        .filter(m::Column::UserId.eq(user_id))
        .all(&txn.txn)
        .await?
        .into_iter()
        .map(|r| r.group_id)
        .collect();
    let gone: Vec<&String> = now.iter().filter(|g| !groups.contains(g)).collect();
    let new: Vec<&String> = groups.iter().filter(|g| !now.contains(g)).collect();
    if gone.is_empty() && new.is_empty() {
        return Ok(false);
    }
    if !gone.is_empty() {
        m::Entity::delete_many()
            .filter(m::Column::UserId.eq(user_id))
            .filter(m::Column::GroupId.is_in(gone.into_iter().cloned()))
            .exec(&txn.txn)
            .await?;
    }
    for g in new {
        m::ActiveModel {
            user_id: sea_orm::Set(user_id.to_string()),
            group_id: sea_orm::Set(g.clone()),
        }
        .insert(&txn.txn)
        .await?;
    }
    txn.commit().await?;
    Ok(true)
}
