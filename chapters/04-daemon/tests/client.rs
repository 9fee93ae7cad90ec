//! The client library against a real daemon: JSON calls, Docker's error messages, hosts.

mod common;

use berth_daemon::http::{Client, ClientError, ClientRequest, Host, Request, Response, Router};
use common::{basic_router, start};

#[test]
fn json_calls_and_queries() {
    let daemon = start(basic_router());
    let client = Client::new(&daemon.socket);
    let value: serde_json::Value = client
        .send(
            &ClientRequest::get("/v1.50/query")
                .query("all", "True")
                .query("limit", "-1"),
        )
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(value, serde_json::json!({ "all": true, "limit": -1 }));

    let created = client
        .send(
            &ClientRequest::post("/json")
                .json(&serde_json::json!({"Image": "busybox"}))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.text().unwrap(), r#"{"Image":"busybox"}"#);
}

#[test]
fn query_values_are_encoded() {
    let router = Router::new().get("/containers/json", |req: &mut Request| {
        Response::text(
            200,
            req.query().get("filters").unwrap_or_default().to_owned(),
        )
    });
    let daemon = start(router);
    let filters = r#"{"status":{"exited":true}} & more"#;
    let text = Client::new(&daemon.socket)
        .send(&ClientRequest::get("/containers/json").query("filters", filters))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(text, filters);
}

#[test]
fn errors_read_like_docker() {
    let daemon = start(basic_router());
    let error = Client::new(&daemon.socket)
        .get("/containers//json")
        .unwrap()
        .error_for_status()
        .err()
        .unwrap();
    assert!(matches!(error, ClientError::Api { status: 404, .. }));
    assert_eq!(
        error.to_string(),
        "Error response from daemon: page not found"
    );
}

#[test]
fn head_responses_have_no_body() {
    let daemon = start(basic_router());
    let response = Client::new(&daemon.socket)
        .send(&ClientRequest::head("/_ping"))
        .unwrap();
    assert_eq!(response.header("content-length"), Some("2"));
    assert_eq!(response.bytes().unwrap(), b"");
}

#[test]
fn no_daemon_no_connection() {
    let dir = common::open_tempdir();
    let host: Host = format!("unix://{}", dir.path().join("none.sock").display())
        .parse()
        .unwrap();
    let error = Client::for_host(&host).get("/_ping").err().unwrap();
    assert!(matches!(error, ClientError::Connect { .. }));
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot connect to the berth daemon at {host}: ")),
        "{error}"
    );
}
