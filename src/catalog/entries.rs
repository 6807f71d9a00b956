//! Regions, services and endpoints: Keystone's rules for them (region trees without cycles, endpoint interfaces,
//! the legacy `region` field that creates its region); every change drops the cached catalog.

use crate::model::{Endpoint, Region, Service};

use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::policy::{enforce, Action, Target};
use crate::rules::{check_description, check_len, new_id, NAME_MAX, SHORT_DESCRIPTION_MAX};
use crate::store;
pub use crate::store::catalog::EndpointQuery;
use crate::token::Validated;

/// Longest endpoint URL (Keystone's schema).
pub const URL_MAX: usize = 225;
/// Longest region id, service type and the like (Keystone's columns).
pub const ID_MAX: usize = 255;
/// How far up a region tree a cycle check walks.
const MAX_REGION_DEPTH: usize = 1000;

fn allowed(c: &Validated, rule: Action) -> DomainResult<()> {
    enforce(rule, c, Target::default())
}

async fn region_row(cx: &Context, id: &str) -> DomainResult<Region> {
    store::find::<Region>(&cx.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found("Region", id))
}

async fn service_row(cx: &Context, id: &str) -> DomainResult<Service> {
    store::find::<Service>(&cx.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found("Service", id))
}

async fn endpoint_row(cx: &Context, id: &str) -> DomainResult<Endpoint> {
    store::find::<Endpoint>(&cx.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found("Endpoint", id))
}

/// Regions, optionally the children of one.
pub async fn regions(
    cx: &Context,
    c: &Validated,
    parent: Option<&str>,
) -> DomainResult<Vec<Region>> {
    allowed(c, Action::ListRegions)?;
    if let Some(p) = parent {
        check_len("parent_region_id", p, ID_MAX)?;
    }
    store::catalog::regions(&cx.db, parent).await
}

/// One region.
pub async fn region(cx: &Context, c: &Validated, id: &str) -> DomainResult<Region> {
    allowed(c, Action::GetRegion)?;
    region_row(cx, id).await
}

/// A region's fields as a request gives them.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct RegionFields {
    /// Id (create only; a new one is made when absent or empty).
    pub id: Option<String>,
    /// Description (`Some(None)`: cleared).
    pub description: Option<Option<String>>,
    /// Parent region (`Some(None)`: none).
    pub parent_region_id: Option<Option<String>>,
}

/// Create a region; `path_id` is the id of `PUT /v3/regions/{id}` (an id in the body must match it).
pub async fn create_region(
    cx: &Context,
    c: &Validated,
    path_id: Option<String>,
    f: RegionFields,
) -> DomainResult<Region> {
    let id = match path_id {
        Some(id) if f.id.as_ref().is_some_and(|given| *given != id) => {
            return Err(DomainError::Invalid(
                "The region id in the body does not match the one in the URL.".into(),
            ))
        }
        Some(id) => id,
        None => f.id.filter(|i| !i.is_empty()).unwrap_or_else(new_id),
    };
    allowed(c, Action::CreateRegion)?;
    check_len("id", &id, ID_MAX)?;
    let description = f.description.flatten();
    check_description(description.as_deref(), Some(SHORT_DESCRIPTION_MAX))?;
    let parent_region_id = f.parent_region_id.flatten();
    if let Some(p) = &parent_region_id {
        check_len("parent_region_id", p, ID_MAX)?;
        region_row(cx, p).await?;
    }
    let row = Region {
        id: id.clone(),
        description,
        parent_region_id,
    };
    store::insert_new(&cx.db, row, || DomainError::duplicate("region", "id", &id)).await
}

/// Change a region's description or parent (never itself, never one of its descendants).
pub async fn update_region(
    cx: &Context,
    c: &Validated,
    id: &str,
    f: RegionFields,
) -> DomainResult<Region> {
    allowed(c, Action::UpdateRegion)?;
    let mut r = region_row(cx, id).await?;
    if let Some(d) = f.description {
        check_description(d.as_deref(), Some(SHORT_DESCRIPTION_MAX))?;
        r.description = d;
    }
    if let Some(parent) = f.parent_region_id {
        if let Some(p) = &parent {
            check_len("parent_region_id", p, ID_MAX)?;
            // Walk up from the new parent: meeting this region would make a cycle. Bounded by the depth.
            let mut cursor = Some(p.clone());
            let mut steps = 0;
            while let Some(cur) = cursor {
                if cur == id {
                    return Err(DomainError::Invalid(format!(
                        "Circular reference or a repeated entry found in region tree - {id}."
                    )));
                }
                steps += 1;
                if steps > MAX_REGION_DEPTH {
                    break;
                }
                cursor = region_row(cx, &cur).await?.parent_region_id;
            }
        }
        r.parent_region_id = parent;
    }
    let updated = store::update_row::<Region>(&cx.db, r).await?;
    cx.view.forget_catalog();
    Ok(updated)
}

