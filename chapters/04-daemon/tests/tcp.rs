//! The same server and client over TCP: `-H tcp://127.0.0.1:0`, the hook where TLS wraps each
//! connection on both ends, and the client's timeout for a server that never answers.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use berth_daemon::http::{
    Acceptor, Client, ClientError, Connector, Host, Request, Response, Server, ServerHandle,
    Transport,
};
use common::{basic_router, test_options};

/// Serves the basic routes, plus `/host` (the `Host` the client sent), on a port the kernel
/// picks; the server and the `tcp://` host to reach it.
fn serve(acceptor: Option<Arc<dyn Acceptor>>) -> (ServerHandle, Host) {
    let router = basic_router().get("/host", |req: &mut Request| {
        Response::text(200, req.header("host").unwrap_or_default().to_owned())
    });
    let server = Server::bind_tcp("127.0.0.1:0", test_options(), acceptor).expect("bind");
    let address = server.tcp_address().expect("a TCP address");
    let host = format!("tcp://{address}").parse().expect("a tcp:// host");
    (server.spawn(router).expect("spawn"), host)
}

#[test]
fn the_client_talks_to_a_tcp_server() {
    let (server, host) = serve(None);
    let client = Client::for_host(&host);
    assert_eq!(client.get("/_ping").unwrap().text().unwrap(), "OK");
    // A TCP server has a name, and HTTP/1.1 says the request carries it.
    let sent = client.get("/host").unwrap().text().unwrap();
    assert_eq!(Some(sent), host.tcp_address());
    assert_eq!(server.shutdown(), 0);
}

/// The bytes our stand-in "handshake" exchanges before HTTP, where TLS would exchange its own.
const HELLO: &[u8; 6] = b"HELLO\n";

/// A stand-in for TLS on the server: the connection must start with [`HELLO`]; it counts the
/// connections it let through.
#[derive(Default)]
struct HelloAcceptor {
    accepted: AtomicUsize,
}

impl Acceptor for HelloAcceptor {
    fn accept(&self, mut stream: TcpStream) -> io::Result<Box<dyn Transport>> {
        let mut hello = [0u8; HELLO.len()];
        stream.read_exact(&mut hello)?;
        if &hello != HELLO {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no hello"));
        }
        self.accepted.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(stream))
    }
}

/// The client's half: says [`HELLO`] on every new connection.
#[derive(Debug)]
struct HelloConnector;

impl Connector for HelloConnector {
    fn wrap(&self, mut stream: TcpStream, _host: &Host) -> io::Result<Box<dyn Transport>> {
        stream.write_all(HELLO)?;
        Ok(Box::new(stream))
    }
}

// ANCHOR: wrapped
#[test]
fn an_acceptor_and_a_connector_wrap_every_connection() {
    let acceptor = Arc::new(HelloAcceptor::default());
    let (server, host) = serve(Some(acceptor.clone()));
    let client = Client::for_host(&host).with_connector(Arc::new(HelloConnector));
    for _ in 0..2 {
        assert_eq!(client.get("/_ping").unwrap().status(), 200);
    }
    assert_eq!(acceptor.accepted.load(Ordering::SeqCst), 2);

    // A client without the connector skips the handshake: its request is taken for a bad
    // hello, the acceptor refuses, and the server closes without serving it.
    let error = Client::for_host(&host).get("/_ping").err().unwrap();
    assert!(
        matches!(
            error,
            ClientError::Malformed { .. } | ClientError::Io { .. }
        ),
        "{error}"
    );
    assert_eq!(acceptor.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(server.shutdown(), 0);
}
// ANCHOR_END: wrapped

#[test]
fn a_silent_server_times_out() {
    // Accepts (the kernel does, in the backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let host: Host = format!("tcp://{}", silent.local_addr().unwrap())
        .parse()
        .unwrap();
    let (done, result) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let client = Client::for_host(&host).with_timeout(Duration::from_millis(300));
        let _ = done.send(client.get("/_ping").map(|r| r.status()));
    });
    // Without the timeout the client would wait forever: the test gives it ten seconds.
    let outcome = result
        .recv_timeout(Duration::from_secs(10))
        .expect("the client is still waiting for a server that never answers");
    match outcome {
        Err(ClientError::Io { source, .. }) => assert!(
            matches!(
                source.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{source}"
        ),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn localhost_tries_each_address() {
    // The server is on 127.0.0.1 only; `localhost` may resolve to ::1 first.
    let (server, host) = serve(None);
    let Host::Tcp { port, .. } = host else {
        unreachable!()
    };
    let localhost = Host::Tcp {
        host: "localhost".to_owned(),
        port,
    };
    let client = Client::for_host(&localhost).with_timeout(Duration::from_secs(5));
    assert_eq!(client.get("/_ping").unwrap().status(), 200);
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn a_port_in_use_is_refused_with_its_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let error = Server::bind_tcp(&address, test_options(), None)
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot listen on tcp://{address}: ")),
        "{error}"
    );
    assert!(std::error::Error::source(&error).is_some(), "{error:?}");
}

#[test]
fn a_bad_content_length_keeps_its_value_and_cause() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host: Host = format!("tcp://{}", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n")
            .unwrap();
    });
    let error = Client::for_host(&host).get("/_ping").err().unwrap();
    server.join().unwrap();
    match &error {
        ClientError::BadContentLength { value, .. } => assert_eq!(value, "lots"),
        other => panic!("expected BadContentLength, got {other:?}"),
    }
    assert!(std::error::Error::source(&error).is_some(), "{error:?}");
}
