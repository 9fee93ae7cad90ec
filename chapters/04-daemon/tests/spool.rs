//! Large bodies on disk: a handler that asks for it ([`Handler::spool_body`]) gets the body as
//! a temporary file, beyond the in-memory limit, and the file is gone once the request is.

mod common;

use std::path::PathBuf;

use berth_daemon::http::{Handler, Request, Response, Router, Server};
use common::{RawConn, open_tempdir, test_options};

/// `/upload` bodies go to `dir`; the answer says where the body was and how big it is.
struct Spooling {
    dir: PathBuf,
    router: Router,
}

impl Handler for Spooling {
    fn handle(&self, request: &mut Request) -> Response {
        self.router.handle(request)
    }

    fn spool_body(&self, request: &Request) -> Option<PathBuf> {
        (request.segments() == ["upload"]).then(|| self.dir.clone())
    }
}

fn router() -> Router {
    Router::new()
        .post("/upload", |req: &mut Request| {
            let spooled = req.take_spooled_body().expect("the body was spooled");
            let bytes = std::fs::read(spooled.path()).expect("reading the spooled body");
            Response::json(
                200,
                &serde_json::json!({
                    "len": bytes.len(),
                    "in_memory": req.body().len(),
                    "ones": bytes.iter().all(|b| *b == 1),
                }),
            )
        })
        .post("/echo", |req: &mut Request| {
            Response::json(200, &serde_json::json!({"len": req.take_body().len()}))
        })
}

#[test]
fn a_spooled_body_may_exceed_the_memory_limit_and_its_file_is_removed() {
    let dir = open_tempdir();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let socket = dir.path().join("berth.sock");
    let handler = Spooling {
        dir: spool.clone(),
        router: router(),
    };
    let handle = Server::bind(&socket, test_options())
        .unwrap()
        .spawn(handler)
        .unwrap();

    // Three times the in-memory limit (1 MiB in the tests' options), sized and chunked.
    let body = vec![1u8; 3 << 20];
    let mut conn = RawConn::connect(&socket);
    conn.send(
        format!(
            "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    conn.send(&body);
    let answer = conn.read_response();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.text(),
        r#"{"in_memory":0,"len":3145728,"ones":true}"#
    );

    let mut chunked =
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(100_000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    conn.send(&chunked);
    assert_eq!(
        conn.read_response().text(),
        r#"{"in_memory":0,"len":3145728,"ones":true}"#
    );

    // Other routes keep the memory limit.
    conn.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(conn.read_response().status, 413);
    drop(conn);
    handle.shutdown();
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        0,
        "a spooled body was left behind"
    );
}
