//! Connection limits, enforced before the TLS handshake: a cap on all connections, a cap per source address (so
//! that one client cannot take them all), and an idle timeout on every connection whatever it speaks (a TLS
//! connection that never sends a request, an idle HTTP/2 connection, a client that stops reading its answer).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// How many connections each source holds; an entry lives while its source has a connection, so the map is
/// bounded by the connection cap.
type Sources = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// The limits, as configured.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections at once.
    pub max: usize,
    /// Most connections from one source at once (None: no per-source cap).
    pub per_source: Option<usize>,
    /// How long a connection may go without reading or writing anything.
    pub idle: Duration,
}

impl Limits {
    /// The limits `[server]` configures.
    pub fn of(config: &crate::config::Config) -> Limits {
        Limits {
            max: config.server.max_connections,
            per_source: config.server.max_connections_per_source,
            idle: config.server.idle_timeout,
        }
    }
}

/// Wraps another acceptor; each accepted connection holds its permits until it closes.
#[derive(Clone)]
pub struct Capped<A> {
    inner: A,
    permits: Arc<Semaphore>,
    sources: Sources,
    limits: Limits,
}

impl<A> Capped<A> {
    /// Apply `limits` to connections accepted through `inner`.
    pub fn new(inner: A, limits: Limits) -> Self {
        Capped {
            inner,
            permits: Arc::new(Semaphore::new(limits.max)),
            sources: Arc::default(),
            limits,
        }
    }
}

/// The source a connection (or a failed authentication) counts against: its address, or its /64 for IPv6 (one host
/// usually has a whole /64, so counting addresses would let it take a fresh one for every attempt).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & (!0u128 << 64)).into()),
        },
    }
}

/// A source's share of the connections, given back when the connection closes.
struct SourceSlot {
    sources: Sources,
    key: IpAddr,
}

impl SourceSlot {
    /// Take a slot for `key`, unless it already holds `max`.
    fn take(sources: &Sources, key: IpAddr, max: usize) -> Option<SourceSlot> {
        let mut map = sources.lock().unwrap_or_else(PoisonError::into_inner);
        let held = map.entry(key).or_insert(0);
        if *held >= max {
            return None;
        }
        *held += 1;
        Some(SourceSlot {
            sources: sources.clone(),
            key,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut map = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = map.get_mut(&self.key) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// A connection's stream: gives its permits back when dropped, and fails its next read or write once it has been
/// idle for the idle timeout (hyper then closes the connection).
pub struct Permitted<S> {
    inner: S,
    idle: Duration,
    last_active: Instant,
    deadline: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
    _slot: Option<SourceSlot>,
}

impl<S> Permitted<S> {
    fn active(&mut self) {
        self.last_active = Instant::now();
    }

    /// Whether the connection has been idle too long; otherwise the timer is armed to wake this task when it may
    /// have been. Activity only records the time; the timer is moved on only when it fires early (there was
    /// activity since it was set), so a busy connection does no timer work per request.
    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last_active + self.idle;
            if Instant::now() >= due {
                return true;
            }
            self.deadline.as_mut().reset(due);
        }
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle too long")
}

impl<S, A> Accept<TcpStream, S> for Capped<A>
where
    A: Accept<TcpStream, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Permitted<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let refuse = |why: &'static str| -> Self::Future {
            Box::pin(std::future::ready(Err(io::Error::other(why))))
        };
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            // Dropping the stream closes the connection at once; the client may retry elsewhere.
            drop(stream);
            tracing::warn!("connection refused: [server] max_connections reached");
            return refuse("connection limit reached");
        };
        let slot = match (self.limits.per_source, stream.peer_addr()) {
            (Some(max), Ok(peer)) => {
                match SourceSlot::take(&self.sources, source_key(peer.ip()), max) {
                    Some(slot) => Some(slot),
                    None => {
                        drop(stream);
                        // Debug, not warn: a source at its cap may try thousands of times a second.
                        tracing::debug!(source = %peer.ip(), "connection refused: [server] max_connections_per_source reached");
                        return refuse("per-source connection limit reached");
                    }
                }
            }
            _ => None,
        };
        let idle = self.limits.idle;
        let accepted = self.inner.accept(stream, service);
        Box::pin(async move {
            let (inner, service) = accepted.await?;
            let now = Instant::now();
            Ok((
                Permitted {
                    inner,
                    idle,
                    last_active: now,
                    deadline: Box::pin(tokio::time::sleep_until(now + idle)),
                    _permit: permit,
                    _slot: slot,
                },
                service,
            ))
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Permitted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.active();
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.timed_out(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Permitted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) if n > 0 => {
                this.active();
                Poll::Ready(Ok(n))
            }
            Poll::Pending if this.timed_out(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending if this.timed_out(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) if n > 0 => {
                this.active();
                Poll::Ready(Ok(n))
            }
            Poll::Pending if this.timed_out(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_sources_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(other));
        assert_eq!(
            source_key("::ffff:10.0.0.1".parse().unwrap()),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn a_source_at_its_cap_gets_no_slot_until_one_closes() {
        let sources = Sources::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let one = SourceSlot::take(&sources, ip, 2).unwrap();
        let _two = SourceSlot::take(&sources, ip, 2).unwrap();
        assert!(SourceSlot::take(&sources, ip, 2).is_none());
        assert!(SourceSlot::take(&sources, "10.0.0.2".parse().unwrap(), 2).is_some());
        drop(one);
        assert!(SourceSlot::take(&sources, ip, 2).is_some());
    }
}
