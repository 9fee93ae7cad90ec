//! Tests of the registry test infrastructure itself: the real registry in its three auth
//! flavours, our token issuer, and each fault of the proxy.
//!
//! Chapter 3's tests will trust these servers to behave like the registries out there and to
//! fail exactly when asked. So each is checked here against clients we did not write (skopeo)
//! and with raw HTTP requests that show the bytes as they are. Every test starts its own
//! servers, with their own ports and directories.

use std::path::Path;
use std::time::Instant;

use berth_tests::http::{self, basic_auth};
use berth_tests::proxy::{self, Fault, FaultRule, FaultyProxy, Listener};
use berth_tests::registry::{Registry, images_dir};
use berth_tests::token::{Access, TokenPolicy};
use serde_json::Value;

/// The fixture's busybox manifest, parsed: its layers and config.
fn busybox_manifest() -> Value {
    layout_manifest(&images_dir().join("busybox-oci"))
}

/// The manifest (or index) the only entry of an OCI layout's index.json points to.
fn layout_manifest(layout: &Path) -> Value {
    let bytes = layout_blob(layout, &layout_entry_digest(layout));
    serde_json::from_slice(&bytes).expect("the fixture's manifest is JSON")
}

fn layout_entry_digest(layout: &Path) -> String {
    let index: Value = serde_json::from_slice(
        &std::fs::read(layout.join("index.json")).expect("reading the fixture's index.json"),
    )
    .expect("index.json is JSON");
    index["manifests"][0]["digest"]
        .as_str()
        .expect("index.json names a digest")
        .to_owned()
}

fn layout_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    std::fs::read(layout.join("blobs/sha256").join(hex)).expect("reading a fixture blob")
}

/// The digest of the busybox image's one layer.
fn busybox_layer() -> String {
    busybox_manifest()["layers"][0]["digest"]
        .as_str()
        .expect("the manifest names its layer")
        .to_owned()
}

fn seeded_anonymous_registry() -> Registry {
    let registry = Registry::anonymous();
    registry.seed(
        &images_dir().join("busybox-oci"),
        "busybox:latest",
        "library/busybox:latest",
    );
    registry
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn anonymous_registry_serves_what_skopeo_seeded() {
    let started = Instant::now();
    let registry = Registry::anonymous();
    let start_time = started.elapsed();
    let answer = http::request(&registry.host(), "GET", "/v2/", &[], b"").unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );

    let started = Instant::now();
    registry.seed(
        &images_dir().join("busybox-oci"),
        "busybox:latest",
        "library/busybox:latest",
    );
    let seed_time = started.elapsed();
    eprintln!("registry start: {start_time:?}, seed of busybox: {seed_time:?}");

    let output = registry.skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/library/busybox:latest", registry.host()),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let inspect: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Layers"][0], busybox_layer().as_str());

    // The manifest comes back byte for byte as skopeo found it in the layout.
    let layout = images_dir().join("busybox-oci");
    assert_eq!(
        registry.manifest("library/busybox:latest"),
        layout_blob(&layout, &layout_entry_digest(&layout))
    );
    // The blob sits in the registry's own storage directory.
    assert!(registry.blob_path(&busybox_layer()).is_file());
}

#[test]
fn dropping_the_registry_kills_it_and_removes_its_directory() {
    let registry = Registry::anonymous();
    let (host, pid, dir) = (
        registry.host(),
        registry.pid(),
        registry.dir().to_path_buf(),
    );
    drop(registry);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the registry process {pid} is still there (not killed or not reaped)"
    );
    assert!(!dir.exists(), "{} was not removed", dir.display());
    assert!(http::request(&host, "GET", "/v2/", &[], b"").is_err());
}

