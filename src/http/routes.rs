//! A router that documents itself: every route is registered together with its OpenAPI operation, so the document
//! served at `/openapi.json` cannot lack a route the server answers (the lint `disallowed_methods` keeps
//! `Router::route` out of the rest of the code).

use std::collections::BTreeMap;

use axum::handler::Handler;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, Ref, RefOr, Required, ResponseBuilder, Schema};
use utoipa::{IntoParams, ToSchema};

use crate::http::layers::{AroundLayer, UNMATCHED};
use crate::state::AppState;

/// Schemas that operations refer to, by component name.
pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// Which error body an operation answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// Keystone's `{"error": {"code", "message", "title"}}`.
    Keystone,
    /// RFC 6749's `{"error", "error_description"}`.
    OAuth,
}

/// Who may call an operation: the security requirement the document states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Token,
    Public,
    Client,
}

/// One documented operation, built next to the route that serves it.
pub struct Op {
    summary: String,
    params: Vec<utoipa::openapi::path::Parameter>,
    body: Option<(&'static str, RefOr<Schema>)>,
    responses: Vec<(u16, &'static str, Option<RefOr<Schema>>)>,
    schemas: Schemas,
    errors: ErrorShape,
    access: Access,
}

/// Start documenting an operation: what it does, in a few words.
pub fn op(summary: impl Into<String>) -> Op {
    Op {
        summary: summary.into(),
        params: Vec::new(),
        body: None,
        responses: Vec::new(),
        schemas: Vec::new(),
        errors: ErrorShape::Keystone,
        access: Access::Token,
    }
}

/// A reference to `T`'s component schema, recording it (and what it refers to) in `schemas`.
pub fn schema_ref<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    let name = T::name().into_owned();
    schemas.push((name.clone(), T::schema()));
    T::schemas(schemas);
    RefOr::Ref(Ref::from_schema_name(name))
}

impl Op {
    /// The query parameters `T` reads.
    pub fn query<T: IntoParams>(mut self) -> Self {
        self.params
            .extend(T::into_params(|| Some(ParameterIn::Query)));
        self
    }

    /// A required JSON request body of type `T`.
    pub fn json<T: ToSchema>(mut self) -> Self {
        self.body = Some(("application/json", schema_ref::<T>(&mut self.schemas)));
        self
    }

    /// A required form-encoded request body of type `T` (the OAuth 2.0 endpoints).
    pub fn form<T: ToSchema>(mut self) -> Self {
        self.body = Some((
            "application/x-www-form-urlencoded",
            schema_ref::<T>(&mut self.schemas),
        ));
        self
    }

    /// A success answer `status` whose JSON body is a `T`.
    pub fn ok<T: ToSchema>(mut self, status: u16, description: &'static str) -> Self {
        let schema = schema_ref::<T>(&mut self.schemas);
        self.responses.push((status, description, Some(schema)));
        self
    }

    /// A success answer `status` without a body.
    pub fn empty(mut self, status: u16, description: &'static str) -> Self {
        self.responses.push((status, description, None));
        self
    }

    /// Errors come in RFC 6749's shape, and the client authenticates (HTTP Basic or in the form).
    pub fn oauth(mut self) -> Self {
        self.errors = ErrorShape::OAuth;
        self.access = Access::Client;
        self
    }

    /// Errors come in RFC 6749's shape, and no credential is needed.
    pub fn oauth_public(mut self) -> Self {
        self.errors = ErrorShape::OAuth;
        self.access = Access::Public;
        self
    }

    /// No token is needed.
    pub fn public(mut self) -> Self {
        self.access = Access::Public;
        self
    }

    fn build(mut self, path: &str) -> (Operation, Schemas) {
        let mut b = OperationBuilder::new().summary(Some(self.summary));
        for name in path_params(path) {
            b = b.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(<String as utoipa::PartialSchema>::schema())),
            );
        }
        for p in self.params {
            b = b.parameter(p);
        }
        if let Some((content_type, schema)) = self.body {
            b = b.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(content_type, Content::new(Some(schema)))
                    .build(),
            ));
        }
        for (status, description, schema) in self.responses {
            let mut r = ResponseBuilder::new().description(description);
            if let Some(s) = schema {
                r = r.content("application/json", Content::new(Some(s)));
            }
            b = b.response(status.to_string(), r.build());
        }
        let error = match self.errors {
            ErrorShape::Keystone => {
                schema_ref::<crate::http::error::KeystoneError>(&mut self.schemas)
            }
            ErrorShape::OAuth => {
                schema_ref::<crate::http::error::OAuthErrorBody>(&mut self.schemas)
            }
        };
        b = b.response(
            "default",
            ResponseBuilder::new()
                .description("An error")
                .content("application/json", Content::new(Some(error)))
                .build(),
        );
        b = match self.access {
            Access::Token => b.security(SecurityRequirement::new("token", Vec::<String>::new())),
            Access::Client => b
                .security(SecurityRequirement::new(
                    "client_basic",
                    Vec::<String>::new(),
                ))
                .security(SecurityRequirement::default()),
            Access::Public => b,
        };
        (b.build(), self.schemas)
    }
}

