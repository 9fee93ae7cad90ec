//! The Docker API at the protocol level: a real `berthd`, raw HTTP over its socket.
//!
//! What the docker CLI and docker-py depend on before any container runs: the `/_ping`
//! headers they negotiate with, the version range, errors as `{"message"}` with exactly
//! `application/json`, 404 on create only for a missing image, a 400 naming each flag we
//! cannot honour, and a daemon that keeps serving whatever bytes it is sent.

mod api_support;

use api_support::{BERTHD, Berthd, send_raw};
use serde_json::json;

#[test]
fn ping_carries_the_negotiation_headers() {
    let daemon = Berthd::start("ping", &[]);
    let head = daemon.request("HEAD", "/_ping", &[], b"");
    assert_eq!(head.status, 200);
    for (name, value) in [
        ("api-version", "1.50"),
        ("ostype", "linux"),
        ("docker-experimental", "false"),
        ("builder-version", "1"),
        ("swarm", "inactive"),
        ("cache-control", "no-cache, no-store, must-revalidate"),
        ("pragma", "no-cache"),
        ("content-length", "0"),
    ] {
        assert_eq!(
            head.header(name),
            Some(value),
            "{name} in {:?}",
            head.headers
        );
    }
    assert!(head.header("server").unwrap().starts_with("Berth/"));
    let get = daemon.get("/_ping");
    assert_eq!((get.status, get.text().as_str()), (200, "OK"));
    // docker-py pings with the version prefix.
    assert_eq!(daemon.get("/v1.50/_ping").text(), "OK");
    // Every response carries the version, errors too.
    let missing = daemon.get("/v1.50/no/such/route");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("api-version"), Some("1.50"));
}

#[test]
fn versions_are_negotiated_as_moby_does() {
    let daemon = Berthd::start("versions", &[]);
    let unversioned = daemon.get("/version");
    assert_eq!(unversioned.status, 200);
    let v = unversioned.json();
    assert_eq!(v["ApiVersion"], "1.50");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Components"][0]["Name"], "Engine");
    assert_eq!(daemon.get("/v1.50/version").status, 200);
    assert_eq!(daemon.get("/v1.24/version").status, 200);
    assert_eq!(daemon.get("/v1.41/version").status, 200);

    let too_new = daemon.get("/v1.51/version");
    assert_eq!(too_new.status, 400);
    assert_eq!(too_new.header("content-type"), Some("application/json"));
    assert_eq!(
        too_new.message(),
        "client version 1.51 is too new. Maximum supported API version is 1.50"
    );
    let too_old = daemon.get("/v1.23/containers/json");
    assert_eq!(too_old.status, 400);
    assert!(
        too_old
            .message()
            .contains("Minimum supported API version is 1.24"),
        "{}",
        too_old.text()
    );
}

#[test]
fn info_has_what_docker_info_prints() {
    let daemon = Berthd::start("info", &[]);
    let info = daemon.get("/v1.50/info");
    assert_eq!(info.status, 200);
    let info = info.json();
    for field in [
        "ServerVersion",
        "OSType",
        "Driver",
        "Containers",
        "Images",
        "NCPU",
        "MemTotal",
        "Name",
        "ID",
        "KernelVersion",
        "OperatingSystem",
        "Architecture",
        "DockerRootDir",
        "Plugins",
        "RegistryConfig",
        "SecurityOptions",
        "Runtimes",
    ] {
        assert!(!info[field].is_null(), "info lacks {field}: {info}");
    }
    assert_eq!(info["Swarm"]["LocalNodeState"], "inactive");
    assert_eq!(info["OSType"], "linux");
    assert_eq!(info["Images"], 0);
    assert_eq!(
        info["DockerRootDir"].as_str().unwrap(),
        daemon.root().to_str().unwrap()
    );
}

