//! Response layers: request ids, the access log line, and Keystone-shaped bodies for errors made outside handlers.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::http::error::{envelope, ApiError};
use crate::oauth2::OAuthError;
use crate::state::AppState;

/// How long a client has to send a request body, once its headers are in.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the rest of a refused (too large) body may still cost before the answer, in bytes and in time. A client
/// still sending when the connection closes gets a reset instead of the 413 (Python's requests shows a TLS error);
/// reading and dropping the rest first, as servers do with a lingering close, lets it read the answer.
const DRAIN_MAX_BYTES: u64 = 16 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(5);

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
fn nul_in_uri(uri: &Uri) -> Option<Response> {
    if !uri.path_and_query()?.as_str().contains("%00") {
        return None;
    }
    let message = "The request URL contains a NUL character (%00).";
    Some(if oauth_shaped(uri.path()) {
        OAuthError::InvalidRequest(message.into()).into_response()
    } else {
        envelope(StatusCode::BAD_REQUEST, message)
    })
}

/// Read the whole body (bounded by the body limit and [`BODY_READ_TIMEOUT`]) before anything answers. A handler
/// that refuses a request early (no token, say) would otherwise leave the body unread, and HTTP/1.1 would then
/// close the connection under a keep-alive client's next request. An `Err` is the answer, given here: the body
/// is too large (413, or RFC 6749's `invalid_request` on the OAuth 2.0 endpoints), cut off, or too slow (408).
#[cfg(test)]
async fn buffered(req: Request, limit: usize) -> Result<Request, Response> {
    let (parts, bytes) = buffered_parts(req, limit).await?;
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// [`buffered`], keeping the body as bytes (so that a collided write can be sent to its route again).
async fn buffered_parts(
    req: Request,
    limit: usize,
) -> Result<(axum::http::request::Parts, bytes::Bytes), Response> {
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
    // A client that waits for `100 Continue` has sent nothing yet, and sends nothing once refused.
    let sending = !parts
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let mut body = body;
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        if sending && n <= DRAIN_MAX_BYTES {
            drain(&mut body, 0).await;
        }
        return Err(too_large());
    }
    match tokio::time::timeout(BODY_READ_TIMEOUT, read_bounded(&mut body, limit)).await {
        Ok(Ok(bytes)) => Ok((parts, bytes)),
        Ok(Err(BodyRefused::TooLarge(read))) => {
            drain(&mut body, read).await;
            Err(too_large())
        }
        Ok(Err(BodyRefused::Broken)) => Err(too_large()),
        Err(_) => Err(envelope(
            StatusCode::REQUEST_TIMEOUT,
            "The request body was not received in time.",
        )),
    }
}

/// Why a body was not read whole.
enum BodyRefused {
    /// Over the limit without a Content-Length saying so; this many bytes had come.
    TooLarge(u64),
    /// Broken off by the client.
    Broken,
}

/// The body, if it fits in `limit` bytes.
async fn read_bounded(
    body: &mut axum::body::Body,
    limit: usize,
) -> Result<bytes::Bytes, BodyRefused> {
    use http_body_util::BodyExt;
    // A body in one frame (the token endpoint's form, nearly always) is handed on as it came, without a copy.
    let mut first: Option<bytes::Bytes> = None;
    let mut rest = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyRefused::Broken)?;
        if let Ok(data) = frame.into_data() {
            let read = first.as_ref().map_or(0, bytes::Bytes::len) + rest.len() + data.len();
            if read > limit {
                return Err(BodyRefused::TooLarge(read as u64));
            }
            match first.take() {
                None if rest.is_empty() => first = Some(data),
                None => rest.extend_from_slice(&data),
                Some(head) => {
                    rest.extend_from_slice(&head);
                    rest.extend_from_slice(&data);
                }
            }
        }
    }
    Ok(first.unwrap_or_else(|| rest.freeze()))
}

/// Read and drop what is left of a refused body, within [`DRAIN_MAX_BYTES`] (counting the `already` read) and
/// [`DRAIN_TIME`]; past either the answer goes anyway and the connection closes under the client.
async fn drain(body: &mut axum::body::Body, already: u64) {
    use http_body_util::BodyExt;
    let mut seen = already;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while seen <= DRAIN_MAX_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                Some(Err(_)) | None => break,
            }
        }
    })
    .await;
}

