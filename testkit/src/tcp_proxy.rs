//! [`TcpProxy`]: a byte-for-byte TCP proxy on 127.0.0.1 in front of any server (`redis-server`)
//! that can be cut for real: [`TcpProxy::cut`] closes every open connection and closes new ones
//! as soon as they are accepted, until [`TcpProxy::restore`]; [`TcpProxy::redirect`] sends new
//! connections elsewhere (a failover). It is synchronous, so a
//! [`crate::FaultProxy`] observer can cut it at an exact point of a request's life.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

#[derive(Default)]
struct State {
    upstream: Mutex<String>,
    cut: AtomicBool,
    accepted: AtomicUsize,
    refused: AtomicUsize,
    open: Mutex<Vec<AbortHandle>>,
}

/// A TCP proxy; it stops when dropped.
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts a proxy to `upstream` (`host:port`) on a free loopback port.
    pub async fn start(upstream: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the TCP proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let state = Arc::new(State {
            upstream: Mutex::new(upstream.to_string()),
            ..State::default()
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if shared.cut.load(Ordering::SeqCst) {
                    shared.refused.fetch_add(1, Ordering::SeqCst);
                    drop(client);
                    continue;
                }
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let upstream = shared
                    .upstream
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                let pump = tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let mut client = client;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                let mut open = shared.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                open.retain(|h| !h.is_finished());
                open.push(pump.abort_handle());
            }
        });
        TcpProxy { addr, state, task }
    }

    /// `127.0.0.1:<port>`
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every open connection, and every new one until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        let open = std::mem::take(
            &mut *self
                .state
                .open
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for handle in open {
            handle.abort();
        }
    }

    /// Sends new connections to `upstream` (as a DNS name moves in a failover); open ones stay.
    pub fn redirect(&self, upstream: &str) {
        *self
            .state
            .upstream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = upstream.to_string();
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }

    /// Connections accepted and forwarded so far.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Connections closed on arrival while cut.
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}