#[test]
fn multi_platform_index_is_pushed_byte_for_byte() {
    let registry = Registry::anonymous();
    let layout = images_dir().join("multi-oci");
    registry.seed_all(&layout, "multi:latest", "multi:latest");

    let served = registry.manifest("multi:latest");
    assert_eq!(served, layout_blob(&layout, &layout_entry_digest(&layout)));
    let index: Value = serde_json::from_slice(&served).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64", "unknown/unknown"]);
    assert_eq!(
        index["manifests"][2]["annotations"]["vnd.docker.reference.type"],
        "attestation-manifest"
    );
    // Every entry, the attestation too, can be fetched by digest.
    for entry in index["manifests"].as_array().unwrap() {
        let digest = entry["digest"].as_str().unwrap();
        let manifest = registry.manifest(&format!("multi@{digest}"));
        assert_eq!(manifest.len() as u64, entry["size"].as_u64().unwrap());
    }
    // The arm64 config says arm64.
    let output = registry.skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--override-arch=arm64",
        &format!("docker://{}/multi:latest", registry.host()),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let inspect: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(inspect["Architecture"], "arm64");
}

#[test]
fn token_auth_lets_anonymous_pull_and_alice_push_and_refuses_a_wrong_password() {
    let registry = Registry::token_auth(
        TokenPolicy::new()
            .user("alice", "alice-secret", Access::PullPush)
            .user("bob", "bob-secret", Access::Pull)
            .anonymous_pull(true),
    );
    let issuer = registry.token_issuer().unwrap();

    // The registry challenges with our realm and service.
    let answer = http::request(&registry.host(), "GET", "/v2/", &[], b"").unwrap();
    assert_eq!(answer.status, 401);
    let challenge = answer.header("www-authenticate").unwrap();
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"{}\",service=\"berth-registry\"",
            issuer.realm()
        )
    );

    // skopeo pushes as alice (the seeding user) and gets pull,push.
    registry.seed(
        &images_dir().join("busybox-oci"),
        "busybox:latest",
        "library/busybox:latest",
    );
    let pushes: Vec<_> = issuer
        .requests()
        .into_iter()
        .filter(|r| r.user.as_deref() == Some("alice"))
        .collect();
    assert!(
        pushes.iter().any(|r| r
            .granted
            .iter()
            .any(|g| g.to_string() == "repository:library/busybox:pull,push")),
        "{pushes:#?}"
    );

    // Anonymous pull works; the request carried no credentials and got pull only.
    issuer.clear_requests();
    let reference = format!("docker://{}/library/busybox:latest", registry.host());
    let output = registry.skopeo(&["inspect", "--tls-verify=false", &reference]);
    assert!(output.status.success(), "{}", stderr(&output));
    let requests = issuer.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.user, None);
        assert!(!request.authorization);
        assert_eq!(request.scopes, ["repository:library/busybox:pull"]);
        assert_eq!(request.granted[0].actions, ["pull"]);
    }

    // bob may pull, not push.
    let output = registry.skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds=bob:bob-secret",
        &format!(
            "oci:{}:busybox:latest",
            images_dir().join("busybox-oci").display()
        ),
        &format!("docker://{}/bob/busybox:latest", registry.host()),
    ]);
    assert!(!output.status.success(), "bob could push");

    // A wrong password: the issuer answers 401 and skopeo fails.
    issuer.clear_requests();
    let output = registry.skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds=alice:wrong",
        &reference,
    ]);
    assert!(!output.status.success());
    eprintln!("skopeo with a wrong password: {}", stderr(&output));
    assert!(issuer.requests().iter().any(|r| r.status == 401));
}

