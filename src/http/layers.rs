//! Response layers: request ids, the access log line, and Keystone-shaped bodies for errors made outside handlers.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::{envelope, ApiError};
use crate::oauth2::OAuthError;
use crate::state::AppState;

/// How long a client has to send a request body, once its headers are in.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether a path is one of the OAuth 2.0 endpoints that answer errors in RFC 6749's shape (the token,
/// introspection and revocation endpoints and the RFC 8414 metadata; the JWKS is a plain `/v3` resource), also
/// under a path prefix.
fn oauth_shaped(path: &str) -> bool {
    [
        "/OS-OAUTH2/token",
        "/OS-OAUTH2/introspect",
        "/OS-OAUTH2/revoke",
        "/oauth-authorization-server",
    ]
    .iter()
    .any(|end| path.ends_with(end))
}

/// A NUL character in the path or the query (`%00` is its only spelling in a URI) reaches no handler: no database
/// stores one, and PostgreSQL fails a query that carries one.
fn nul_in_uri(req: &Request) -> Option<Response> {
    let uri = req.uri().path_and_query()?.as_str();
    if !uri.contains("%00") {
        return None;
    }
    let message = "The request URL contains a NUL character (%00).";
    Some(if oauth_shaped(req.uri().path()) {
        OAuthError::InvalidRequest(message.into()).into_response()
    } else {
        envelope(StatusCode::BAD_REQUEST, message)
    })
}

/// Read the whole body (bounded by the body limit and [`BODY_READ_TIMEOUT`]) before anything answers. A handler
/// that refuses a request early (no token, say) would otherwise leave the body unread, and HTTP/1.1 would then
/// close the connection under a keep-alive client's next request. An `Err` is the answer, given here: the body
/// is too large (413, or RFC 6749's `invalid_request` on the OAuth 2.0 endpoints), cut off, or too slow (408).
async fn buffered(req: Request, limit: usize) -> Result<Request, Response> {
    use axum::body::HttpBody;
    // Most requests (every GET, the token validations) have no body: nothing to wait for.
    if req.body().size_hint().exact() == Some(0) {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let too_large = || {
        if oauth_shaped(parts.uri.path()) {
            OAuthError::body_too_large().into_response()
        } else {
            ApiError::PayloadTooLarge(limit).into_response()
        }
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, axum::body::Body::from(bytes))),
        // Over the limit without a Content-Length, or broken off by the client.
        Ok(Err(_)) => Err(too_large()),
        Err(_) => Err(envelope(
            StatusCode::REQUEST_TIMEOUT,
            "The request body was not received in time.",
        )),
    }
}

/// Give every response an `x-openstack-request-id`, log one line per request, and make sure every error body
/// is Keystone's JSON envelope (404/405 from routing, 413 from the body limit) with the right challenges.
pub async fn around(State(state): State<AppState>, req: Request, next: Next) -> Response {
    #[allow(clippy::disallowed_methods)] // the request's duration for the log, not a decision
    let started = Instant::now();
    // Keystone's `req-<uuid>`, written into a buffer on the stack.
    let mut id = *b"req-00000000-0000-0000-0000-000000000000";
    uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id[4..]);
    let request_id = std::str::from_utf8(&id).unwrap_or("req-");
    let method = req.method().clone();
    let source = crate::http::SourceAddr::of(
        req.headers(),
        req.extensions(),
        state.config.server.trust_proxy_headers,
    )
    .0;
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    let mut resp = match buffered(req, state.config.server.max_request_body_size).await {
        // Refused after its body was read, so the connection stays usable.
        Ok(req) => match nul_in_uri(&req) {
            Some(refusal) => refusal,
            None => next.run(req).await,
        },
        Err(mut resp) => {
            if http1 {
                // Part of the body may still be on the wire: say that this connection ends here.
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        }
    };
    let route = resp
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", |p| crate::metrics::route_label(p.as_str()));
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if status.is_client_error() && !is_json {
        let allow = resp.headers().get(header::ALLOW).cloned();
        resp = match status {
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge(state.config.server.max_request_body_size).into_response()
            }
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed.into_response(),
            StatusCode::NOT_FOUND => envelope(status, "The resource could not be found."),
            other => envelope(other, other.canonical_reason().unwrap_or("Error")),
        };
        if let Some(allow) = allow {
            resp.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let headers = resp.headers_mut();
    if status == StatusCode::UNAUTHORIZED {
        let uri = format!("Keystone uri=\"{}\"", state.config.v3_url());
        if let Ok(v) = HeaderValue::from_str(&uri) {
            headers.append(header::WWW_AUTHENTICATE, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-openstack-request-id", v);
    }
    headers.insert(header::VARY, HeaderValue::from_static("X-Auth-Token"));
    let elapsed = started.elapsed();
    let m = crate::metrics::metrics();
    m.requests
        .get_or_create(&crate::metrics::Route {
            method: crate::metrics::method_label(&method),
            route,
            status: crate::metrics::status_class(status.as_u16()),
        })
        .observe(elapsed.as_secs_f64());
    match route {
        "/v3/auth/tokens" if method == axum::http::Method::POST => {
            let outcome = if status.is_success() {
                "success"
            } else {
                crate::metrics::status_class(status.as_u16())
            };
            m.tokens_issued
                .get_or_create(&crate::metrics::Issue {
                    endpoint: "auth_tokens",
                    outcome,
                })
                .inc();
        }
        "/v3/auth/tokens"
            if method == axum::http::Method::GET || method == axum::http::Method::HEAD =>
        {
            let outcome = if status.is_success() {
                "valid"
            } else {
                "invalid"
            };
            m.validations
                .get_or_create(&crate::metrics::Validation { outcome })
                .inc();
        }
        _ => {}
    }
    let subject = resp
        .extensions()
        .get::<crate::http::AuthSubject>()
        .map(|s| s.0.as_str());
    if status == StatusCode::TOO_MANY_REQUESTS
        && !state
            .throttled_log
            .admit(source, route, state.clock.instant())
    {
        return resp; // counted, and summarised once per interval
    }
    let source = source.map(tracing::field::display);
    tracing::info!(
        target: crate::log_sink::ACCESS_TARGET,
        request_id = %request_id,
        source,
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_us = elapsed.as_micros() as u64,
        subject,
    );
    resp
}

/// Carry the matched route template to the outer layer (routing happens inside it), for the access log.
pub async fn remember_route(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut resp = next.run(req).await;
    if let Some(m) = matched {
        resp.extensions_mut().insert(m);
    }
    resp
}