/// Delete a region.
pub async fn delete_region(cx: &Context, c: &Validated, id: &str) -> DomainResult<()> {
    allowed(c, Action::DeleteRegion)?;
    let r = region_row(cx, id).await?;
    store::delete_row::<Region>(&cx.db, r).await?;
    cx.view.forget_catalog();
    Ok(())
}

/// Services, optionally of one type and name.
pub async fn services(
    cx: &Context,
    c: &Validated,
    kind: Option<&str>,
    name: Option<&str>,
) -> DomainResult<Vec<Service>> {
    allowed(c, Action::ListServices)?;
    store::catalog::services(&cx.db, kind, name).await
}

/// One service.
pub async fn service(cx: &Context, c: &Validated, id: &str) -> DomainResult<Service> {
    allowed(c, Action::GetService)?;
    service_row(cx, id).await
}

/// A service's fields as a request gives them.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct ServiceFields {
    /// Type (`identity`, `compute`, ...).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Enabled flag.
    pub enabled: Option<bool>,
}

/// Keystone's service schema: type and name at most 255 characters.
fn check_service(f: &ServiceFields) -> DomainResult<()> {
    if let Some(t) = &f.kind {
        if t.is_empty() {
            return Err(DomainError::validation(
                "type. Value: . '' should be non-empty",
            ));
        }
        check_len("type", t, ID_MAX)?;
    }
    if let Some(n) = &f.name {
        check_len("name", n, NAME_MAX)?;
    }
    check_description(f.description.as_deref(), None)
}

/// Create a service.
pub async fn create_service(
    cx: &Context,
    c: &Validated,
    f: ServiceFields,
) -> DomainResult<Service> {
    allowed(c, Action::CreateService)?;
    check_service(&f)?;
    let kind = f
        .kind
        .ok_or_else(|| DomainError::validation("service. 'type' is a required property"))?;
    let row = Service {
        id: new_id(),
        r#type: kind,
        name: f.name,
        description: f.description,
        enabled: f.enabled.unwrap_or(true),
    };
    let created = store::insert_new(&cx.db, row, || {
        DomainError::internal("a new service id collided")
    })
    .await?;
    cx.view.forget_catalog();
    Ok(created)
}

/// Change a service.
pub async fn update_service(
    cx: &Context,
    c: &Validated,
    id: &str,
    f: ServiceFields,
) -> DomainResult<Service> {
    allowed(c, Action::UpdateService)?;
    let mut s = service_row(cx, id).await?;
    check_service(&f)?;
    if let Some(t) = f.kind {
        s.r#type = t;
    }
    if let Some(n) = f.name {
        s.name = Some(n);
    }
    if let Some(d) = f.description {
        s.description = Some(d);
    }
    if let Some(e) = f.enabled {
        s.enabled = e;
    }
    let updated = store::update_row::<Service>(&cx.db, s).await?;
    cx.view.forget_catalog();
    Ok(updated)
}

/// Delete a service (its endpoints follow by foreign-key cascade).
pub async fn delete_service(cx: &Context, c: &Validated, id: &str) -> DomainResult<()> {
    allowed(c, Action::DeleteService)?;
    let s = service_row(cx, id).await?;
    store::delete_row::<Service>(&cx.db, s).await?;
    cx.view.forget_catalog();
    Ok(())
}

/// Endpoints matching the filters.
pub async fn endpoints(
    cx: &Context,
    c: &Validated,
    f: EndpointQuery<'_>,
) -> DomainResult<Vec<Endpoint>> {
    allowed(c, Action::ListEndpoints)?;
    store::catalog::endpoints(&cx.db, f).await
}

/// One endpoint.
pub async fn endpoint(cx: &Context, c: &Validated, id: &str) -> DomainResult<Endpoint> {
    allowed(c, Action::GetEndpoint)?;
    endpoint_row(cx, id).await
}

/// An endpoint's fields as a request gives them.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct EndpointFields {
    /// The service.
    pub service_id: Option<String>,
    /// `public`, `internal` or `admin`.
    pub interface: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Region (must exist).
    pub region_id: Option<String>,
    /// Legacy region name (created when missing, as Keystone does for v2-era clients).
    pub region: Option<String>,
    /// Enabled flag.
    pub enabled: Option<bool>,
}

