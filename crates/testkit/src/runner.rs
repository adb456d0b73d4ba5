//! The lifecycle shared by every server in this crate: bind a loopback
//! listener, run an accept loop on the current runtime or on a dedicated
//! thread, and stop when the owning value is dropped.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long in-flight connections get to finish after a stop request before
/// they are cancelled.
const GRACE: Duration = Duration::from_secs(1);

/// A boxed connection handler future.
pub(crate) type ConnFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What a server does with one accepted connection. The receiver turns
/// `true` when the server is asked to stop.
pub(crate) type ConnHandler =
    Arc<dyn Fn(TcpStream, SocketAddr, Stop) -> ConnFuture + Send + Sync + 'static>;

/// A stop signal that connection handlers can wait on.
#[derive(Clone)]
pub(crate) struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Resolves once the server is asked to stop (or its owner is gone).
    pub(crate) async fn requested(&mut self) {
        // An error means the sender is gone, which also means "stop".
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Owns a running server: dropping it stops the server.
pub(crate) struct Running {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            // The thread exits after at most GRACE; a panic inside it has
            // already been reported by the panic hook.
            let _ = thread.join();
        }
    }
}

/// Binds a std listener on `addr`, refusing anything but loopback.
fn bind_loopback(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("keepup-testkit only binds loopback addresses, not {addr}"),
        ));
    }
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Starts a server on the current tokio runtime.
///
/// Must be called from within a runtime (it is used by async constructors).
pub(crate) fn start_here(addr: SocketAddr, handler: ConnHandler) -> io::Result<Running> {
    let std_listener = bind_loopback(addr)?;
    let addr = std_listener.local_addr()?;
    let listener = TcpListener::from_std(std_listener)?;
    let (stop, rx) = watch::channel(false);
    tokio::spawn(accept_loop(listener, handler, Stop(rx)));
    Ok(Running {
        addr,
        stop,
        thread: None,
    })
}

/// Starts a server on a dedicated thread with its own single-threaded
/// runtime, for callers that are not async.
pub(crate) fn start_on_thread(addr: SocketAddr, handler: ConnHandler) -> io::Result<Running> {
    let std_listener = bind_loopback(addr)?;
    let addr = std_listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, rx) = watch::channel(false);
    let thread = std::thread::Builder::new()
        .name(format!("testkit-{addr}"))
        .spawn(move || {
            runtime.block_on(async move {
                match TcpListener::from_std(std_listener) {
                    Ok(listener) => accept_loop(listener, handler, Stop(rx)).await,
                    Err(e) => eprintln!("keepup-testkit: cannot register listener {addr}: {e}"),
                }
            });
            // Dropping the runtime cancels whatever is left.
        })?;
    Ok(Running {
        addr,
        stop,
        thread: Some(thread),
    })
}

async fn accept_loop(listener: TcpListener, handler: ConnHandler, mut stop: Stop) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.requested() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(handler(stream, peer, stop.clone()));
                }
                // Typically EMFILE: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    // Dropping the JoinSet aborts the connections that did not finish.
}
