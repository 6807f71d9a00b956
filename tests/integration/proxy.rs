//! A TCP proxy the test controls: stopping it is a database outage (every connection through it drops and new
//! ones are refused), starting it again is the recovery.

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A proxy on a loopback port to one upstream address.
pub struct TcpProxy {
    /// The port it listens on.
    pub port: u16,
    upstream: String,
    running: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Start forwarding 127.0.0.1:<ephemeral port> to `upstream` (host:port).
    pub async fn start(upstream: String) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let running = Some(tokio::spawn(forward(listener, upstream.clone())));
        TcpProxy {
            port,
            upstream,
            running,
        }
    }

    /// The database URL `url` with its host and port replaced by this proxy's.
    pub fn route(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(self.port)).unwrap();
        u.to_string()
    }

    /// Close the listener and every connection through it.
    pub async fn stop(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listen on the same port again.
    pub async fn resume(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.running = Some(tokio::spawn(forward(listener, self.upstream.clone())));
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(task) = &self.running {
            task.abort();
        }
    }
}

/// Accept and forward until aborted; aborting drops the set, which aborts every connection's task.
async fn forward(listener: TcpListener, upstream: String) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut client, _)) = accepted else { continue };
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