#[test]
fn token_auth_scope_upgrade_over_raw_http() {
    let registry = Registry::token_auth(
        TokenPolicy::new()
            .user("alice", "alice-secret", Access::PullPush)
            .anonymous_pull(true),
    );
    registry.seed(
        &images_dir().join("busybox-oci"),
        "busybox:latest",
        "library/busybox:latest",
    );
    let issuer = registry.token_issuer().unwrap();
    issuer.clear_requests();
    let issuer_host = issuer.host();
    let scope = "repository%3Alibrary%2Fbusybox%3Apull";

    // 1. An anonymous token for pull reads the manifest.
    let answer = http::request(
        &issuer_host,
        "GET",
        &format!("/token?service=berth-registry&scope={scope}"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(answer.status, 200);
    let body: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    let pull_token = body["token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {pull_token}");
    let accept = "application/vnd.oci.image.manifest.v1+json";
    let answer = http::request(
        &registry.host(),
        "HEAD",
        "/v2/library/busybox/manifests/latest",
        &[("Authorization", &bearer), ("Accept", accept)],
        b"",
    )
    .unwrap();
    assert_eq!(answer.status, 200, "{}", registry.log());

    // 2. Starting an upload with it is refused with a challenge for pull,push.
    let answer = http::request(
        &registry.host(),
        "POST",
        "/v2/library/busybox/blobs/uploads/",
        &[("Authorization", &bearer)],
        b"",
    )
    .unwrap();
    assert_eq!(answer.status, 401);
    let challenge = answer.header("www-authenticate").unwrap();
    // The registry lists the actions in no fixed order (seen both ways in CI).
    assert!(
        challenge.contains("scope=\"repository:library/busybox:pull,push\"")
            || challenge.contains("scope=\"repository:library/busybox:push,pull\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );

    // 3. Anonymous is not enough for push: the token grants pull only.
    let both = "scope=repository%3Alibrary%2Fbusybox%3Apull%2Cpush";
    let answer = http::request(
        &issuer_host,
        "GET",
        &format!("/token?service=berth-registry&{both}"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(answer.status, 200);

    // 4. With alice's credentials, two scope parameters (as for a cross-repository mount).
    let answer = http::request(
        &issuer_host,
        "GET",
        &format!(
            "/token?service=berth-registry&account=alice&{both}&scope=repository%3Aother%2Fimage%3Apull"
        ),
        &[("Authorization", &basic_auth("alice", "alice-secret"))],
        b"",
    )
    .unwrap();
    assert_eq!(answer.status, 200);
    let body: Value = serde_json::from_slice(&answer.body).unwrap();
    let push_token = body["token"].as_str().unwrap();
    let answer = http::request(
        &registry.host(),
        "POST",
        "/v2/library/busybox/blobs/uploads/",
        &[("Authorization", &format!("Bearer {push_token}"))],
        b"",
    )
    .unwrap();
    assert_eq!(answer.status, 202, "{}", registry.log());
    assert!(answer.header("location").is_some());

    // The issuer saw the upgrade: anonymous pull, anonymous pull+push (granted pull),
    // then alice with pull,push and a second scope.
    let requests = issuer.requests();
    let summary: Vec<String> = requests
        .iter()
        .map(|r| {
            let granted: Vec<String> = r.granted.iter().map(ToString::to_string).collect();
            format!(
                "{} {:?} -> {}",
                r.user.as_deref().unwrap_or("anonymous"),
                r.scopes,
                granted.join(" ")
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "anonymous [\"repository:library/busybox:pull\"] -> repository:library/busybox:pull",
            "anonymous [\"repository:library/busybox:pull,push\"] -> repository:library/busybox:pull",
            "alice [\"repository:library/busybox:pull,push\", \"repository:other/image:pull\"] -> \
             repository:library/busybox:pull,push repository:other/image:pull",
        ]
    );
    assert_eq!(requests[2].account.as_deref(), Some("alice"));

    // A token made directly works the same.
    let token = issuer.token_for(Some("alice"), &["repository:library/busybox:pull"]);
    let answer = http::request(
        &registry.host(),
        "GET",
        &format!("/v2/library/busybox/blobs/{}", busybox_layer()),
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    )
    .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        layout_blob(&images_dir().join("busybox-oci"), &busybox_layer())
    );
}

#[test]
fn token_auth_without_anonymous_pull_needs_credentials() {
    let registry =
        Registry::token_auth(TokenPolicy::new().user("alice", "alice-secret", Access::PullPush));
    registry.seed(
        &images_dir().join("busybox-oci"),
        "busybox:latest",
        "library/busybox:latest",
    );
    let reference = format!("docker://{}/library/busybox:latest", registry.host());
    let output = registry.skopeo(&["inspect", "--tls-verify=false", &reference]);
    assert!(!output.status.success());
    eprintln!(
        "skopeo anonymous against a private registry: {}",
        stderr(&output)
    );
    let output = registry.skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds=alice:alice-secret",
        &reference,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn token_issuer_answers_oauth_posts_and_unknown_paths() {
    let registry =
        Registry::token_auth(TokenPolicy::new().user("alice", "alice-secret", Access::PullPush));
    let issuer = registry.token_issuer().unwrap();
    let form = "grant_type=password&username=alice&password=alice-secret&service=berth-registry\
                &scope=repository%3Ax%3Apull&client_id=berth&access_type=offline";
    let answer = http::request(
        &issuer.host(),
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body: Value = serde_json::from_slice(&answer.body).unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();

    let form = format!(
        "grant_type=refresh_token&refresh_token={refresh}&service=berth-registry\
         &scope=repository%3Ax%3Apull%2Cpush&client_id=berth"
    );
    let answer = http::request(&issuer.host(), "POST", "/token", &[], form.as_bytes()).unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let last = issuer.requests().pop().unwrap();
    assert_eq!(last.user.as_deref(), Some("alice"));
    assert_eq!(last.granted[0].to_string(), "repository:x:pull,push");

    let answer = http::request(
        &issuer.host(),
        "POST",
        "/token",
        &[],
        b"grant_type=password&username=alice&password=nope",
    )
    .unwrap();
    assert_eq!(answer.status, 401);
    let answer = http::request(&issuer.host(), "POST", "/token", &[], b"grant_type=magic").unwrap();
    assert_eq!(answer.status, 400);
    assert!(answer.text().contains("unsupported grant_type"));
    let answer = http::request(&issuer.host(), "GET", "/v2/", &[], b"").unwrap();
    assert_eq!(answer.status, 404);
}

#[test]
fn basic_auth_registry_wants_the_right_password() {
    let registry = Registry::basic_auth(&[("alice", "alice-secret")]);
    let answer = http::request(&registry.host(), "GET", "/v2/", &[], b"").unwrap();
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Basic realm=\"berth-registry\"")
    );
    let answer = http::request(
        &registry.host(),
        "GET",
        "/v2/",
        &[("Authorization", &basic_auth("alice", "alice-secret"))],
        b"",
    )
    .unwrap();
    assert_eq!(answer.status, 200);

    registry.seed(
        &images_dir().join("busybox-oci"),
        "busybox:latest",
        "library/busybox:latest",
    );
    let reference = format!("docker://{}/library/busybox:latest", registry.host());
    let output = registry.skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds=alice:alice-secret",
        &reference,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    for creds in [&["--creds=alice:wrong"][..], &[]] {
        let mut args = vec!["inspect", "--tls-verify=false"];
        args.extend(creds);
        args.push(&reference);
        let output = registry.skopeo(&args);
        assert!(!output.status.success(), "skopeo {args:?} got in");
    }
}

#[test]
fn proxy_forwards_pulls_and_pushes_and_logs_them() {
    let registry = seeded_anonymous_registry();
    let proxy = FaultyProxy::start(&registry);
    let out = berth_tests::test_dir("proxy-pull");
    let layout = out.path().join("layout");
    let output = registry.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/library/busybox:latest", proxy.host()),
        &format!("oci:{}:busybox:latest", layout.display()),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let log = proxy.log_text();
    eprintln!("skopeo copy through the proxy:\n{log}");
    let layer_get = format!("GET /v2/library/busybox/blobs/{} -> 200", busybox_layer());
    assert!(log.contains(&layer_get), "{log}");

    // A push through the proxy: uploads carry bodies the other way.
    proxy.clear_requests();
    let output = registry.skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!(
            "oci:{}:layered:latest",
            images_dir().join("layered-oci").display()
        ),
        &format!("docker://{}/pushed/layered:v1", proxy.host()),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let pushes = proxy.requests();
    assert!(
        pushes
            .iter()
            .any(|r| r.method == "PUT" && r.status == Some(201)),
        "{}",
        proxy.log_text()
    );
    assert_eq!(
        registry.manifest("pushed/layered:v1"),
        layout_blob(
            &images_dir().join("layered-oci"),
            &layout_entry_digest(&images_dir().join("layered-oci"))
        )
    );
}

#[test]
fn proxy_corrupts_one_byte_of_one_blob_once() {
    let registry = seeded_anonymous_registry();
    let proxy = FaultyProxy::start(&registry);
    let layer = busybox_layer();
    proxy.add(FaultRule::new(&layer, Fault::Corrupt { offset: 1000 }).times(1));
    let target = format!("/v2/library/busybox/blobs/{layer}");
    let original = layout_blob(&images_dir().join("busybox-oci"), &layer);

    let answer = http::request(&proxy.host(), "GET", &target, &[], b"").unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-length"),
        Some(original.len().to_string().as_str())
    );
    assert_eq!(answer.body.len(), original.len());
    let differing: Vec<usize> = (0..original.len())
        .filter(|&i| answer.body[i] != original[i])
        .collect();
    assert_eq!(differing, [1000]);

    // Used up: the next download is intact.
    let answer = http::request(&proxy.host(), "GET", &target, &[], b"").unwrap();
    assert_eq!(answer.body, original);

    // skopeo notices the digest mismatch.
    proxy.add(FaultRule::new(&layer, Fault::Corrupt { offset: 1000 }).times(1));
    let out = berth_tests::test_dir("proxy-corrupt");
    let output = registry.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/library/busybox:latest", proxy.host()),
        &format!("oci:{}:busybox:latest", out.path().join("layout").display()),
    ]);
    eprintln!("skopeo through a corrupting proxy: {}", stderr(&output));
    eprintln!("{}", proxy.log_text());
    assert!(!output.status.success(), "skopeo accepted a corrupt layer");
    assert_eq!(proxy.rules()[1].times, Some(0));
}

#[test]
fn proxy_truncates_a_blob_and_closes() {
    let registry = seeded_anonymous_registry();
    let proxy = FaultyProxy::start(&registry);
    proxy.fault("/blobs/", Fault::Truncate { keep: 4096 });
    let target = format!("/v2/library/busybox/blobs/{}", busybox_layer());
    let answer = http::request(&proxy.host(), "GET", &target, &[], b"").unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.is_truncated());
    assert_eq!(answer.body.len(), 4096);
    // HEAD and manifests are not touched.
    let answer = http::request(&proxy.host(), "HEAD", &target, &[], b"").unwrap();
    assert_eq!(answer.status, 200);
    let log = proxy.requests();
    assert_eq!(log[0].fault, Some("truncate"));
    assert_eq!(log[0].body_bytes, 4096);
    assert_eq!(log[1].fault, None);
}

#[test]
fn proxy_answers_429_the_first_times_then_forwards() {
    let registry = seeded_anonymous_registry();
    let proxy = FaultyProxy::start(&registry);
    proxy.add(FaultRule::new("/manifests/", Fault::TooManyRequests).times(2));
    let target = "/v2/library/busybox/manifests/latest";
    let accept = [("Accept", "application/vnd.oci.image.manifest.v1+json")];
    for _ in 0..2 {
        let answer = http::request(&proxy.host(), "GET", target, &accept, b"").unwrap();
        assert_eq!(answer.status, 429);
        let body: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    }
    let answer = http::request(&proxy.host(), "GET", target, &accept, b"").unwrap();
    assert_eq!(answer.status, 200);

    // What skopeo makes of a 429.
    proxy.add(FaultRule::new("/manifests/", Fault::TooManyRequests).times(1));
    let output = registry.skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/library/busybox:latest", proxy.host()),
    ]);
    eprintln!(
        "skopeo after one 429: success={} {}\n{}",
        output.status.success(),
        stderr(&output),
        proxy.log_text()
    );
}

