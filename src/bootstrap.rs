//! `lintel bootstrap`: the first domain, project, roles, admin user, grants and catalog, as Keystone 30's
//! `keystone-manage bootstrap` makes them. Safe to run again: it only adds what is missing (and resets the
//! admin password to the one given, as Keystone does).

use crate::error::DomainResult;
use crate::store::Db;

pub use crate::model::bootstrap::{Bootstrap, Bootstrapped, IMPLIES, ROLES};

/// Run the bootstrap in one transaction.
pub async fn run(
    db: &Db,
    audit: &crate::audit::Audit,
    b: &Bootstrap,
) -> DomainResult<Bootstrapped> {
    let done = crate::store::bootstrap::run(db, b).await?;
    // In the audit trail like any other change to the admin: who ran it is the machine's operator.
    let who = crate::audit::Initiator {
        method: Some("bootstrap".into()),
        ..Default::default()
    };
    let now = crate::clock::Clock::system().now();
    audit.changed(
        now,
        &who,
        crate::audit::Operation::Updated,
        "user",
        &done.user_id,
        &[("project", &done.project_id), ("by", "lintel bootstrap")],
    );
    // Running servers drop what they hold of the catalog, roles and the admin at their next beat: a bootstrap
    // (a new public URL, say) is served without a restart.
    let now = crate::clock::Clock::system().now();
    crate::store::changes::record(db, &[("all", None)], now).await?;
    Ok(done)
}

/// The file in `data_dir` naming the identity URL a first start put in the catalog and `admin-openrc.sh`.
pub const GENERATED_ENDPOINT: &str = "generated-endpoint";

/// What a start did about the endpoints a first start generated.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Followed {
    /// The URL they named before, when they moved.
    pub moved_from: Option<String>,
    /// Identity endpoints an operator set to something else, left alone.
    pub operator_set: Vec<String>,
}

/// The endpoints a first start generated follow where clients reach this server now (`[DEFAULT]
/// public_endpoint`, or the bind): moved in the catalog and in `admin-openrc.sh`, and the new URL remembered.
/// Endpoints with any other URL were set by an operator and are left alone (and named, for a warning).
pub async fn follow_endpoint(
    db: &Db,
    data_dir: &std::path::Path,
    url: &str,
) -> anyhow::Result<Followed> {
    let marker = data_dir.join(GENERATED_ENDPOINT);
    let Ok(generated) = std::fs::read_to_string(&marker) else {
        return Ok(Followed::default());
    };
    let generated = generated.trim().to_string();
    let mut followed = Followed::default();
    if generated != url {
        crate::store::catalog::move_endpoints(db, &generated, url).await?;
        let now = crate::clock::Clock::system().now();
        crate::store::changes::record(db, &[("catalog", None)], now).await?;
        let openrc = data_dir.join("admin-openrc.sh");
        if let Ok(text) = std::fs::read_to_string(&openrc) {
            let moved: String = text
                .lines()
                .map(|l| match l.strip_prefix("export OS_AUTH_URL=") {
                    Some(old) if old == generated => format!("export OS_AUTH_URL={url}\n"),
                    _ => format!("{l}\n"),
                })
                .collect();
            crate::config::write_private(&openrc, moved.as_bytes())?;
        }
        crate::config::write_private(&marker, url.as_bytes())?;
        followed.moved_from = Some(generated);
    }
    followed.operator_set = crate::store::catalog::identity_urls(db)
        .await?
        .into_iter()
        .filter(|u| u != url)
        .collect();
    Ok(followed)
}

/// Whether the database has no users yet (a fresh install).
pub async fn is_empty(db: &Db) -> DomainResult<bool> {
    crate::store::bootstrap::no_users(db).await
}
