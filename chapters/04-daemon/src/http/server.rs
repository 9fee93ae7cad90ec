//! The listening socket, and a thread for every connection on it.
//!
//! `dockerd` listens on `/var/run/docker.sock`, a UNIX socket: a file-system name for a
//! listening endpoint. Its permissions are the daemon's access control, and they matter more
//! than anything else here, because whoever can connect can run a privileged container that
//! mounts `/`: **access to the socket is root access**. So the socket is created with mode
//! `0660`, owned by root, with an optional group whose members may connect (Docker's `docker`
//! group, with the same warning attached).
//!
//! Creating it safely takes a few steps that each prevent a real failure:
//!
//! * **A lock file** (`<socket>.lock`, `flock`ed for the daemon's lifetime, holding its pid):
//!   two daemons started at the same moment would otherwise both see no socket, and the second
//!   would silently replace the first one's. The lock is never deleted: deleting a lock file
//!   while others may be opening it lets two processes hold "the" lock on different inodes.
//! * **A liveness probe.** A socket file outlives a daemon that crashed. If connecting to it is
//!   refused, nobody listens and it is stale: replace it. If the connection succeeds, a live
//!   server owns it (an older build, another program): refuse to start, and say so.
//! * **Bind elsewhere, then rename.** `bind` creates the socket with the mode `0777 & !umask`;
//!   fixing it with `chmod` afterwards leaves a window in which anyone may connect (with umask
//!   0, say). We bind at `<socket>.new`, set mode and group, and only then `rename` it over the
//!   final name, which also replaces a stale socket atomically. The listener does not mind:
//!   a connecting client finds a UNIX socket by its inode, whatever name it was bound under.
//!
//! Then the accept loop: wait (in `poll`, together with a wake-up socket that
//! [`ServerHandle::shutdown`] uses) for a client, and give each connection its own thread. A
//! thread per connection is the simplest model that lets a `logs -f` stream or an attached
//! terminal block for hours without holding anyone else up; an idle thread costs a few KiB of
//! memory.
//!
//! The same server also listens on TCP ([`Server::bind_tcp`]), for `-H tcp://HOST:PORT`. A TCP
//! port has no file mode to protect it, so off loopback it must only be served with TLS and
//! client certificates: an [`Acceptor`] wraps each accepted connection (the engine's does the
//! rustls handshake there, on the connection's own thread, so a slow handshake holds nobody up).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::Flock;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::{Gid, Group};

use super::connection;
pub use super::options::{ServerOptions, SocketGroup};
use super::router::Handler;
use super::transport::Transport;

// ANCHOR: acceptor
/// Turns an accepted TCP connection into the transport HTTP is spoken over: where TLS goes.
/// Runs on the connection's thread; an error closes the connection.
pub trait Acceptor: Send + Sync + 'static {
    /// Wraps `stream` (a handshake, for TLS).
    fn accept(&self, stream: TcpStream) -> io::Result<Box<dyn Transport>>;
}
// ANCHOR_END: acceptor

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Another daemon holds the socket's lock file.
    #[error(
        "another daemon{} is already serving {} (it holds the lock {}): stop it first, or \
         choose another socket",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        socket.display(),
        lock.display()
    )]
    AlreadyRunning {
        socket: PathBuf,
        lock: PathBuf,
        pid: Option<u32>,
    },
    /// A process without our lock (another program, an old build) listens on the socket.
    #[error(
        "something is already listening on {} (a test connection succeeded): stop it first, or \
         choose another socket",
        socket.display()
    )]
    InUse { socket: PathBuf },
    /// The path holds something other than a socket, which we will not delete.
    #[error("{} exists and is not a socket: refusing to replace it", path.display())]
    NotASocket { path: PathBuf },
    /// The lock file could not be created or locked.
    #[error("cannot take the lock {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    /// The existing socket could not be checked.
    #[error("cannot check whether {} is in use: {source}", path.display())]
    Probe { path: PathBuf, source: io::Error },
    /// The socket could not be created or renamed into place.
    #[error("cannot create the socket {}: {source}", path.display())]
    Bind { path: PathBuf, source: io::Error },
    /// The TCP address could not be listened on (in use, not this host's, no permission).
    #[error("cannot listen on tcp://{address}: {source}")]
    BindTcp { address: String, source: io::Error },
    /// The socket's mode or group could not be set.
    #[error("cannot set the mode or group of the socket {}: {source}", path.display())]
    Permissions { path: PathBuf, source: io::Error },
    /// The socket group does not exist.
    #[error("unknown group {name:?} for the socket (create it with `groupadd {name}`)")]
    UnknownGroup { name: String },
    /// Looking the group up failed.
    #[error("cannot look up group {name:?}: {source}")]
    GroupLookup { name: String, source: Errno },
    /// The accept thread could not start.
    #[error("cannot start the accept thread: {source}")]
    Spawn { source: io::Error },
}