/// The `{name}` segments of a route path.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// The application's routes and their OpenAPI operations, built together.
#[derive(Default)]
pub struct Routes {
    /// Each path's methods; the router is made from them last, when each path's request layer is given its
    /// template (the access log's and the metrics' route label, with no per-request lookup).
    paths: BTreeMap<&'static str, MethodRouter<AppState>>,
    /// path → method → operation; ordered so the document is the same on every build.
    pub(crate) operations: BTreeMap<String, Vec<(HttpMethod, Operation)>>,
    pub(crate) schemas: Schemas,
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn add<H, T>(
        mut self,
        method: MethodFilter,
        doc: HttpMethod,
        path: &'static str,
        handler: H,
        op: Op,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let (operation, schemas) = op.build(path);
        self.schemas.extend(schemas);
        self.operations
            .entry(path.to_owned())
            .or_default()
            .push((doc, operation));
        self.at(path, |methods| methods.merge(on(method, handler)))
    }

    /// Change `path`'s methods (none yet: an empty set).
    fn at(
        mut self,
        path: &'static str,
        change: impl FnOnce(MethodRouter<AppState>) -> MethodRouter<AppState>,
    ) -> Self {
        let methods = self.paths.remove(path).unwrap_or_default();
        self.paths.insert(path, change(methods));
        self
    }

    /// Serve and document `GET path` (axum answers `HEAD` from it too, without a body).
    pub fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
        op: Op,
    ) -> Self {
        self.add(MethodFilter::GET, HttpMethod::Get, path, h, op)
    }

    /// Serve and document `HEAD path` on its own handler.
    pub fn head<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
        op: Op,
    ) -> Self {
        self.add(MethodFilter::HEAD, HttpMethod::Head, path, h, op)
    }

    /// Serve and document `POST path`.
    pub fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
        op: Op,
    ) -> Self {
        self.add(MethodFilter::POST, HttpMethod::Post, path, h, op)
    }

    /// Serve and document `PUT path`.
    pub fn put<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
        op: Op,
    ) -> Self {
        self.add(MethodFilter::PUT, HttpMethod::Put, path, h, op)
    }

    /// Serve and document `PATCH path`.
    pub fn patch<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
        op: Op,
    ) -> Self {
        self.add(MethodFilter::PATCH, HttpMethod::Patch, path, h, op)
    }

    /// Serve and document `DELETE path`.
    pub fn delete<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
        op: Op,
    ) -> Self {
        self.add(MethodFilter::DELETE, HttpMethod::Delete, path, h, op)
    }

    /// Answer every other method on `path` with `handler` (the OAuth 2.0 endpoints' own 405 body).
    pub fn other_methods<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
    ) -> Self {
        // Not an operation: the 405 answer of every method the path does not serve.
        self.at(path, |methods| methods.fallback(handler))
    }

    /// Both sets of routes.
    pub fn merge(mut self, other: Routes) -> Self {
        for (path, methods) in other.paths {
            self = self.at(path, |mine| mine.merge(methods));
        }
        for (path, ops) in other.operations {
            self.operations.entry(path).or_default().extend(ops);
        }
        self.schemas.extend(other.schemas);
        self
    }

    /// The OpenAPI 3.1 document of these routes.
    pub fn document(self) -> utoipa::openapi::OpenApi {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApiBuilder, PathItem, Paths};
        let mut paths = Paths::new();
        for (path, ops) in self.operations {
            let mut item: Option<PathItem> = None;
            for (method, operation) in ops {
                let one = PathItem::new(method, operation);
                match item.as_mut() {
                    Some(i) => i.merge_operations(one),
                    None => item = Some(one),
                }
            }
            if let Some(item) = item {
                paths.paths.insert(path, item);
            }
        }
        let mut components = ComponentsBuilder::new()
            .security_scheme(
                "token",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "X-Auth-Token",
                    "A Keystone token (Authorization: Bearer is accepted too)",
                ))),
            )
            .security_scheme(
                "client_basic",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Basic)
                        .description(Some(
                            "Application credential id and secret (RFC 6749 §2.3.1)",
                        ))
                        .build(),
                ),
            );
        let mut schemas = self.schemas;
        schemas.sort_by(|a, b| a.0.cmp(&b.0));
        schemas.dedup_by(|a, b| a.0 == b.0);
        for (name, schema) in schemas {
            components = components.schema(name, schema);
        }
        OpenApiBuilder::new()
            .info(
                InfoBuilder::new()
                    .title("Lintel")
                    .version(env!("CARGO_PKG_VERSION"))
                    .description(Some(
                        "Keystone-compatible identity: the /v3 API and the OAuth 2.0 client credentials grant",
                    ))
                    .build(),
            )
            .paths(paths)
            .components(Some(components.build()))
            .build()
    }

    /// The router, each path's methods (and their 405 answer) behind the request layer that knows its template,
    /// and a 404 for every other path behind the same layer, labelled `(unmatched)`.
    pub fn into_router(self, state: &AppState) -> Router<AppState> {
        let mut router = Router::new();
        for (path, methods) in self.paths {
            #[allow(clippy::disallowed_methods)]
            // The one place routes are added: each was added to `paths` next to its documentation.
            let routed = router.route(path, methods.layer(AroundLayer::new(state.clone(), path)));
            router = routed;
        }
        let unmatched = axum::routing::any(|| async { axum::http::StatusCode::NOT_FOUND })
            .layer(AroundLayer::new(state.clone(), UNMATCHED));
        router.fallback_service(unmatched.with_state(state.clone()))
    }
}