/// What the access log and the response headers need to know of a request, taken before it is handed on.
struct Seen {
    /// When it arrived, for its duration in the log.
    started: Instant,
    /// Keystone's `req-<uuid>`, on the stack.
    id: [u8; 40],
    method: Method,
    source: Option<std::net::IpAddr>,
    /// The route template the layer serves.
    route: &'static str,
}

impl Seen {
    fn of(state: &AppState, req: &Request, route: &'static str) -> Seen {
        #[allow(clippy::disallowed_methods)] // the request's duration for the log, not a decision
        let started = Instant::now();
        let mut id = *b"req-00000000-0000-0000-0000-000000000000";
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id[4..]);
        let source =
            crate::http::SourceAddr::of(req.headers(), req.extensions(), &state.config.server).0;
        Seen {
            started,
            id,
            method: req.method().clone(),
            source,
            route,
        }
    }

    fn request_id(&self) -> &str {
        std::str::from_utf8(&self.id).unwrap_or("req-")
    }
}

/// The layer that gives every response an `x-openstack-request-id`, logs one line per request, reads a request's
/// body whole before any handler runs (see [`buffered`]), and makes sure every error body is Keystone's JSON
/// envelope (404/405 from routing, 413 from the body limit) with the right challenges.
///
/// A hand-written service rather than `middleware::from_fn`: it runs on every request, and `from_fn` costs a
/// clone of the inner service and two boxes per request; this costs neither on a request without a body. Each
/// route has its own, which knows the route's template: no per-request lookup of the matched path.
#[derive(Clone)]
pub struct AroundLayer {
    state: AppState,
    route: &'static str,
}

/// The route label of a request no route matched (404).
pub const UNMATCHED: &str = "(unmatched)";

impl AroundLayer {
    /// The layer of the route `route` (a template such as `/v3/users/{user_id}`, or [`UNMATCHED`]).
    pub fn new(state: AppState, route: &'static str) -> AroundLayer {
        AroundLayer { state, route }
    }
}

impl<S> Layer<S> for AroundLayer {
    type Service = Around<S>;
    fn layer(&self, inner: S) -> Around<S> {
        Around {
            inner,
            state: self.state.clone(),
            route: self.route,
        }
    }
}

/// The service [`AroundLayer`] puts in front of a route.
#[derive(Clone)]
pub struct Around<S> {
    inner: S,
    state: AppState,
    route: &'static str,
}

type BoxedAnswer = Pin<Box<dyn Future<Output = Response> + Send>>;

impl<S> Service<Request> for Around<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AroundFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        use axum::body::HttpBody;
        // Forwarding headers no trusted proxy set are gone before anything (the log, a handler) reads them.
        let peer = crate::http::proxy::peer(req.extensions());
        crate::http::proxy::strip_unbelieved(&self.state.config.server, req.headers_mut(), peer);
        let seen = Seen::of(&self.state, &req, self.route);
        let answer = if req.body().size_hint().exact() == Some(0) && !writes(req.method()) {
            // Most requests (every GET, the token validations) have no body and write nothing: hand them on at
            // once.
            match nul_in_uri(req.uri()) {
                Some(refusal) => Answer::Ready {
                    resp: Some(refusal),
                },
                None => Answer::Called {
                    fut: self.inner.call(req),
                },
            }
        } else {
            // The body is read before the route sees the request, so the route is called later, by a service
            // of the future's own (the ready one; this one keeps a clone, as tower's contract asks).
            let clone = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, clone);
            let limit = self.state.config.server.max_request_body_size;
            Answer::Buffered {
                fut: Box::pin(read_then_call(req, limit, seen.route, inner)),
            }
        };
        AroundFuture {
            answer,
            seen,
            state: self.state.clone(),
        }
    }
}

