//! An acceptor that reads the client certificate of each TLS connection (mutual TLS) and hands it to every
//! request on that connection as a [`TlsPeer`] extension.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use axum_server::accept::Accept;
use tokio_rustls::server::TlsStream;
use tower_http::add_extension::AddExtension;

use crate::transport::mtls::{ClientCert, Trust};

/// The client certificate of the connection a request came on, if it presented one.
#[derive(Clone, Debug, Default)]
pub struct TlsPeer(pub Option<Arc<ClientCert>>);

/// Wraps the TLS acceptor; `trust` says whether a presented chain verifies against the configured CAs.
#[derive(Clone)]
pub struct PeerCertAcceptor<A> {
    inner: A,
    trust: Trust,
}

impl<A> PeerCertAcceptor<A> {
    /// Read client certificates of connections `inner` accepts.
    pub fn new(inner: A, trust: Trust) -> Self {
        PeerCertAcceptor { inner, trust }
    }
}

impl<I, S, A, T> Accept<I, S> for PeerCertAcceptor<A>
where
    A: Accept<I, S, Stream = TlsStream<T>>,
    A::Future: Send + 'static,
    A::Service: Send + 'static,
    T: Send + 'static,
{
    type Stream = TlsStream<T>;
    type Service = AddExtension<A::Service, TlsPeer>;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepted = self.inner.accept(stream, service);
        let trust = self.trust.clone();
        Box::pin(async move {
            let (tls, service) = accepted.await?;
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .filter(|chain| !chain.is_empty())
                .map(|chain| Arc::new(ClientCert::of_chain(chain, trust.verifies(chain))));
            Ok((tls, AddExtension::new(service, TlsPeer(peer))))
        })
    }
}
