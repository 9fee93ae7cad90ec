//! TLS for `-H tcp://...`, with client certificates: `--tlsverify`.
//!
//! A TCP port has no file permissions, and the API is root access, so off loopback berthd
//! speaks only TLS and only to clients whose certificate is signed by `--tlscacert` (Docker's
//! `--tlsverify` model: `docker --tlsverify --tlscacert ca.pem --tlscert cert.pem --tlskey
//! key.pem -H tcp://host:2376 ps`).
//!
//! rustls is a state machine that does no I/O itself: we feed it the bytes read from the
//! socket and send what it wants sent. That lets one connection be used by two threads at
//! once, as a hijacked `attach` needs (one copies stdin in, one copies output out): both halves
//! share the [`rustls::Connection`] behind a mutex, and each does its own socket I/O outside
//! the lock, except that a writer holds it while its encrypted bytes go out (a client that
//! stops reading can therefore stall the reading half too; Docker's Go TLS has the same limit).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use berth_daemon::http::{Acceptor, Connector, Host, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, Connection, RootCertStore, ServerConfig};

use crate::config::TlsSettings;

/// Why the TLS files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: io::Error,
    },
    /// A file without the PEM block expected.
    #[error("{path} holds no usable {what} (PEM expected): {reason}")]
    Pem {
        path: std::path::PathBuf,
        what: &'static str,
        reason: String,
    },
    /// rustls refused the certificates or key; `what` says which part of the configuration.
    #[error("TLS configuration refused ({what}): {source}")]
    Rustls {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Wraps rustls's error with the part of the configuration it refused, keeping it as the cause.
fn refused<E: std::error::Error + Send + Sync + 'static>(
    what: impl Into<String>,
) -> impl FnOnce(E) -> TlsError {
    let what = what.into();
    move |e| TlsError::Rustls {
        what,
        source: Box::new(e),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let pem = |reason: String| TlsError::Pem {
        path: path.to_owned(),
        what: "certificate",
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem("no CERTIFICATE block".into()));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        path: path.to_owned(),
        what: "private key",
        reason: e.to_string(),
    })
}

fn roots(ca: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca)? {
        roots
            .add(cert)
            .map_err(refused(format!("CA {}", ca.display())))?;
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

// ANCHOR: server_config
/// The daemon's TLS: its certificate, and client certificates required and checked.
pub fn server_config(settings: &TlsSettings) -> Result<ServerConfig, TlsError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&settings.ca)?), provider())
            .build()
            .map_err(refused("the client certificate verifier"))?;
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(refused("protocol versions"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certificates(&settings.cert)?, private_key(&settings.key)?)
        .map_err(refused(format!("certificate {}", settings.cert.display())))
}
// ANCHOR_END: server_config

/// The [`Acceptor`] berthd's TCP listeners wrap connections with.
pub fn acceptor(settings: &TlsSettings) -> Result<Arc<dyn Acceptor>, TlsError> {
    Ok(Arc::new(TlsAcceptor {
        config: Arc::new(server_config(settings)?),
    }))
}

struct TlsAcceptor {
    config: Arc<ServerConfig>,
}

impl Acceptor for TlsAcceptor {
    fn accept(&self, stream: TcpStream) -> io::Result<Box<dyn Transport>> {
        let connection =
            rustls::ServerConnection::new(Arc::clone(&self.config)).map_err(io::Error::other)?;
        Ok(Box::new(TlsStream::handshake(stream, connection.into())?))
    }
}

/// A client's TLS (for `berth --tlsverify` and the tests): the CA that signed the daemon's
/// certificate, and the client's own certificate and key.
pub fn connector(ca: &Path, cert: &Path, key: &Path) -> Result<Arc<dyn Connector>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(refused("protocol versions"))?
        .with_root_certificates(roots(ca)?)
        .with_client_auth_cert(certificates(cert)?, private_key(key)?)
        .map_err(refused(format!("client certificate {}", cert.display())))?;
    Ok(Arc::new(TlsConnector {
        config: Arc::new(config),
    }))
}

#[derive(Debug)]
struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl Connector for TlsConnector {
    fn wrap(&self, stream: TcpStream, host: &Host) -> io::Result<Box<dyn Transport>> {
        let name = match host {
            Host::Tcp { host, .. } => host.clone(),
            Host::Unix(_) => "localhost".to_owned(),
        };
        let name = ServerName::try_from(name).map_err(io::Error::other)?;
        let connection = rustls::ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(io::Error::other)?;
        Ok(Box::new(TlsStream::handshake(stream, connection.into())?))
    }
}

// ANCHOR: tls_stream
/// One TLS connection, usable from two threads (see the module docs).
pub struct TlsStream {
    state: Arc<Mutex<Connection>>,
    socket: TcpStream,
}

impl TlsStream {
    /// Completes the handshake on `socket` (within the socket's read timeout, if set).
    fn handshake(mut socket: TcpStream, mut connection: Connection) -> io::Result<TlsStream> {
        while connection.is_handshaking() {
            connection.complete_io(&mut socket)?;
        }
        Ok(TlsStream {
            state: Arc::new(Mutex::new(connection)),
            socket,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends whatever rustls has queued (records, alerts, key updates).
    fn flush_tls(connection: &mut Connection, mut socket: &TcpStream) -> io::Result<()> {
        while connection.wants_write() {
            connection.write_tls(&mut socket)?;
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut encrypted = [0u8; 16 * 1024];
        loop {
            {
                let mut connection = self.lock();
                match connection.reader().read(out) {
                    Ok(n) => return Ok(n), // n == 0: the peer's close_notify
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            // Outside the lock: this read may wait for a long time.
            let n = (&self.socket).read(&mut encrypted)?;
            if n == 0 {
                return Ok(0); // EOF without close_notify: the client half-closed TCP
            }
            let mut connection = self.lock();
            let mut slice = &encrypted[..n];
            while !slice.is_empty() {
                connection.read_tls(&mut slice)?;
                connection
                    .process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
            TlsStream::flush_tls(&mut connection, &self.socket)?;
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut connection = self.lock();
        let n = connection.writer().write(buf)?;
        TlsStream::flush_tls(&mut connection, &self.socket)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut connection = self.lock();
        connection.writer().flush()?;
        TlsStream::flush_tls(&mut connection, &self.socket)
    }
}

impl Transport for TlsStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_write_timeout(timeout)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            // "No more data from me", said in TLS first, then in TCP.
            let mut connection = self.lock();
            connection.send_close_notify();
            let _ = TlsStream::flush_tls(&mut connection, &self.socket);
        }
        self.socket.shutdown(how)
    }
    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport>> {
        Ok(Box::new(TlsStream {
            state: Arc::clone(&self.state),
            socket: self.socket.try_clone()?,
        }))
    }
}
// ANCHOR_END: tls_stream