/// Whether a request may write: only these are run again when their write collides.
fn writes(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// How many more times a write that collided with a concurrent one is run (each time in a new transaction),
/// before the client gets the 503 and `Retry-After`.
const RETRIES: u32 = 3;

/// The longest first pause before running a collided write again; it doubles with each attempt. The pause is a
/// random fraction of it ("full jitter"), so that the writes that collided do not collide again in step.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// The pause before the `attempt`th run again (0 for the first).
fn retry_pause(attempt: u32) -> Duration {
    use rand::Rng;
    let most = RETRY_PAUSE.as_micros() as u64 * (1 << attempt.min(8));
    Duration::from_micros(rand::thread_rng().gen_range(0..=most))
}

/// Read a request's body, then hand it on; a refusal when the body is too large, cut off or too slow.
async fn read_then_call<S>(req: Request, limit: usize, route: &'static str, inner: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    // The extractors' own limit (axum's default is 2 MiB): only a request with a body needs it.
    let inner = tower::Layer::layer(&DefaultBodyLimit::max(limit), inner);
    match buffered_parts(req, limit).await {
        // Refused after its body was read, so the connection stays usable.
        Ok((parts, body)) => match nul_in_uri(&parts.uri) {
            Some(refusal) => refusal,
            None => retrying(parts, body, route, inner).await,
        },
        Err(mut resp) => {
            if http1 {
                // Part of the body may still be on the wire: say that this connection ends here.
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        }
    }
}

/// How long a request may have run and still be run again: a collision that took its time (a lock wait that timed
/// out, SQLite's busy timeout) has already waited; running it again would hold a connection that long again.
const RETRY_WITHIN: Duration = Duration::from_secs(1);

/// Routes never run again: their handler acts before its write can collide, in a way a second run would repeat or
/// refuse. A password authentication counts a failure against the user (in memory, then in the database), and
/// verifies argon2 again; a federated sign-in spends its token's `jti` before provisioning the user. (The OAuth 2.0
/// endpoints write nothing on their path and answer `temporarily_unavailable` themselves.)
fn never_rerun(route: &str) -> bool {
    route == "/v3/auth/tokens" || route.ends_with("/protocols/{protocol_id}/auth")
}

/// Call the route; while it answers that its write collided with a concurrent one and rolled back ([`Collided`],
/// a deadlock, a serialization or a Galera certification failure), call it again with the same request, up to
/// [`RETRIES`] times after a jittered pause, unless a transaction of that run committed (its first write would be
/// made twice, or refused the second time), the route is one of [`never_rerun`], or the request has run for
/// [`RETRY_WITHIN`].
///
/// [`Collided`]: crate::http::Collided
async fn retrying<S>(
    parts: Parts,
    body: bytes::Bytes,
    route: &'static str,
    mut inner: S,
) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tower::ServiceExt;
    let rerunnable =
        writes(&parts.method) && !oauth_shaped(parts.uri.path()) && !never_rerun(route);
    if !rerunnable {
        // Not kept for a rerun: the token endpoints are the hot path.
        return once(&mut inner, Request::from_parts(parts, body.into())).await;
    }
    let started = tokio::time::Instant::now();
    let mut attempt = 0;
    loop {
        let committed = Arc::new(AtomicBool::new(false));
        let req = Request::from_parts(parts.clone(), body.clone().into());
        let resp = crate::store::COMMITTED
            .scope(committed.clone(), once(&mut inner, req))
            .await;
        let again = resp.extensions().get::<crate::http::Collided>().is_some()
            && !committed.load(Ordering::Relaxed)
            && attempt < RETRIES
            && started.elapsed() < RETRY_WITHIN;
        if !again {
            return resp;
        }
        tokio::time::sleep(retry_pause(attempt)).await;
        attempt += 1;
        let _ = inner.ready().await;
    }
}

/// One call of the route.
async fn once<S>(inner: &mut S, req: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match inner.call(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

pin_project! {
    /// The answer to one request, finished (headers, metrics, log line) when it is ready.
    pub struct AroundFuture<F> {
        #[pin]
        answer: Answer<F>,
        seen: Seen,
        state: AppState,
    }
}

pin_project! {
    #[project = AnswerProj]
    enum Answer<F> {
        /// The route's own future (a request without a body).
        Called { #[pin] fut: F },
        /// Reading the body, then the route.
        Buffered { fut: BoxedAnswer },
        /// Refused before the route was called.
        Ready { resp: Option<Response> },
    }
}

impl<F> Future for AroundFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let resp = match this.answer.project() {
            AnswerProj::Called { fut } => match ready!(fut.poll(cx)) {
                Ok(resp) => resp,
                Err(never) => match never {},
            },
            AnswerProj::Buffered { fut } => ready!(fut.as_mut().poll(cx)),
            // Taken already: this future was polled after it completed, which the contract leaves open.
            AnswerProj::Ready { resp } => match resp.take() {
                Some(resp) => resp,
                None => return Poll::Pending,
            },
        };
        Poll::Ready(Ok(finish(this.state, this.seen, resp)))
    }
}

/// Keystone's request id header.
const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-openstack-request-id");

/// Give a response its request id and Keystone's error envelope, count it, and log it.
fn finish(state: &AppState, seen: &Seen, mut resp: Response) -> Response {
    let (route, method) = (seen.route, &seen.method);
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
    let request_id = seen.request_id();
    let headers = resp.headers_mut();
    if status == StatusCode::UNAUTHORIZED {
        let uri = format!("Keystone uri=\"{}\"", state.config.v3_url());
        if let Ok(v) = HeaderValue::from_str(&uri) {
            headers.append(header::WWW_AUTHENTICATE, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, v);
    }
    headers.insert(header::VARY, HeaderValue::from_static("X-Auth-Token"));
    let elapsed = seen.started.elapsed();
    count(method, route, status, elapsed);
    let subject = resp
        .extensions()
        .get::<crate::http::AuthSubject>()
        .map(|s| s.0.as_str());
    if status == StatusCode::TOO_MANY_REQUESTS
        && !state
            .throttled_log()
            .admit(seen.source, route, state.clock.instant())
    {
        return resp; // counted, and summarised once per interval
    }
    let latency_us = elapsed.as_micros() as u64;
    if state.config.default.log_format == crate::config::LogFormat::Json {
        let source = seen.source.map(tracing::field::display);
        tracing::info!(
            target: crate::log_sink::ACCESS_TARGET,
            request_id = %request_id,
            source,
            method = %method,
            route = %route,
            status = status.as_u16(),
            latency_us,
            subject,
        );
    } else {
        let line = AccessText {
            seen,
            status: status.as_u16(),
            latency_us,
            subject,
        };
        if !crate::log_sink::access(|out| line.push_to(out)) {
            tracing::info!(target: crate::log_sink::ACCESS_TARGET, "{line}");
        }
    }
    resp
}

/// An access line's fields as the text formatter writes fields (`key=value`, a space between), written here in
/// one go, straight into the formatter's buffer: the formatter's visit of seven fields was a third of the access
/// line's cost. JSON lines keep their fields as fields.
struct AccessText<'a> {
    seen: &'a Seen,
    status: u16,
    latency_us: u64,
    subject: Option<&'a str>,
}

impl AccessText<'_> {
    /// The line appended to `out`, as `Display` writes it. Pushed piece by piece rather than through
    /// `core::fmt` (its argument machinery, and an address's `Display`, were half of the line's cost).
    fn push_to(&self, out: &mut String) {
        let seen = self.seen;
        let mut n = itoa::Buffer::new();
        out.push_str("request_id=");
        out.push_str(seen.request_id());
        if let Some(source) = seen.source {
            out.push_str(" source=");
            push_ip(out, source);
        }
        out.push_str(" method=");
        out.push_str(seen.method.as_str());
        out.push_str(" route=");
        out.push_str(seen.route);
        out.push_str(" status=");
        out.push_str(n.format(self.status));
        out.push_str(" latency_us=");
        out.push_str(n.format(self.latency_us));
        if let Some(subject) = self.subject {
            // As the formatter writes a string field: quoted and escaped, so a claimed id cannot forge a field.
            use std::fmt::Write;
            let _ = write!(out, " subject={subject:?}");
        }
    }
}

/// An address as `Display` writes it; an IPv4 one without `core::fmt`.
fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut n = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(n.format(octet));
            }
        }
        std::net::IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

