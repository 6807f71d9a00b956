//! A domain context for unit tests: the real store on a SQLite file in a temporary directory, migrated and
//! bootstrapped as `lintel bootstrap` leaves it, with token keys in its data directory and the audit trail off. A rule
//! costs a unit test against this, not an HTTPS server (the integration and client suites keep wire fidelity).

use std::sync::Arc;

use serde_json::json;

use crate::assignment::grants::{self, GrantOp, On};
use crate::audit::Initiator;
use crate::auth::AuthRequest;
use crate::bootstrap::{Bootstrap, Bootstrapped};
use crate::config::Config;
use crate::context::Context;
use crate::error::DomainResult;
use crate::token::Validated;

/// The bootstrap admin's password in every test context.
pub const ADMIN_PASSWORD: &str = "unit-test admin password";

/// A bootstrapped context and what bootstrap made; the directory goes with it.
pub struct TestContext {
    /// The context operations take.
    pub cx: Context,
    /// The admin user and project.
    pub admin: Bootstrapped,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TestContext {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.cx
    }
}

impl TestContext {
    /// Who the admin is, for operations that record their initiator.
    pub fn admin_initiator(&self) -> Initiator {
        Initiator {
            user_id: Some(self.admin.user_id.clone()),
            ..Default::default()
        }
    }

    /// Authenticate with `identity` (Keystone's `auth.identity` object) and `scope`, and validate the token
    /// issued, as a request carrying it would be.
    pub async fn login(
        &self,
        identity: serde_json::Value,
        scope: Option<serde_json::Value>,
    ) -> DomainResult<Arc<Validated>> {
        let req: AuthRequest =
            serde_json::from_value(json!({"identity": identity, "scope": scope}))
                .expect("auth request");
        let data = crate::auth::authenticate(&self.cx, req, None).await?;
        let token = self.cx.tokens.issue(&data);
        crate::token::validate(&self.cx, &token, false)
            .await
            .map_err(crate::token::TokenError::into_domain)
    }

    /// A user's token scoped to the admin project.
    pub async fn login_user(&self, user_id: &str, password: &str) -> Arc<Validated> {
        self.login(
            json!({"methods": ["password"], "password": {"user": {"id": user_id, "password": password}}}),
            Some(json!({"project": {"id": self.admin.project_id}})),
        )
        .await
        .expect("password login")
    }

    /// The admin's project-scoped token.
    pub async fn admin(&self) -> Arc<Validated> {
        self.login_user(&self.admin.user_id, ADMIN_PASSWORD).await
    }

    /// A new user in the default domain with `password` and `role` on the admin project; its id.
    pub async fn user_with_role(&self, name: &str, password: &str, role: &str) -> String {
        let admin = self.admin().await;
        let fields = serde_json::from_value(json!({"name": name, "password": password}))
            .expect("user fields");
        let user =
            crate::identity::users::create(&self.cx, &admin, &self.admin_initiator(), fields)
                .await
                .expect("create user");
        self.set_role(&user.id, role, GrantOp::Create)
            .await
            .expect("grant");
        user.id
    }

    /// A new user with the `member` role on the admin project (password: its name twice), and its token.
    pub async fn member(&self, name: &str) -> (String, Arc<Validated>) {
        let password = format!("{name}{name}");
        let id = self.user_with_role(name, &password, "member").await;
        let token = self.login_user(&id, &password).await;
        (id, token)
    }

    /// Give the admin its `admin` role on a domain (for domain-scoped tokens).
    pub async fn set_domain_role(&self, domain_id: &str) {
        let admin = self.admin().await;
        let role_id = crate::store::assignments::role_by_name(&self.cx.db, "admin", None)
            .await
            .expect("lookup")
            .expect("role")
            .id;
        let a = grants::address(
            &self.cx,
            On::Domain,
            Some(domain_id.into()),
            false,
            self.admin.user_id.clone(),
        )
        .await
        .expect("address");
        grants::grant(
            &self.cx,
            &admin,
            &self.admin_initiator(),
            &a,
            &role_id,
            GrantOp::Create,
        )
        .await
        .expect("grant");
    }

    /// Grant or revoke `role` (by name) for a user on the admin project, as the admin.
    pub async fn set_role(&self, user_id: &str, role: &str, op: GrantOp) -> DomainResult<()> {
        let admin = self.admin().await;
        let role_id = crate::store::assignments::role_by_name(&self.cx.db, role, None)
            .await?
            .expect("role")
            .id;
        let a = grants::address(
            &self.cx,
            On::Project,
            Some(self.admin.project_id.clone()),
            false,
            user_id.into(),
        )
        .await?;
        grants::grant(&self.cx, &admin, &self.admin_initiator(), &a, &role_id, op).await
    }
}

/// A fresh context with `extra` appended to its configuration file (INI sections).
pub async fn context_with(extra: &str) -> TestContext {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("lintel.db").display()
    );
    let conf = format!(
        "[DEFAULT]\ndata_dir = {}\n[database]\nconnection = {url}\n{extra}\n",
        dir.path().display()
    );
    let path = dir.path().join("lintel.conf");
    std::fs::write(&path, conf).expect("config file");
    let config = Config::from_file(&path).expect("config");
    let db = crate::store::Db::connect(&config.database, &config.default.data_dir)
        .await
        .expect("connect");
    db.migrate(&url).await.expect("migrate");
    let admin = crate::bootstrap::run(
        &db,
        &crate::audit::Audit::off(),
        &Bootstrap::defaults(
            crate::crypto::hashing::hash_blocking(ADMIN_PASSWORD).expect("hash"),
            &config.v3_url(),
            &["public"],
        ),
    )
    .await
    .expect("bootstrap");
    db.close().await;
    let cx = crate::server::build_context(config).await.expect("context");
    TestContext {
        cx,
        admin,
        _dir: dir,
    }
}

/// A fresh context with the default configuration.
pub async fn context() -> TestContext {
    context_with("").await
}