/// A minimal create body, as docker-py sends it.
fn create_body(image: &str) -> serde_json::Value {
    json!({"Image": image, "Cmd": ["true"], "HostConfig": {"NetworkMode": "default"}})
}

#[test]
fn create_answers_404_only_for_a_missing_image() {
    let daemon = Berthd::start("create-404", &[]);
    let missing = daemon.post_json("/v1.50/containers/create", &create_body("nosuch"));
    assert_eq!(missing.status, 404, "{}", missing.text());
    assert_eq!(missing.header("content-type"), Some("application/json"));
    assert_eq!(missing.message(), "No such image: nosuch:latest");

    // Everything else that is wrong with a create is a 400, never a 404.
    for body in [
        &b"{not json"[..],
        b"[]",
        br#"{"Cmd":["true"]}"#,
        br#"{"Image":"busybox","Env":"FOO=bar"}"#,
        br#"{"Image":"busybox","HostConfig":{"ConsoleSize":[1]}}"#,
    ] {
        let r = daemon.request(
            "POST",
            "/v1.50/containers/create",
            &[("Content-Type", "application/json")],
            body,
        );
        assert_eq!(
            r.status,
            400,
            "{}: {}",
            String::from_utf8_lossy(body),
            r.text()
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let bad_name = daemon.post_json(
        "/v1.50/containers/create?platform=linux/s390x",
        &create_body("nosuch"),
    );
    assert_eq!(bad_name.status, 400, "{}", bad_name.text());
}

#[test]
fn unsupported_flags_are_refused_by_name() {
    let daemon = Berthd::start("unsupported", &[]);
    let cases = [
        (
            json!({"VolumesFrom": ["other:rx"]}),
            "invalid --volumes-from",
        ),
        // Chapter 8 honours mounts; a bad one is refused naming its flag.
        (json!({"Binds": ["a/b:/data"]}), "invalid -v"),
        (
            json!({"Mounts": [{"Type": "nfs", "Source": "/tmp", "Target": "/x"}]}),
            "invalid --mount",
        ),
        (json!({"Tmpfs": {"/run": "size=lots"}}), "invalid --tmpfs"),
        (
            json!({"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}),
            "-p/--publish",
        ),
        (json!({"KernelMemory": 67108864}), "--kernel-memory"),
        (json!({"CpuRealtimeRuntime": 1000}), "--cpu-rt-runtime"),
        (
            json!({"BlkioWeightDevice": [{"Path": "/dev/vda", "Weight": 10}]}),
            "--blkio-weight-device",
        ),
        // Honoured limits (chapter 5) that Docker itself would refuse are refused by name.
        (json!({"MemorySwap": 1073741824}), "--memory-swap"),
        // Honoured security knobs (chapter 6) with values Docker would refuse: named too.
        (json!({"Privileged": "yes"}), "--privileged"),
        (json!({"CapAdd": ["NET_BOGUS"]}), "--cap-add"),
        (
            json!({"SecurityOpt": ["seccomp={not json"]}),
            "--security-opt",
        ),
        (json!({"SecurityOpt": ["label=level:s0"]}), "--security-opt"),
        (json!({"Devices": [{"PathOnHost": "/dev/kvm"}]}), "--device"),
        (json!({"RestartPolicy": {"Name": "always"}}), "--restart"),
        (json!({"NetworkMode": "host"}), "--network"),
    ];
    for (host_config, flag) in cases {
        let body = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": host_config});
        let r = daemon.post_json("/v1.50/containers/create", &body);
        assert_eq!(r.status, 400, "{flag}: {}", r.text());
        assert!(r.message().contains(flag), "{flag}: {}", r.message());
    }
    let volumes = json!({"Image": "busybox", "Volumes": {"data": {}}});
    let r = daemon.post_json("/v1.50/containers/create", &volumes);
    assert_eq!(r.status, 400);
    assert!(r.message().contains("invalid -v"), "{}", r.message());
    // Refused before anything was made.
    let list = std::fs::read_dir(daemon.root().join("containers"))
        .unwrap()
        .count();
    assert_eq!(list, 0);
}

#[test]
fn bad_queries_and_unknown_routes_get_json_errors() {
    let daemon = Berthd::start("bad-queries", &[]);
    for (method, target, status) in [
        ("GET", "/v1.50/nope", 404),
        ("POST", "/v1.50/images/create", 400),
        ("POST", "/v1.50/images/create?fromImage=Not%20A%20Name", 400),
        (
            "POST",
            "/v1.50/images/create?fromImage=busybox&platform=nonsense",
            400,
        ),
        ("DELETE", "/v1.50/images/busybox?force=ture", 400),
        ("GET", "/v1.50/images/json?filters=%7Bnot%20json", 400),
        (
            "GET",
            "/v1.50/images/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
            400,
        ),
        ("GET", "/v1.50/images/nosuch/json", 404),
        ("POST", "/v1.50/images/nosuch/tag?repo=x", 404),
        ("POST", "/v1.50/images/busybox/tag", 400),
        ("DELETE", "/v1.50/images/nosuch", 404),
        ("POST", "/v1.50/images/nosuch/push?tag=1", 404),
        ("POST", "/v1.50/build", 501),
        ("POST", "/v1.50/build?version=2", 400),
        ("POST", "/session", 404),
        ("POST", "/grpc", 404),
        ("PUT", "/v1.50/_ping", 405),
        ("POST", "/v1.50/auth", 400),
    ] {
        let r = daemon.request(method, target, &[], b"");
        assert_eq!(r.status, status, "{method} {target}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{method} {target}"
        );
        assert!(!r.message().is_empty(), "{method} {target}: {}", r.text());
    }
    let push = daemon.request("POST", "/v1.50/images/nosuch/push?tag=1", &[], b"");
    assert_eq!(
        push.message(),
        "An image does not exist locally with the tag: nosuch"
    );
    let build = daemon.request("POST", "/v1.50/build", &[], b"");
    assert!(
        build.message().contains("build chapter"),
        "{}",
        build.message()
    );
    let auth = daemon.request(
        "POST",
        "/v1.50/images/create?fromImage=busybox",
        &[("X-Registry-Auth", "!!not base64!!")],
        b"",
    );
    assert_eq!(auth.status, 400);
    assert!(
        auth.message().contains("X-Registry-Auth"),
        "{}",
        auth.message()
    );
}

/// Endpoints Docker's clients use that berthd does not serve yet answer 501 naming the command,
/// not a 405 from a route of another method (`POST /images/load`, before it was served, once
/// matched `DELETE /images/{name*}`) nor a bare 404.
#[test]
fn endpoints_not_served_yet_answer_501_naming_the_command() {
    let daemon = Berthd::start("not-yet", &[]);
    for (method, target, command) in [
        ("GET", "/v1.50/images/search?term=busybox", "docker search"),
        ("POST", "/v1.50/commit?container=abc", "docker commit"),
    ] {
        let r = daemon.request(method, target, &[], b"");
        assert_eq!(r.status, 501, "{method} {target}: {}", r.text());
        assert_eq!(
            r.message(),
            format!("{command} is not supported by berthd yet"),
            "{method} {target}"
        );
    }
}

/// A daemon whose stderr is a pipe nobody reads any more (the terminal that started it was
/// closed) serves on and exits cleanly: `eprintln!` used to panic on the first log line, and
/// berthd died with exit code 101.
#[test]
fn a_closed_stderr_never_kills_the_daemon() {
    let dir = berth_tests::test_dir("berthd-closed-stderr");
    let socket = dir.path().join("berthd.sock");
    let (read, write) = std::io::pipe().expect("pipe");
    drop(read);
    let mut child = std::process::Command::new(BERTHD)
        .arg("--data-root")
        .arg(dir.path().join("root"))
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(write)
        .spawn()
        .expect("starting berthd");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let answered = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Err(status);
        }
        let ping = berth_daemon::http::Client::new(&socket).get("/_ping");
        if ping.is_ok_and(|r| r.status() == 200) {
            break Ok(());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "berthd never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(
        answered,
        Ok(()),
        "berthd died while logging to a closed pipe"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn malformed_requests_get_4xx_and_the_daemon_keeps_serving() {
    let daemon = Berthd::start("malformed", &[]);
    let huge = format!(
        "GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (huge.into_bytes(), 431),
        (b"GET /_ping HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"G@T /_ping HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET /_ping HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(), 505),
        (
            b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n".to_vec(),
            413,
        ),
        (
            b"POST /containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            400,
        ),
    ];
    for (bytes, status) in cases {
        let raw = send_raw(&daemon.socket(), &bytes).unwrap();
        let r = api_support::parse(&raw, false).unwrap();
        assert_eq!(
            r.status,
            status,
            "{}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    // Garbage, then nothing: no answer needed, and no harm done.
    let _ = send_raw(&daemon.socket(), b"\x16\x03\x01\x00\xff garbage");
    assert_eq!(daemon.get("/_ping").text(), "OK");
}

#[test]
fn keep_alive_carries_several_requests() {
    let daemon = Berthd::start("keepalive", &[]);
    // The CLI's pattern: HEAD /_ping, then the real call, on one connection.
    let raw = send_raw(
        &daemon.socket(),
        b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\nGET /v1.50/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(text.contains("\"ApiVersion\":\"1.50\""), "{text}");
}

#[test]
fn one_daemon_per_data_root_and_sigterm_exits_cleanly() {
    let mut daemon = Berthd::start("lock", &[]);
    // A second daemon on the same data root (another socket) is refused, and says why.
    let other_socket = daemon.dir.path().join("other.sock");
    let output = std::process::Command::new(api_support::BERTHD)
        .arg("--data-root")
        .arg(daemon.root())
        .arg("-H")
        .arg(format!("unix://{}", other_socket.display()))
        .arg("--config-file")
        .arg(daemon.dir.path().join("daemon.json"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already using the data root"), "{stderr}");
    assert!(!other_socket.exists());

    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(daemon.socket()).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o660);

    let status = daemon.terminate().unwrap();
    assert!(status.success(), "{status}: {}", daemon.log());
    assert!(!daemon.socket().exists(), "the socket outlived the daemon");
}

#[test]
fn settings_are_checked_before_anything_listens() {
    let dir = berth_tests::test_dir("berthd-settings");
    let config = dir.path().join("daemon.json");
    let socket = dir.path().join("s.sock");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(api_support::BERTHD)
            .arg("--config-file")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} was accepted");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let root = dir.path().join("root");
    let root = root.to_str().unwrap();
    let host = format!("unix://{}", socket.display());
    std::fs::write(&config, format!(r#"{{"data-root":"{root}"}}"#)).unwrap();
    let both = run(&["--data-root", root, "-H", &host]);
    assert!(
        both.contains("both as a flag and in the configuration file"),
        "{both}"
    );
    assert!(both.contains("data-root"), "{both}");
    std::fs::write(&config, r#"{"debug":true}"#).unwrap();
    let unknown = run(&["-H", &host]);
    assert!(unknown.contains("unknown field"), "{unknown}");
    std::fs::write(&config, "{}").unwrap();
    let open = run(&["--data-root", root, "-H", "tcp://0.0.0.0:2375"]);
    assert!(open.contains("root access"), "{open}");
    let half = run(&[
        "--data-root",
        root,
        "-H",
        &host,
        "--tlsverify",
        "--tlscert",
        "/x",
    ]);
    assert!(half.contains("--tlscacert, --tlskey"), "{half}");
    assert!(!socket.exists());
    assert!(
        !dir.path().join("root").exists(),
        "a refused start created the data root"
    );
}