/// What a server listens on.
enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener, Option<Arc<dyn Acceptor>>),
}

impl Listener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listener::Unix(l) => l.as_fd(),
            Listener::Tcp(l, _) => l.as_fd(),
        }
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listener::Unix(l) => l.fmt(f),
            Listener::Tcp(l, acceptor) => f
                .debug_struct("Tcp")
                .field("listener", l)
                .field("wrapped", &acceptor.is_some())
                .finish(),
        }
    }
}

/// A bound, locked, correctly permissioned socket, not yet accepting.
#[derive(Debug)]
pub struct Server {
    listener: Listener,
    path: PathBuf,
    lock: Option<Flock<File>>,
    options: ServerOptions,
}

impl Server {
    /// Creates the socket at `path` (mode `0660`, the options' group), refusing if another
    /// daemon owns it and replacing it if it is stale. The parent directory must exist.
    pub fn bind(path: impl AsRef<Path>, options: ServerOptions) -> Result<Server, ServerError> {
        let path = path.as_ref().to_path_buf();
        let gid = options
            .socket_group
            .as_ref()
            .map(resolve_group)
            .transpose()?;
        let lock = take_lock(&path)?;
        refuse_live_socket(&path)?;
        let listener = create_socket(&path, gid)?;
        // accept() must not block if a client vanished between poll() and accept().
        listener
            .set_nonblocking(true)
            .map_err(|source| ServerError::Bind {
                path: path.clone(),
                source,
            })?;
        Ok(Server {
            listener: Listener::Unix(listener),
            path,
            lock: Some(lock),
            options,
        })
    }

    /// Listens on a TCP address (`127.0.0.1:2375`; port 0 picks a free one). Each accepted
    /// connection is wrapped by `acceptor` (TLS) if one is given. There is no lock file: the
    /// kernel refuses a second bind of the same address.
    pub fn bind_tcp(
        address: &str,
        options: ServerOptions,
        acceptor: Option<Arc<dyn Acceptor>>,
    ) -> Result<Server, ServerError> {
        let bind = |source| ServerError::BindTcp {
            address: address.to_owned(),
            source,
        };
        let listener = TcpListener::bind(address).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        Ok(Server {
            listener: Listener::Tcp(listener, acceptor),
            path: PathBuf::new(),
            lock: None,
            options,
        })
    }

    /// The TCP address listened on (with the port the kernel chose for port 0).
    pub fn tcp_address(&self) -> Option<SocketAddr> {
        match &self.listener {
            Listener::Tcp(l, _) => l.local_addr().ok(),
            Listener::Unix(_) => None,
        }
    }

    /// The socket's path (empty for TCP).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts accepting in a background thread; each connection gets its own thread and is
    /// served by `handler`.
    pub fn spawn(self, handler: impl Handler) -> Result<ServerHandle, ServerError> {
        let (wake_tx, wake_rx) =
            UnixStream::pair().map_err(|source| ServerError::Spawn { source })?;
        let connections = Arc::new(Connections::default());
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            options: self.options.clone(),
            connections: Arc::clone(&connections),
        });
        let listener = self.listener;
        let accept = thread::Builder::new()
            .name("berth-accept".to_owned())
            .spawn(move || accept_loop(listener, wake_rx, shared))
            .map_err(|source| ServerError::Spawn { source })?;
        Ok(ServerHandle {
            path: self.path,
            wake: Some(wake_tx),
            accept: Some(accept),
            connections,
            grace: self.options.shutdown_grace,
            lock: self.lock,
        })
    }
}