fn check_interface(i: &str) -> DomainResult<()> {
    if matches!(i, "public" | "internal" | "admin") {
        Ok(())
    } else {
        Err(DomainError::validation(format!(
            "endpoint.interface. '{i}' is not one of ['public', 'internal', 'admin']"
        )))
    }
}

/// The region an endpoint names: `region_id` must exist; the legacy `region` names a region that is created when
/// missing (in a write of its own: a region created meanwhile by another request is as good).
async fn endpoint_region(
    cx: &Context,
    region_id: Option<String>,
    legacy: Option<String>,
) -> DomainResult<Option<String>> {
    let (id, create) = match (region_id, legacy) {
        (Some(r), _) => (r, false),
        (None, Some(r)) => (r, true),
        (None, None) => return Ok(None),
    };
    check_len("region_id", &id, ID_MAX)?;
    if store::find::<Region>(&cx.db, &id).await?.is_some() {
        return Ok(Some(id));
    }
    if !create {
        return Err(DomainError::not_found("Region", &id));
    }
    let region = Region {
        id: id.clone(),
        description: None,
        parent_region_id: None,
    };
    store::catalog::ensure_region(&cx.db, region).await?;
    Ok(Some(id))
}

/// Create an endpoint.
pub async fn create_endpoint(
    cx: &Context,
    c: &Validated,
    f: EndpointFields,
) -> DomainResult<Endpoint> {
    allowed(c, Action::CreateEndpoint)?;
    let service_id = f
        .service_id
        .ok_or_else(|| DomainError::validation("endpoint. 'service_id' is a required property"))?;
    let interface = f
        .interface
        .ok_or_else(|| DomainError::validation("endpoint. 'interface' is a required property"))?;
    let url = f
        .url
        .ok_or_else(|| DomainError::validation("endpoint. 'url' is a required property"))?;
    check_interface(&interface)?;
    check_len("url", &url, URL_MAX)?;
    service_row(cx, &service_id).await?;
    let region_id = endpoint_region(cx, f.region_id, f.region).await?;
    let row = Endpoint {
        id: new_id(),
        service_id,
        interface,
        url,
        region_id,
        enabled: f.enabled.unwrap_or(true),
    };
    let created = store::insert_new(&cx.db, row, || {
        DomainError::internal("a new endpoint id collided")
    })
    .await?;
    cx.view.forget_catalog();
    Ok(created)
}

/// Change an endpoint.
pub async fn update_endpoint(
    cx: &Context,
    c: &Validated,
    id: &str,
    f: EndpointFields,
) -> DomainResult<Endpoint> {
    allowed(c, Action::UpdateEndpoint)?;
    let mut e = endpoint_row(cx, id).await?;
    if let Some(i) = f.interface {
        check_interface(&i)?;
        e.interface = i;
    }
    if let Some(u) = f.url {
        check_len("url", &u, URL_MAX)?;
        e.url = u;
    }
    if let Some(s) = f.service_id {
        service_row(cx, &s).await?;
        e.service_id = s;
    }
    if f.region_id.is_some() || f.region.is_some() {
        e.region_id = endpoint_region(cx, f.region_id, f.region).await?;
    }
    if let Some(en) = f.enabled {
        e.enabled = en;
    }
    let updated = store::update_row::<Endpoint>(&cx.db, e).await?;
    cx.view.forget_catalog();
    Ok(updated)
}

/// Delete an endpoint.
pub async fn delete_endpoint(cx: &Context, c: &Validated, id: &str) -> DomainResult<()> {
    allowed(c, Action::DeleteEndpoint)?;
    let e = endpoint_row(cx, id).await?;
    store::delete_row::<Endpoint>(&cx.db, e).await?;
    cx.view.forget_catalog();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::context;

    fn fields(v: serde_json::Value) -> RegionFields {
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test]
    async fn a_region_tree_never_gets_a_cycle() {
        let t = context().await;
        let admin = t.admin().await;
        create_region(&t, &admin, None, fields(serde_json::json!({"id": "a"})))
            .await
            .unwrap();
        create_region(
            &t,
            &admin,
            None,
            fields(serde_json::json!({"id": "b", "parent_region_id": "a"})),
        )
        .await
        .unwrap();
        let err = update_region(
            &t,
            &admin,
            "a",
            fields(serde_json::json!({"parent_region_id": "b"})),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, DomainError::Invalid(m) if m.contains("Circular reference")),
            "{err:?}"
        );
        let err = create_region(
            &t,
            &admin,
            Some("c".into()),
            fields(serde_json::json!({"id": "d"})),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DomainError::Invalid(_)), "{err:?}");
        let err = create_region(&t, &admin, None, fields(serde_json::json!({"id": "a"})))
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Conflict(_)), "{err:?}");
    }
}
