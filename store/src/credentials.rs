//! Application credentials, their roles and access rules, and accepted client-assertion ids in the database.

use chrono::NaiveDateTime;
use entity::{
    access_rule, application_credential as app_cred,
    application_credential_access_rule as cred_rule, application_credential_role as cred_role,
    application_credential_witness as witness, client_assertion_jti as jti, role, user,
    user_credential_serial as serial,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::{is_unique_violation, on, unique, Db, Reader, WriteTxn};
use crate::error::{DomainError, DomainResult};
use crate::model::credential::{Credential, RuleRef};
use crate::model::revocation::Event;
use crate::model::{AccessRule, AppCred};
use crate::Modeled;

/// How many credentials a user has.
pub async fn count_of_user(db: &Db, user_id: &str) -> DomainResult<u64> {
    Ok(app_cred::Entity::find()
        .filter(app_cred::Column::UserId.eq(user_id))
        .count(&db.conn)
        .await?)
}

/// Store a new credential with its roles and access rules, in one transaction. A rule named by id must be one of
/// the user's; a new rule identical to one the user has is shared, as Keystone does. False, and nothing stored,
/// when the user already has `limit` credentials: decided in the same transaction, so that concurrent creates cannot
/// all pass it.
pub async fn insert(
    db: &Db,
    row: AppCred,
    role_ids: &[String],
    rules: &[RuleRef],
    limit: Option<u64>,
    witness: &str,
) -> DomainResult<bool> {
    let txn = db.write().await?;
    if let Some(limit) = limit {
        if held_at_least(&txn, &row.user_id, limit).await? {
            return Ok(false);
        }
    }
    let (id, user_id, name, now) = (
        row.id.clone(),
        row.user_id.clone(),
        row.name.clone(),
        row.created_at,
    );
    unique(
        app_cred::ActiveModel::from(row)
            .reset_all()
            .insert(&txn.txn)
            .await,
        || DomainError::duplicate("application_credential", "name", &name),
    )?;
    for r in role_ids {
        cred_role::ActiveModel {
            application_credential_id: Set(id.clone()),
            role_id: Set(r.clone()),
        }
        .insert(&txn.txn)
        .await?;
    }
    for rule in rules {
        let rule_id = rule_for(&txn, &user_id, rule, now).await?;
        let link = cred_rule::ActiveModel {
            application_credential_id: Set(id.clone()),
            access_rule_id: Set(rule_id),
        };
        match link.insert(&txn.txn).await {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    witness::ActiveModel {
        application_credential_id: Set(id.clone()),
        user_id: Set(witness.to_string()),
        seen_at: Set(now),
    }
    .insert(&txn.txn)
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Whether a user has at least `n` credentials, read so that a concurrent create for the same user cannot also
/// pass: this transaction locks the user's row and writes the user's serial row, which on PostgreSQL and MariaDB makes a concurrent
/// create wait for it, and on a Galera cluster, where that wait holds on one server only, makes the two write sets
/// conflict so that only one commits (the other is rolled back and run again by the request layer). The credentials
/// are then read with a locking read (the latest committed rows, not a snapshot). On SQLite the writer queue
/// already serialises every write.
async fn held_at_least(txn: &WriteTxn, user_id: &str, n: u64) -> DomainResult<bool> {
    use sea_orm::sea_query::{Expr, OnConflict};
    // The user's row first, as a delete of the user takes it first too (its cascade reaches the serial row): the
    // two then queue, instead of each holding what the other waits for.
    user::Entity::find_by_id(user_id)
        .lock_exclusive()
        .one(&txn.txn)
        .await?;
    serial::Entity::insert(serial::ActiveModel {
        user_id: Set(user_id.to_string()),
        serial: Set(1),
    })
    .on_conflict(
        OnConflict::column(serial::Column::UserId)
            .value(
                serial::Column::Serial,
                Expr::col((serial::Entity, serial::Column::Serial)).add(1),
            )
            .to_owned(),
    )
    .exec_without_returning(&txn.txn)
    .await?;
    let ids: Vec<String> = app_cred::Entity::find()
        .select_only()
        .column(app_cred::Column::Id)
        .filter(app_cred::Column::UserId.eq(user_id))
        .limit(n)
        // FOR UPDATE, not FOR SHARE: MariaDB knows only the former.
        .lock_exclusive()
        .into_tuple()
        .all(&txn.txn)
        .await?;
    Ok(ids.len() as u64 >= n)
}

/// The id of the access rule a create request names, made when it is new.
async fn rule_for(
    txn: &WriteTxn,
    user_id: &str,
    rule: &RuleRef,
    now: NaiveDateTime,
) -> DomainResult<String> {
    match rule {
        RuleRef::Id(rid) => {
            match access_rule::Entity::find_by_id(rid.as_str())
                .one(&txn.txn)
                .await?
            {
                Some(r) if r.user_id == user_id => Ok(r.id),
                _ => Err(DomainError::not_found("Access Rule", rid)),
            }
        }
        RuleRef::New {
            service,
            method,
            path,
        } => {
            let existing = access_rule::Entity::find()
                .filter(access_rule::Column::UserId.eq(user_id))
                .filter(access_rule::Column::Service.eq(service.as_str()))
                .filter(access_rule::Column::Method.eq(method.as_str()))
                .filter(access_rule::Column::Path.eq(path.as_str()))
                .one(&txn.txn)
                .await?;
            if let Some(r) = existing {
                return Ok(r.id);
            }
            Ok(access_rule::ActiveModel {
                id: Set(crate::rules::new_id()),
                user_id: Set(user_id.to_string()),
                service: Set(service.clone()),
                method: Set(method.clone()),
                path: Set(path.clone()),
                created_at: Set(now),
            }
            .insert(&txn.txn)
            .await?
            .id)
        }
    }
}

/// Replace a credential's secret hash, if it is still `old`.
pub async fn replace_hash(db: &Db, id: &str, old: &str, new: &str) -> DomainResult<()> {
    use sea_orm::sea_query::Expr;
    let txn = db.write().await?;
    app_cred::Entity::update_many()
        .col_expr(app_cred::Column::SecretHash, Expr::value(new))
        .filter(app_cred::Column::Id.eq(id))
        .filter(app_cred::Column::SecretHash.eq(old))
        .exec(&txn.txn)
        .await?;
    Ok(txn.commit().await?)
}

/// A credential with its roles (by name) and access rules.
pub async fn find(db: &Db, id: &str) -> DomainResult<Option<Credential>> {
    let Some(model) = app_cred::Entity::find_by_id(id).one(&db.conn).await? else {
        return Ok(None);
    };
    Ok(Some(expand(db, model).await?))
}

async fn expand(db: &Db, model: app_cred::Model) -> DomainResult<Credential> {
    let role_ids: Vec<String> = cred_role::Entity::find()
        .filter(cred_role::Column::ApplicationCredentialId.eq(model.id.as_str()))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|r| r.role_id)
        .collect();
    let roles = role::Entity::find()
        .filter(role::Column::Id.is_in(role_ids))
        .order_by_asc(role::Column::Name)
        .all(&db.conn)
        .await?;
    let rules = rules_of_credential(db, &model.id).await?;
    Ok(Credential {
        model: model.into(),
        roles: roles.modeled(),
        rules,
    })
}

/// The access rules of a credential.
pub async fn rules_of_credential(db: &Db, id: &str) -> DomainResult<Vec<AccessRule>> {
    let rule_ids: Vec<String> = cred_rule::Entity::find()
        .filter(cred_rule::Column::ApplicationCredentialId.eq(id))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|r| r.access_rule_id)
        .collect();
    Ok(access_rule::Entity::find()
        .filter(access_rule::Column::Id.is_in(rule_ids))
        .all(&db.conn)
        .await?
        .modeled())
}

/// A user's credentials, optionally only the one with this name, by name.
pub async fn list(db: &Db, user_id: &str, name: Option<&str>) -> DomainResult<Vec<Credential>> {
    let mut q = app_cred::Entity::find()
        .filter(app_cred::Column::UserId.eq(user_id))
        .order_by_asc(app_cred::Column::Name);
    if let Some(n) = name {
        q = q.filter(app_cred::Column::Name.eq(n));
    }
    let mut out = Vec::new();
    for m in q.all(&db.conn).await? {
        out.push(expand(db, m).await?);
    }
    Ok(out)
}

/// A user's credential id by name.
pub async fn id_by_name(db: &Db, user_id: &str, name: &str) -> DomainResult<Option<String>> {
    Ok(app_cred::Entity::find()
        .filter(app_cred::Column::UserId.eq(user_id))
        .filter(app_cred::Column::Name.eq(name))
        .one(&db.conn)
        .await?
        .map(|c| c.id))
}

/// Delete a credential with the event revoking its tokens, in one transaction.
pub async fn delete(db: &Db, id: &str, event: &Event) -> DomainResult<()> {
    let txn = db.write().await?;
    app_cred::Entity::delete_by_id(id).exec(&txn.txn).await?;
    super::revocations::save(&txn, event).await?;
    Ok(txn.commit().await?)
}

/// Credentials carrying a role (deleted with the role).
pub async fn carrying_role<R: Reader>(db: &R, role_id: &str) -> DomainResult<Vec<String>> {
    Ok(cred_role::Entity::find()
        .filter(cred_role::Column::RoleId.eq(role_id))
        .all(on(db))
        .await?
        .into_iter()
        .map(|r| r.application_credential_id)
        .collect())
}

/// A user's access rules, by id.
pub async fn rules_of_user(db: &Db, user_id: &str) -> DomainResult<Vec<AccessRule>> {
    Ok(access_rule::Entity::find()
        .filter(access_rule::Column::UserId.eq(user_id))
        .order_by_asc(access_rule::Column::Id)
        .all(&db.conn)
        .await?
        .modeled())
}

/// How many credentials use an access rule.
pub async fn rule_uses(db: &Db, rule_id: &str) -> DomainResult<u64> {
    Ok(cred_rule::Entity::find()
        .filter(cred_rule::Column::AccessRuleId.eq(rule_id))
        .count(&db.conn)
        .await?)
}

/// Delete an access rule.
pub async fn delete_rule(db: &Db, rule_id: &str) -> DomainResult<()> {
    let txn = db.write().await?;
    access_rule::Entity::delete_by_id(rule_id)
        .exec(&txn.txn)
        .await?;
    Ok(txn.commit().await?)
}

/// Record an accepted assertion's `jti`; false when it was already there (a replay, perhaps via another node).
pub async fn record_jti(db: &Db, key: String, expires_at: NaiveDateTime) -> DomainResult<bool> {
    let txn = db.write().await?;
    let row = jti::ActiveModel {
        id: Set(key),
        expires_at: Set(expires_at),
    };
    match row.insert(&txn.txn).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    txn.commit().await?;
    Ok(true)
}

/// Forget assertion ids that expired before `cutoff`; how many went.
pub async fn prune_jtis(db: &Db, cutoff: NaiveDateTime) -> DomainResult<u64> {
    let txn = db.write().await?;
    let done = jti::Entity::delete_many()
        .filter(jti::Column::ExpiresAt.lt(cutoff))
        .exec(&txn.txn)
        .await?;
    txn.commit().await?;
    Ok(done.rows_affected)
}

/// A rotation as the store writes it.
#[derive(Debug, Clone, Copy)]
pub struct Rotated<'a> {
    /// The credential.
    pub id: &'a str,
    /// Its secret's hash as the rotation read it.
    pub old_hash: &'a str,
    /// The new secret's hash.
    pub new_hash: &'a str,
    /// New `private_key_jwt` keys (the current ones are kept as the previous ones), or none to keep the keys.
    pub jwks: Option<&'a str>,
    /// When.
    pub now: chrono::NaiveDateTime,
    /// When the previous secret (and keys) stop working.
    pub retires_at: chrono::NaiveDateTime,
    /// Who rotated: the one witness of the new secret.
    pub rotator: &'a str,
}

/// Make `new_hash` the credential's secret and keep the current one until `retires_at`, unless the credential
/// was rotated (or deleted) since its secret was `old_hash`: false then, and nothing is written.
pub async fn rotate(db: &Db, r: Rotated<'_>) -> DomainResult<bool> {
    use sea_orm::sea_query::{Expr, SimpleExpr};
    let Rotated {
        id,
        old_hash,
        new_hash,
        jwks,
        now,
        retires_at,
        rotator,
    } = r;
    let (prior_jwks, jwks): (SimpleExpr, SimpleExpr) = match jwks {
        Some(new) => (Expr::col(app_cred::Column::Jwks).into(), Expr::value(new)),
        None => (
            Expr::value(Option::<String>::None),
            Expr::col(app_cred::Column::Jwks).into(),
        ),
    };
    let txn = db.write().await?;
    let done = app_cred::Entity::update_many()
        .col_expr(app_cred::Column::PriorJwks, prior_jwks)
        .col_expr(app_cred::Column::Jwks, jwks)
        .col_expr(
            app_cred::Column::PriorSecretHash,
            Expr::col(app_cred::Column::SecretHash).into(),
        )
        .col_expr(
            app_cred::Column::PriorLastUsedAt,
            Expr::col(app_cred::Column::LastUsedAt).into(),
        )
        .col_expr(app_cred::Column::SecretHash, Expr::value(new_hash))
        .col_expr(
            app_cred::Column::PriorSecretRetiresAt,
            Expr::value(retires_at),
        )
        .col_expr(app_cred::Column::RotatedAt, Expr::value(now))
        .col_expr(
            app_cred::Column::LastUsedAt,
            Expr::value(Option::<chrono::NaiveDateTime>::None),
        )
        .col_expr(
            app_cred::Column::LastUsedFrom,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            app_cred::Column::LastUsedNode,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            app_cred::Column::RotationRequiredAt,
            Expr::value(Option::<chrono::NaiveDateTime>::None),
        )
        .filter(app_cred::Column::Id.eq(id))
        .filter(app_cred::Column::SecretHash.eq(old_hash))
        .exec(&txn.txn)
        .await?;
    if done.rows_affected != 1 {
        return Ok(false);
    }
    // Who saw the new secret: the rotator alone (those who saw the old one saw a secret that is retiring).
    witness::Entity::delete_many()
        .filter(witness::Column::ApplicationCredentialId.eq(id))
        .exec(&txn.txn)
        .await?;
    witness::ActiveModel {
        application_credential_id: Set(id.to_string()),
        user_id: Set(rotator.to_string()),
        seen_at: Set(now),
    }
    .insert(&txn.txn)
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// The credentials whose current secret `user_id` saw, with their owner and project.
pub async fn witnessed_by(db: &Db, user_id: &str) -> DomainResult<Vec<AppCred>> {
    let ids: Vec<String> = witness::Entity::find()
        .filter(witness::Column::UserId.eq(user_id))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|w| w.application_credential_id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(app_cred::Entity::find()
        .filter(app_cred::Column::Id.is_in(ids))
        .all(&db.conn)
        .await?
        .modeled())
}

/// Mark credentials "rotation required" from `now` (those already marked keep their first mark); which were
/// marked now.
pub async fn require_rotation(
    db: &Db,
    ids: &[String],
    now: chrono::NaiveDateTime,
) -> DomainResult<u64> {
    use sea_orm::sea_query::Expr;
    if ids.is_empty() {
        return Ok(0);
    }
    let txn = db.write().await?;
    let done = app_cred::Entity::update_many()
        .col_expr(app_cred::Column::RotationRequiredAt, Expr::value(now))
        .filter(app_cred::Column::Id.is_in(ids.iter().cloned()))
        .filter(app_cred::Column::RotationRequiredAt.is_null())
        .exec(&txn.txn)
        .await?;
    txn.commit().await?;
    Ok(done.rows_affected)
}

/// One use of a credential to record: when, from where, on which node, with which secret.
#[derive(Debug, Clone)]
pub struct Use {
    /// The credential.
    pub id: String,
    /// When.
    pub at: NaiveDateTime,
    /// The source address, as text.
    pub from: Option<String>,
    /// The node that served it.
    pub node: String,
    /// Whether the previous secret (during a rotation's grace) was used.
    pub prior: bool,
}

/// Record uses, each moving a credential's last use forward only (several nodes write; the latest wins), in one
/// transaction. A credential deleted meanwhile is skipped.
pub async fn record_uses(db: &Db, uses: &[Use]) -> DomainResult<()> {
    use sea_orm::sea_query::{Condition, Expr};
    if uses.is_empty() {
        return Ok(());
    }
    let txn = db.write().await?;
    for u in uses {
        let (at, q) = if u.prior {
            (
                app_cred::Column::PriorLastUsedAt,
                app_cred::Entity::update_many()
                    .col_expr(app_cred::Column::PriorLastUsedAt, Expr::value(u.at)),
            )
        } else {
            (
                app_cred::Column::LastUsedAt,
                app_cred::Entity::update_many()
                    .col_expr(app_cred::Column::LastUsedAt, Expr::value(u.at))
                    .col_expr(app_cred::Column::LastUsedFrom, Expr::value(u.from.clone()))
                    .col_expr(app_cred::Column::LastUsedNode, Expr::value(u.node.clone())),
            )
        };
        q.filter(app_cred::Column::Id.eq(u.id.as_str()))
            .filter(Condition::any().add(at.is_null()).add(at.lt(u.at)))
            .exec(&txn.txn)
            .await?;
    }
    Ok(txn.commit().await?)
}

/// Counts an operator watches: credentials expiring within 7 and 30 days, unused for 90 days (or never used and
/// older than that), and in a rotation's grace window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Expiring within 7 days.
    pub expiring_7d: u64,
    /// Expiring within 30 days.
    pub expiring_30d: u64,
    /// Not used for 90 days.
    pub unused_90d: u64,
    /// Whose previous secret still works.
    pub rotations_pending: u64,
}

/// [`Stats`] at `now`.
pub async fn stats(db: &Db, now: NaiveDateTime) -> DomainResult<Stats> {
    use sea_orm::sea_query::Condition;
    let days = |n: i64| chrono::Duration::days(n);
    let count = |c: Condition| app_cred::Entity::find().filter(c).count(&db.conn);
    let expiring = |n: i64| {
        Condition::all()
            .add(app_cred::Column::ExpiresAt.gt(now))
            .add(app_cred::Column::ExpiresAt.lte(now + days(n)))
    };
    let long_ago = now - days(90);
    Ok(Stats {
        expiring_7d: count(expiring(7)).await?,
        expiring_30d: count(expiring(30)).await?,
        unused_90d: count(
            Condition::any()
                .add(app_cred::Column::LastUsedAt.lt(long_ago))
                .add(
                    Condition::all()
                        .add(app_cred::Column::LastUsedAt.is_null())
                        .add(app_cred::Column::CreatedAt.lt(long_ago)),
                ),
        )
        .await?,
        rotations_pending: count(
            Condition::all().add(app_cred::Column::PriorSecretRetiresAt.gt(now)),
        )
        .await?,
    })
}

/// Credentials whose expiry passed before `before` (the reaper's candidates), at most `limit`.
pub async fn expired_before(
    db: &Db,
    before: NaiveDateTime,
    limit: u64,
) -> DomainResult<Vec<AppCred>> {
    Ok(app_cred::Entity::find()
        .filter(app_cred::Column::ExpiresAt.lt(before))
        .order_by_asc(app_cred::Column::ExpiresAt)
        .limit(limit)
        .all(&db.conn)
        .await?
        .modeled())
}
