//! Regions, services and endpoints in the database: their listings (single rows go through `store::find`,
//! `insert_new`, `update_row` and `delete_row`).

use entity::{endpoint, region, service};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::error::DomainResult;
use crate::model::{Endpoint, Region, Service};
use crate::Db;
use crate::Modeled;

/// Regions, optionally the children of one, by id.
pub async fn regions(db: &Db, parent: Option<&str>) -> DomainResult<Vec<Region>> {
    let mut q = region::Entity::find().order_by_asc(region::Column::Id);
    if let Some(p) = parent {
        q = q.filter(region::Column::ParentRegionId.eq(p));
    }
    Ok(q.all(&db.conn).await?.modeled())
}

/// Services, optionally of one type and name, by id.
pub async fn services(
    db: &Db,
    kind: Option<&str>,
    name: Option<&str>,
) -> DomainResult<Vec<Service>> {
    let mut q = service::Entity::find().order_by_asc(service::Column::Id);
    if let Some(t) = kind {
        q = q.filter(service::Column::Type.eq(t));
    }
    if let Some(n) = name {
        q = q.filter(service::Column::Name.eq(n));
    }
    Ok(q.all(&db.conn).await?.modeled())
}

/// Filters of an endpoint listing (absent: any).
#[derive(Debug, Default, Clone, Copy)]
pub struct EndpointQuery<'a> {
    /// Of this service.
    pub service_id: Option<&'a str>,
    /// With this interface.
    pub interface: Option<&'a str>,
    /// In this region.
    pub region_id: Option<&'a str>,
}

/// Endpoints matching the filters, by id.
pub async fn endpoints(db: &Db, f: EndpointQuery<'_>) -> DomainResult<Vec<Endpoint>> {
    let mut q = endpoint::Entity::find().order_by_asc(endpoint::Column::Id);
    if let Some(s) = f.service_id {
        q = q.filter(endpoint::Column::ServiceId.eq(s));
    }
    if let Some(i) = f.interface {
        q = q.filter(endpoint::Column::Interface.eq(i));
    }
    if let Some(r) = f.region_id {
        q = q.filter(endpoint::Column::RegionId.eq(r));
    }
    Ok(q.all(&db.conn).await?.modeled())
}

/// Point every endpoint at `from` to `to` (the URL a first start generated, after the bind moved); how many moved.
pub async fn move_endpoints(db: &Db, from: &str, to: &str) -> DomainResult<u64> {
    use sea_orm::sea_query::Expr;
    let txn = db.write().await?;
    let done = endpoint::Entity::update_many()
        .col_expr(endpoint::Column::Url, Expr::value(to))
        .filter(endpoint::Column::Url.eq(from))
        .exec(&txn.txn)
        .await?;
    txn.commit().await?;
    Ok(done.rows_affected)
}

/// The URLs of the identity service's endpoints.
pub async fn identity_urls(db: &Db) -> DomainResult<Vec<String>> {
    let ids: Vec<String> = service::Entity::find()
        .filter(service::Column::Type.eq("identity"))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    Ok(endpoint::Entity::find()
        .filter(endpoint::Column::ServiceId.is_in(ids))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|e| e.url)
        .collect())
}

/// Store a region unless one with its id is there already (the legacy `region` field of an endpoint).
pub async fn ensure_region(db: &Db, r: Region) -> DomainResult<()> {
    super::insert_unless_present(db.write().await?, region::ActiveModel::from(r)).await
}