impl std::fmt::Display for AccessText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = String::with_capacity(160);
        self.push_to(&mut text);
        f.write_str(&text)
    }
}

/// Add a request's latency to the histogram of its method, route and status class. Each thread keeps the handles
/// it has used, by the labels' addresses (all `'static`, from a bounded set): the family's lookup (a shared lock
/// and hashing three strings) on every request was most of a request's metrics cost.
fn observe_latency(
    method: &'static str,
    route: &'static str,
    status: &'static str,
    elapsed: Duration,
) {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static HANDLES: RefCell<HashMap<[(usize, usize); 3], prometheus_client::metrics::histogram::Histogram>> =
            RefCell::new(HashMap::new());
    }
    // Address and length: a label that begins another at the same address is still another label.
    let key = [method, route, status].map(|l| (l.as_ptr() as usize, l.len()));
    HANDLES.with_borrow_mut(|handles| {
        handles
            .entry(key)
            .or_insert_with(|| {
                crate::metrics::metrics()
                    .requests
                    .get_or_create(&crate::metrics::Route {
                        method,
                        route,
                        status,
                    })
                    .clone()
            })
            .observe(elapsed.as_secs_f64());
    });
}

/// Count a request in the metrics: by route, and as a token issued or validated.
fn count(method: &Method, route: &'static str, status: StatusCode, elapsed: Duration) {
    let m = crate::metrics::metrics();
    observe_latency(
        crate::metrics::method_label(method),
        route,
        crate::metrics::status_class(status.as_u16()),
        elapsed,
    );
    match route {
        "/v3/auth/tokens" if method == Method::POST => {
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
        "/v3/auth/tokens" if method == Method::GET || method == Method::HEAD => {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use hyper::body::Frame;
    use tokio::sync::mpsc;

    /// A request body that arrives as its sender sends it.
    struct Drip(mpsc::Receiver<Bytes>);

    impl hyper::body::Body for Drip {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
        }
    }

    fn post(body: Body) -> Request {
        Request::post("/v3/OS-OAUTH2/token").body(body).unwrap()
    }

    async fn text(req: Request) -> Bytes {
        axum::body::to_bytes(req.into_body(), 1024).await.unwrap()
    }

    /// A body that is all there is read at once and handed on whole.
    #[tokio::test(start_paused = true)]
    async fn a_body_already_in_is_read_without_waiting() {
        let started = tokio::time::Instant::now();
        let req = buffered(post(Body::from("grant_type=client_credentials")), 1024)
            .await
            .unwrap();
        assert_eq!(text(req).await, "grant_type=client_credentials");
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    /// A body that stops coming gets 408 once the body timeout has passed (time is paused: the test does not wait
    /// it out); one that arrives in pieces within it is read whole.
    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_coming_times_out() {
        let (_sender, stalled) = mpsc::channel(1);
        let started = tokio::time::Instant::now();
        let refused = buffered(post(Body::new(Drip(stalled))), 1024)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT);

        let (tx, slow) = mpsc::channel(2);
        tokio::spawn(async move {
            for part in ["grant_type=", "client_credentials"] {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let _ = tx.send(Bytes::from(part)).await;
            }
        });
        let started = tokio::time::Instant::now();
        let req = buffered(post(Body::new(Drip(slow))), 1024).await.unwrap();
        assert_eq!(text(req).await, "grant_type=client_credentials");
        assert_eq!(started.elapsed(), Duration::from_secs(20));
    }

    /// A body that sends all of itself: how many chunks its sender got rid of before the answer.
    fn sending(
        chunks: usize,
        size: usize,
    ) -> (Body, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel(1);
        let counter = sent.clone();
        tokio::spawn(async move {
            for _ in 0..chunks {
                if tx.send(Bytes::from(vec![b'x'; size])).await.is_err() {
                    return;
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        (Body::new(Drip(rx)), sent)
    }

    /// A body over the limit is read to its end (within the drain's bounds) before the 413, so that a client still
    /// sending reads the answer instead of a reset connection; one over the drain's bound is left unread.
    #[tokio::test(start_paused = true)]
    async fn a_refused_body_is_drained_before_the_answer() {
        let (body, sent) = sending(32, 64 * 1024);
        let refused = buffered(post(body), 1024).await.unwrap_err();
        assert_eq!(
            refused.status(),
            StatusCode::BAD_REQUEST,
            "RFC 6749's invalid_request on the token endpoint"
        );
        assert_eq!(
            sent.load(std::sync::atomic::Ordering::SeqCst),
            32,
            "all 2 MiB were taken"
        );

        let chunks = (DRAIN_MAX_BYTES / (64 * 1024)) as usize + 64;
        let (body, sent) = sending(chunks, 64 * 1024);
        buffered(post(body), 1024).await.unwrap_err();
        assert!(
            sent.load(std::sync::atomic::Ordering::SeqCst) < chunks,
            "the drain stops at its bound"
        );
    }

    /// A declared length over the limit: drained when the client is sending; nothing read when it waits for
    /// `100 Continue`, which it then never gets.
    #[tokio::test(start_paused = true)]
    async fn a_declared_length_over_the_limit_is_drained_unless_the_client_waits() {
        for (expect, drained) in [(false, 4), (true, 0)] {
            let (body, sent) = sending(4, 64 * 1024);
            let mut req = Request::post("/v3/users").body(body).unwrap();
            req.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(4 * 64 * 1024));
            if expect {
                req.headers_mut()
                    .insert(header::EXPECT, HeaderValue::from_static("100-continue"));
            }
            let refused = buffered(req, 1024).await.unwrap_err();
            assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
            tokio::task::yield_now().await;
            let taken = sent.load(std::sync::atomic::Ordering::SeqCst);
            assert!(
                taken >= drained && (drained > 0 || taken <= 1),
                "expect={expect}: {taken} chunks taken"
            );
        }
    }

    /// A route that answers "collided" to its first `collisions` calls, counting calls and the bodies it got.
    fn colliding(
        collisions: usize,
    ) -> (
        impl Service<Request, Response = Response, Error = Infallible, Future = impl Send> + Clone,
        std::sync::Arc<std::sync::Mutex<Vec<Bytes>>>,
    ) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let calls = seen.clone();
        let svc = tower::service_fn(move |req: Request| {
            let calls = calls.clone();
            async move {
                let body = text(req).await;
                let n = {
                    let mut calls = calls.lock().unwrap();
                    calls.push(body);
                    calls.len()
                };
                if n > collisions {
                    return Ok::<_, Infallible>(StatusCode::CREATED.into_response());
                }
                let mut resp = StatusCode::SERVICE_UNAVAILABLE.into_response();
                resp.extensions_mut().insert(crate::http::Collided);
                Ok(resp)
            }
        });
        (svc, seen)
    }

    /// A write whose transaction collided is run again with the same body, within the bound, after pauses that
    /// grow but stay below their bound; past the bound the client gets the 503; a GET, or a request to the token
    /// endpoint (which never collides), is never run twice.
    #[tokio::test(start_paused = true)]
    async fn a_collided_write_is_run_again_within_a_bound() {
        let req = || {
            Request::post("/v3/users")
                .body(Body::from("{\"user\": {}}"))
                .unwrap()
        };
        let (svc, seen) = colliding(2);
        let started = tokio::time::Instant::now();
        let resp = read_then_call(req(), 1024, "/v3/users", svc).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|b| b == "{\"user\": {}}"), "{seen:?}");
        assert!(
            started.elapsed() <= RETRY_PAUSE * 3,
            "{:?}",
            started.elapsed()
        );

        let (svc, seen) = colliding(usize::MAX);
        let resp = read_then_call(req(), 1024, "/v3/users", svc).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(seen.lock().unwrap().len(), 1 + RETRIES as usize);

        for once in [
            Request::get("/v3/users").body(Body::empty()).unwrap(),
            post(Body::from("grant_type=client_credentials")),
        ] {
            let (svc, seen) = colliding(1);
            let resp = read_then_call(once, 1024, "/v3/users", svc).await;
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(seen.lock().unwrap().len(), 1, "a GET or the token endpoint");
        }
    }

    /// A run that committed a transaction before it collided is not run again (its first write would be made
    /// twice); nor is a route that acts before it writes (a password authentication counts the failure).
    #[tokio::test(start_paused = true)]
    async fn a_write_that_committed_or_counts_first_is_not_run_again() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let committing = tower::service_fn(move |_req: Request| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = crate::store::COMMITTED
                .try_with(|c| c.store(true, std::sync::atomic::Ordering::Relaxed));
            let mut resp = StatusCode::SERVICE_UNAVAILABLE.into_response();
            resp.extensions_mut().insert(crate::http::Collided);
            async { Ok::<_, Infallible>(resp) }
        });
        let req = Request::post("/v3/projects/p/service_accounts")
            .body(Body::from("{}"))
            .unwrap();
        let resp = read_then_call(
            req,
            1024,
            "/v3/projects/{project_id}/service_accounts",
            committing,
        )
        .await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        let (svc, seen) = colliding(1);
        let req = Request::post("/v3/auth/tokens")
            .body(Body::from("{}"))
            .unwrap();
        let resp = read_then_call(req, 1024, "/v3/auth/tokens", svc).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    /// The pauses are random within a bound that doubles.
    #[test]
    fn retry_pauses_are_jittered_within_a_doubling_bound() {
        for attempt in 0..RETRIES {
            let pauses: Vec<Duration> = (0..200).map(|_| retry_pause(attempt)).collect();
            assert!(pauses.iter().all(|p| *p <= RETRY_PAUSE * (1 << attempt)));
            assert!(pauses.iter().any(|p| *p != pauses[0]), "not all the same");
        }
    }
}