/// A running server. Dropping it stops accepting (like [`shutdown`](Self::shutdown) without
/// waiting for open connections).
#[derive(Debug)]
pub struct ServerHandle {
    path: PathBuf,
    wake: Option<UnixStream>,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Connections>,
    grace: Duration,
    lock: Option<Flock<File>>,
}

impl ServerHandle {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many connections are open now.
    pub fn active_connections(&self) -> usize {
        self.connections.lock().len()
    }

    /// Stops accepting, removes the socket, ends idle connections (it shuts down their reading
    /// side: a connection waiting for its next request sees EOF, one in the middle of a response
    /// finishes it first, an upgraded one sees the end of its input), and waits up to the grace
    /// period for every connection thread to end. Returns how many were still running when it
    /// gave up (0 for a clean stop).
    pub fn shutdown(mut self) -> usize {
        self.stop_accepting();
        for stream in self.connections.lock().values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
        let deadline = Instant::now() + self.grace;
        let mut open = self.connections.lock();
        while !open.is_empty() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            open = self
                .connections
                .changed
                .wait_timeout(open, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        open.len()
    }

    fn stop_accepting(&mut self) {
        // Dropping our end of the pair wakes the accept loop's poll() with a hang-up.
        self.wake.take();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        // Remove the name before releasing the lock, so the next daemon finds a clean slate.
        if self.lock.is_some() {
            let _ = fs::remove_file(&self.path);
        }
        self.lock.take();
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_accepting();
    }
}

/// The open connections (a second handle on each raw socket), so that shutdown can reach them.
#[derive(Default)]
struct Connections {
    open: Mutex<HashMap<u64, Box<dyn Transport>>>,
    changed: Condvar,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("open", &self.lock().len())
            .finish()
    }
}

impl Connections {
    /// The map, even if a thread panicked while holding it (a `HashMap` insert or remove cannot
    /// leave it inconsistent).
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Box<dyn Transport>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes a connection from [`Connections`] when its thread ends, however it ends.
struct Registered {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.id);
        self.connections.changed.notify_all();
    }
}

/// What every connection thread shares.
struct Shared {
    handler: Box<dyn Handler>,
    options: ServerOptions,
    connections: Arc<Connections>,
}

