//! The socket: its mode and owner, who may connect, one daemon per socket, stale sockets,
//! shutdown, and a panicking handler that does not take the daemon down.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Command;

use berth_daemon::http::{Client, ClientError, Server, ServerError, SocketGroup};
use common::{RawConn, basic_router, open_tempdir, ping, start, start_with, test_options};

/// The uid and gid of `nobody`/`nogroup`.
const NOBODY: u32 = 65534;

#[test]
fn the_socket_is_0660_and_owned_by_root() {
    let daemon = start(basic_router());
    let meta = std::fs::metadata(&daemon.socket).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    // Nothing left behind from the bind-then-rename.
    assert!(!daemon.socket.with_extension("sock.new").exists());
}

#[test]
fn the_socket_group_can_be_chosen_by_name_or_gid() {
    for group in [
        SocketGroup::Name("nogroup".into()),
        SocketGroup::Gid(NOBODY),
    ] {
        let mut options = test_options();
        options.socket_group = Some(group);
        let daemon = start_with(basic_router(), options);
        let meta = std::fs::metadata(&daemon.socket).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, NOBODY));
        assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
    }
    let dir = open_tempdir();
    let mut options = test_options();
    options.socket_group = Some(SocketGroup::Name("no-such-group-berth".into()));
    let error = Server::bind(dir.path().join("s.sock"), options).unwrap_err();
    assert!(matches!(error, ServerError::UnknownGroup { .. }), "{error}");
}

/// Run by [`connect_as_nobody`] as another user: tries to connect and prints the outcome.
#[test]
#[ignore = "helper: run by other tests under setpriv"]
fn connect_helper() {
    let Ok(socket) = std::env::var("BERTH_TEST_CONNECT") else {
        return;
    };
    match UnixStream::connect(&socket) {
        Ok(_) => println!("RESULT connected"),
        Err(e) => println!("RESULT {:?}", e.kind()),
    }
}

/// Tries to connect to `socket` as uid/gid 65534 with no supplementary groups.
fn connect_as_nobody(socket: &Path) -> String {
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(exe)
        .args(["connect_helper", "--exact", "--ignored", "--nocapture"])
        .env("BERTH_TEST_CONNECT", socket)
        .output()
        .expect("setpriv");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "helper printed no result: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .to_owned()
}

#[test]
fn a_non_root_user_cannot_connect() {
    let daemon = start(basic_router());
    assert_eq!(connect_as_nobody(&daemon.socket), "PermissionDenied");
    assert_eq!(ping(&daemon.socket), 200, "root still can");
}

#[test]
fn a_member_of_the_socket_group_can_connect() {
    let mut options = test_options();
    options.socket_group = Some(SocketGroup::Gid(NOBODY));
    let daemon = start_with(basic_router(), options);
    assert_eq!(connect_as_nobody(&daemon.socket), "connected");
}

#[test]
fn a_second_daemon_on_the_same_socket_is_refused() {
    let daemon = start(basic_router());
    let error = Server::bind(&daemon.socket, test_options()).unwrap_err();
    match &error {
        ServerError::AlreadyRunning { socket, pid, .. } => {
            assert_eq!(socket, &daemon.socket);
            assert_eq!(*pid, Some(std::process::id()));
        }
        other => panic!("unexpected {other:?}"),
    }
    let message = error.to_string();
    assert!(message.starts_with("another daemon (pid "), "{message}");
    assert!(message.contains("is already serving"), "{message}");
    assert!(
        message.contains(&daemon.socket.display().to_string()),
        "{message}"
    );
    // And the first one is untouched.
    assert_eq!(ping(&daemon.socket), 200);
}

#[test]
fn a_live_foreign_listener_is_not_replaced() {
    let dir = open_tempdir();
    let socket = dir.path().join("berth.sock");
    let _other = UnixListener::bind(&socket).unwrap();
    let error = Server::bind(&socket, test_options()).unwrap_err();
    assert!(matches!(error, ServerError::InUse { .. }), "{error}");
    assert!(error.to_string().contains("already listening"), "{error}");
}

#[test]
fn a_stale_socket_is_replaced() {
    let dir = open_tempdir();
    let socket = dir.path().join("berth.sock");
    drop(UnixListener::bind(&socket).unwrap()); // a crashed daemon's leftover
    assert!(socket.exists());
    let handle = Server::bind(&socket, test_options())
        .unwrap()
        .spawn(basic_router())
        .unwrap();
    assert_eq!(ping(&socket), 200);
    assert_eq!(handle.shutdown(), 0);
}

#[test]
fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = open_tempdir();
    let path = dir.path().join("berth.sock");
    std::fs::write(&path, "precious").unwrap();
    let error = Server::bind(&path, test_options()).unwrap_err();
    assert!(matches!(error, ServerError::NotASocket { .. }), "{error}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[test]
fn shutdown_stops_accepting_ends_idle_connections_and_frees_the_socket() {
    let mut daemon = start(basic_router());
    let socket = daemon.socket.clone();
    let mut idle = RawConn::connect(&socket);
    idle.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(idle.read_response().status, 200);
    let handle = daemon.handle.take().unwrap();
    let started = std::time::Instant::now();
    // Well before the 5 s read timeout: the idle connection was woken, not waited for.
    assert_eq!(handle.shutdown(), 0);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(idle.at_eof());
    assert!(!socket.exists());
    // Connecting now fails as with no daemon at all, and the client says so.
    match Client::new(&socket).get("/_ping") {
        Err(error @ ClientError::Connect { .. }) => {
            assert!(
                error.to_string().contains("Is the daemon running?"),
                "{error}"
            );
        }
        other => panic!("unexpected {:?}", other.map(|r| r.status())),
    }
    // The lock is released: a new daemon can take the socket.
    let again = Server::bind(&socket, test_options())
        .unwrap()
        .spawn(basic_router())
        .unwrap();
    assert_eq!(ping(&socket), 200);
    assert_eq!(again.shutdown(), 0);
}

#[test]
fn a_panicking_handler_gets_a_500_and_the_daemon_lives_on() {
    let daemon = start(basic_router());
    for _ in 0..3 {
        let response = common::exchange(&daemon.socket, b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(response.status, 500);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(ping(&daemon.socket), 200);
    }
}

#[test]
fn many_clients_at_once() {
    let daemon = start(basic_router());
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let socket = daemon.socket.clone();
            std::thread::spawn(move || {
                let response = Client::new(&socket)
                    .get(&format!("/containers/c{i}/json"))
                    .unwrap()
                    .json::<serde_json::Value>()
                    .unwrap();
                assert_eq!(response["Id"], format!("c{i}"));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
