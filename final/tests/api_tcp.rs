//! `-H tcp://...`: plain TCP on loopback, and TLS with client certificates (`--tlsverify`),
//! including a hijacked attach over TLS (two threads on one TLS connection).

mod api_support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use api_support::Berthd;
use berth::api::tls;
use berth_daemon::http::{Client, ClientRequest, Host};
use serde_json::json;

/// Runs openssl, failing the test with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`; `prefix`
/// names the CA (a second CA makes certificates the daemon must refuse).
fn certificates(dir: &Path, prefix: &str) {
    let key = |name: &str| {
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                name,
            ],
        )
    };
    let ca_key = format!("{prefix}ca.key");
    let ca = format!("{prefix}ca.pem");
    key(&ca_key);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &ca_key,
            "-subj",
            &format!("/CN={prefix}test-ca"),
            "-days",
            "2",
            "-out",
            &ca,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    for (name, usage, serial) in [("server", "serverAuth", "1"), ("client", "clientAuth", "2")] {
        let name = format!("{prefix}{name}");
        key(&format!("{name}.key"));
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                "/CN=localhost",
                "-out",
                &format!("{name}.csr"),
            ],
        );
        let ext = format!("{name}.ext");
        std::fs::write(
            dir.join(&ext),
            format!(
                "basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n\
                 subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            ),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-set_serial",
                serial,
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
}

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn plain_tcp_on_loopback_serves_the_api() {
    let daemon = Berthd::start("tcp", &["-H", "tcp://127.0.0.1:0"]);
    let host: Host = format!("tcp://{}", daemon.tcp_address()).parse().unwrap();
    let client = Client::for_host(&host);
    let ping = client.send(&ClientRequest::head("/_ping")).unwrap();
    assert_eq!(ping.status(), 200);
    assert_eq!(ping.header("api-version"), Some("1.50"));
    let version: serde_json::Value = client.get("/version").unwrap().json().unwrap();
    assert_eq!(version["ApiVersion"], "1.50");
    // The UNIX socket is served at the same time.
    assert_eq!(daemon.get("/_ping").text(), "OK");
    assert!(daemon.log().contains("without TLS"), "{}", daemon.log());
}

#[test]
fn tls_requires_a_client_certificate_from_the_ca() {
    let certs = berth_tests::test_dir("berthd-tls-certs");
    let dir = certs.path();
    certificates(dir, "");
    certificates(dir, "other-");
    let (ca, cert, key) = (
        path(dir, "ca.pem"),
        path(dir, "server.pem"),
        path(dir, "server.key"),
    );
    let daemon = Berthd::with_busybox_and(
        "tls",
        &[
            "-H",
            "tcp://127.0.0.1:0",
            "--tlsverify",
            "--tlscacert",
            ca.to_str().unwrap(),
            "--tlscert",
            cert.to_str().unwrap(),
            "--tlskey",
            key.to_str().unwrap(),
        ],
    );
    let host: Host = format!("tcp://{}", daemon.tcp_address()).parse().unwrap();

    // A client with a certificate from the CA: served.
    let good = tls::connector(&ca, &path(dir, "client.pem"), &path(dir, "client.key")).unwrap();
    let client = Client::for_host(&host).with_connector(good);
    let ping = client.get("/_ping").unwrap();
    assert_eq!(ping.status(), 200);
    assert_eq!(ping.text().unwrap(), "OK");

    // Plain HTTP to the TLS port, and a certificate from another CA: refused.
    assert!(Client::for_host(&host).get("/_ping").is_err());
    let stranger = tls::connector(
        &ca,
        &path(dir, "other-client.pem"),
        &path(dir, "other-client.key"),
    )
    .unwrap();
    let refused = Client::for_host(&host)
        .with_connector(stranger)
        .get("/_ping");
    assert!(refused.is_err(), "a client of another CA was served");

    // A hijack over TLS: attach before start, output until the container exits.
    let create = client
        .send(
            &ClientRequest::post("/v1.50/containers/create")
                .json(&json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo over tls"]}))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(create.status(), 201);
    let id = create.json::<serde_json::Value>().unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut attached = client
        .hijack(&ClientRequest::post(&format!(
            "/v1.50/containers/{id}/attach?stream=1&stdout=1&stderr=1"
        )))
        .unwrap();
    let start = client
        .send(&ClientRequest::post(&format!(
            "/v1.50/containers/{id}/start"
        )))
        .unwrap();
    assert_eq!(start.status(), 204);
    let mut output = Vec::new();
    attached.stream.read_to_end(&mut output).unwrap();
    assert_eq!(&output[..8], &[1, 0, 0, 0, 0, 0, 0, 9]);
    assert_eq!(&output[8..], b"over tls\n");
    drop(daemon);
}