// ANCHOR: accept
fn accept_loop(listener: Listener, wake: UnixStream, shared: Arc<Shared>) {
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => {
                crate::daemon_log!(
                    "berth: poll on the daemon socket failed, no longer accepting: {e}"
                );
                return;
            }
        }
        if fds[1].any().unwrap_or(true) {
            return; // shutdown
        }
        let accepted = match &listener {
            Listener::Unix(l) => l.accept().map(|(s, _)| Accepted::Unix(s)),
            Listener::Tcp(l, acceptor) => {
                l.accept().map(|(s, _)| Accepted::Tcp(s, acceptor.clone()))
            }
        };
        match accepted {
            Ok(stream) => spawn_connection(stream, &shared),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                ) => {}
            Err(e) => {
                // EMFILE and friends: the pending connection stays queued and poll() would
                // report it again at once. Pause instead of spinning at 100% CPU.
                crate::daemon_log!("berth: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A connection just accepted, with what it still needs before HTTP.
enum Accepted {
    Unix(UnixStream),
    Tcp(TcpStream, Option<Arc<dyn Acceptor>>),
}

fn spawn_connection(accepted: Accepted, shared: &Arc<Shared>) {
    let raw: &dyn Transport = match &accepted {
        Accepted::Unix(s) => s,
        Accepted::Tcp(s, _) => s,
    };
    let blocking = match &accepted {
        Accepted::Unix(s) => s.set_nonblocking(false),
        Accepted::Tcp(s, _) => s.set_nonblocking(false).and_then(|()| s.set_nodelay(true)),
    };
    if blocking.is_err() {
        return;
    }
    let id = shared.connections.next_id.fetch_add(1, Ordering::Relaxed);
    if let Ok(handle) = raw.try_clone_boxed() {
        shared.connections.lock().insert(id, handle);
    }
    let registered = Registered {
        connections: Arc::clone(&shared.connections),
        id,
    };
    let shared = Arc::clone(shared);
    // If the thread cannot start, the closure is dropped: the stream closes and `registered`
    // unregisters it.
    let _ = thread::Builder::new()
        .name(format!("berth-conn-{id}"))
        .spawn(move || {
            let _registered = registered;
            match accepted {
                Accepted::Unix(stream) => {
                    connection::serve(stream, &*shared.handler, &shared.options);
                }
                Accepted::Tcp(stream, None) => {
                    connection::serve(stream, &*shared.handler, &shared.options);
                }
                Accepted::Tcp(stream, Some(acceptor)) => {
                    // A client that never finishes its handshake must not hold a thread.
                    let _ = stream.set_read_timeout(Some(shared.options.read_timeout));
                    if let Ok(wrapped) = acceptor.accept(stream) {
                        connection::serve(wrapped, &*shared.handler, &shared.options);
                    }
                }
            }
        });
}
// ANCHOR_END: accept

fn resolve_group(group: &SocketGroup) -> Result<u32, ServerError> {
    match group {
        SocketGroup::Gid(gid) => Ok(*gid),
        SocketGroup::Name(name) => match Group::from_name(name) {
            Ok(Some(group)) => Ok(group.gid.as_raw()),
            Ok(None) => Err(ServerError::UnknownGroup { name: name.clone() }),
            Err(source) => Err(ServerError::GroupLookup {
                name: name.clone(),
                source,
            }),
        },
    }
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The lock file that goes with a socket: `<socket>.lock`.
pub fn lock_path(socket: &Path) -> PathBuf {
    with_suffix(socket, ".lock")
}

/// Takes the socket's lock (chapter 4's `lock.rs`): one server per socket.
fn take_lock(socket: &Path) -> Result<Flock<File>, ServerError> {
    crate::lock::lock_exclusive(&lock_path(socket)).map_err(|e| match e {
        crate::lock::LockError::Held { path, pid } => ServerError::AlreadyRunning {
            socket: socket.to_path_buf(),
            lock: path,
            pid,
        },
        crate::lock::LockError::Io { path, source } => ServerError::Lock { path, source },
    })
}

// ANCHOR: probe
/// Fails if a live server listens at `path`; a stale socket is left for the rename to replace.
fn refuse_live_socket(path: &Path) -> Result<(), ServerError> {
    let probe = |source| ServerError::Probe {
        path: path.to_path_buf(),
        source,
    };
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(probe(e)),
        Ok(meta) if !meta.file_type().is_socket() => Err(ServerError::NotASocket {
            path: path.to_path_buf(),
        }),
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => Err(ServerError::InUse {
                socket: path.to_path_buf(),
            }),
            // Nobody listens: a crashed daemon's leftover.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
            Err(e) => Err(probe(e)),
        },
    }
}
// ANCHOR_END: probe

// ANCHOR: create_socket
fn create_socket(path: &Path, gid: Option<u32>) -> Result<UnixListener, ServerError> {
    let staging = with_suffix(path, ".new");
    // A leftover from a daemon that died mid-bind; we hold the lock, so it is nobody's.
    let _ = fs::remove_file(&staging);
    let listener = UnixListener::bind(&staging).map_err(|source| ServerError::Bind {
        path: staging.clone(),
        source,
    })?;
    let permissions = || -> io::Result<()> {
        fs::set_permissions(&staging, fs::Permissions::from_mode(0o660))?;
        if let Some(gid) = gid {
            nix::unistd::chown(&staging, None, Some(Gid::from_raw(gid)))?;
        }
        Ok(())
    };
    if let Err(source) = permissions() {
        let _ = fs::remove_file(&staging);
        return Err(ServerError::Permissions {
            path: path.to_path_buf(),
            source,
        });
    }
    if let Err(source) = fs::rename(&staging, path) {
        let _ = fs::remove_file(&staging);
        return Err(ServerError::Bind {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(listener)
}
// ANCHOR_END: create_socket