#[test]
fn proxy_redirects_blobs_to_another_port_with_a_signed_url() {
    let registry =
        Registry::token_auth(TokenPolicy::new().user("alice", "alice-secret", Access::PullPush));
    registry.seed(
        &images_dir().join("busybox-oci"),
        "busybox:latest",
        "library/busybox:latest",
    );
    let proxy = FaultyProxy::start(&registry);
    proxy.fault("/blobs/", Fault::Redirect);
    let layer = busybox_layer();
    let token = registry
        .token_issuer()
        .unwrap()
        .token_for(Some("alice"), &["repository:library/busybox:pull"]);
    let bearer = format!("Bearer {token}");
    let target = format!("/v2/library/busybox/blobs/{layer}");

    // Without a token the registry's 401 comes through: no redirect before auth.
    let answer = http::request(&proxy.host(), "GET", &target, &[], b"").unwrap();
    assert_eq!(answer.status, 401);

    let answer = http::request(
        &proxy.host(),
        "GET",
        &target,
        &[("Authorization", &bearer)],
        b"",
    )
    .unwrap();
    assert_eq!(answer.status, 307);
    let location = answer.header("location").unwrap().to_owned();
    let prefix = format!("http://{}{target}?berth-signature=", proxy.redirect_host());
    assert!(location.starts_with(&prefix), "{location}");

    // The signed URL works without credentials, as a CDN's does.
    let path = location
        .strip_prefix(&format!("http://{}", proxy.redirect_host()))
        .unwrap();
    let answer = http::request(&proxy.redirect_host(), "GET", path, &[], b"").unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        layout_blob(&images_dir().join("busybox-oci"), &layer)
    );
    // Without the signature it does not.
    let answer = http::request(&proxy.redirect_host(), "GET", &target, &[], b"").unwrap();
    assert_eq!(answer.status, 403);

    let redirected: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Redirect)
        .collect();
    assert_eq!(redirected.len(), 2);
    assert!(!redirected[0].authorization);

    // skopeo follows the redirect; the log says whether it sent its token across.
    proxy.clear_requests();
    let out = berth_tests::test_dir("proxy-redirect");
    let output = registry.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds=alice:alice-secret",
        &format!("docker://{}/library/busybox:latest", proxy.host()),
        &format!("oci:{}:busybox:latest", out.path().join("layout").display()),
    ]);
    eprintln!("skopeo through a redirecting proxy:\n{}", proxy.log_text());
    assert!(output.status.success(), "{}", stderr(&output));
    let followed: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Redirect)
        .collect();
    assert_eq!(followed.len(), 2, "config and layer, both redirected");
    assert!(followed.iter().all(|r| r.status == Some(200)));
    // skopeo (Go's HTTP client) drops Authorization when the redirect changes host:port.
    assert!(followed.iter().all(|r| !r.authorization));
}

#[test]
fn proxy_drops_connections_and_reports_a_dead_registry() {
    let registry = seeded_anonymous_registry();
    let proxy = FaultyProxy::start(&registry);
    proxy.fault("", Fault::Drop);
    let error = http::request(&proxy.host(), "GET", "/v2/", &[], b"").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    assert_eq!(proxy.requests()[0].status, None);
    proxy.clear_faults();
    assert_eq!(
        http::request(&proxy.host(), "GET", "/v2/", &[], b"")
            .unwrap()
            .status,
        200
    );

    // Nothing listens at a dead host.
    let dead = proxy::dead_host();
    let error = http::request(&dead, "GET", "/v2/", &[], b"").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);

    // A proxy in front of a dead registry answers 502.
    let orphan = FaultyProxy::to(&dead);
    let answer = http::request(&orphan.host(), "GET", "/v2/", &[], b"").unwrap();
    assert_eq!(answer.status, 502);
    assert!(answer.text().contains("is down"));
}
