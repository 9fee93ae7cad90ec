//! A loopback TCP server with one thread per connection, that stops completely when dropped.
//!
//! The token issuer and the faulty proxy are real servers on real sockets, so that the code
//! under test goes through its real HTTP stack. What they share is here: bind a free port on
//! 127.0.0.1, accept in a thread, hand each connection to a handler thread, and on drop stop
//! accepting, shut down every socket still open (so no handler stays blocked in a read) and
//! join every thread. A test that panics drops its servers on the way out, so nothing outlives
//! it.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a handler waits on a silent peer before giving up on the connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server; see the module documentation.
pub(crate) struct Server {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    stopping: AtomicBool,
    next_id: AtomicU64,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    /// Sockets still open, by id, so that drop can shut them down.
    streams: HashMap<u64, TcpStream>,
    /// Handler threads not yet joined.
    threads: Vec<JoinHandle<()>>,
}

impl Shared {
    fn open(&self) -> MutexGuard<'_, Open> {
        // A handler that panicked while holding the lock leaves the data usable.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a handler gets besides its connection: a way to register more sockets (the proxy's
/// upstream connections) so that they too are shut down when the server stops.
pub(crate) struct Conn {
    shared: Arc<Shared>,
    ids: Vec<u64>,
}

impl Conn {
    /// Registers a clone of `stream` to be shut down when the server stops.
    pub(crate) fn track(&mut self, stream: &TcpStream) {
        if let Ok(clone) = stream.try_clone() {
            let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
            self.shared.open().streams.insert(id, clone);
            self.ids.push(id);
            // The server may have started stopping before the insert: then drop has already
            // shut down the sockets it knew of, so shut this one down here.
            if self.stopping() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// Whether the server is shutting down.
    pub(crate) fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let mut open = self.shared.open();
        for id in &self.ids {
            if let Some(stream) = open.streams.remove(id) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Server {
    /// Binds a free port on 127.0.0.1 and serves each connection with `handler` in a thread of
    /// its own. `name` names the threads, which helps when a test hangs.
    pub(crate) fn start<H>(name: &str, handler: H) -> io::Result<Server>
    where
        H: Fn(TcpStream, &mut Conn) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            open: Mutex::new(Open::default()),
        });
        let handler = Arc::new(handler);
        let accept_shared = Arc::clone(&shared);
        let thread_name = name.to_owned();
        let acceptor = std::thread::Builder::new()
            .name(format!("{name}-accept"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
                    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
                    let mut conn = Conn {
                        shared: Arc::clone(&accept_shared),
                        ids: Vec::new(),
                    };
                    conn.track(&stream);
                    let handler = Arc::clone(&handler);
                    let spawned = std::thread::Builder::new()
                        .name(format!("{thread_name}-conn"))
                        .spawn(move || handler(stream, &mut conn));
                    let mut open = accept_shared.open();
                    open.threads.retain(|thread| !thread.is_finished());
                    if let Ok(thread) = spawned {
                        open.threads.push(thread);
                    }
                }
            })?;
        Ok(Server {
            address,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address the server listens on.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor, which is blocked in accept(); it sees `stopping` and returns.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let threads = {
            let mut open = self.shared.open();
            for stream in open.streams.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
            std::mem::take(&mut open.threads)
        };
        for thread in threads {
            let _ = thread.join();
        }
    }
}
