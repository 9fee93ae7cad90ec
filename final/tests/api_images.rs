//! Image endpoints against a real registry (`docker-registry` on loopback): pull with
//! Docker's progress stream, list, inspect, tag, push and pull back, remove; and
//! `X-Registry-Auth` and `/auth` against a registry with basic auth, and identity and registry
//! tokens against one with token auth.

mod api_support;

use api_support::{Berthd, registry_auth};
use berth_tests::registry::{Registry, images_dir};
use serde_json::Value;

/// The statuses of a progress stream, in order.
fn statuses(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| m["status"].as_str().map(str::to_owned))
        .collect()
}

fn pull(daemon: &Berthd, from: &str, tag: &str, auth: Option<&str>) -> api_support::Raw {
    let target = format!("/v1.50/images/create?fromImage={from}&tag={tag}");
    let headers: Vec<(&str, &str)> = auth.map(|a| ("X-Registry-Auth", a)).into_iter().collect();
    daemon.request("POST", &target, &headers, b"")
}

#[test]
fn pull_list_inspect_tag_push_and_remove() {
    let registry = Registry::anonymous();
    registry.seed(
        &images_dir().join("busybox-oci"),
        "busybox:latest",
        "library/busybox:latest",
    );
    let host = registry.host();
    let daemon = Berthd::start("images", &[]);

    // Pull, as the CLI sends it (normalised, anonymous auth).
    let first = pull(
        &daemon,
        &format!("{host}/library/busybox"),
        "latest",
        Some("e30="),
    );
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.header("transfer-encoding"), Some("chunked"));
    let messages = first.json_stream();
    // dockerd names the repository by its path, without the registry.
    assert_eq!(messages[0]["status"], "Pulling from library/busybox");
    assert_eq!(messages[0]["id"], "latest");
    let all = statuses(&messages);
    assert!(all.iter().any(|s| s == "Pulling fs layer"), "{all:?}");
    assert!(all.iter().any(|s| s == "Pull complete"), "{all:?}");
    assert!(
        messages.iter().any(|m| m["status"] == "Downloading"
            && m["progressDetail"]["total"].as_u64().is_some_and(|t| t > 0)),
        "{all:?}"
    );
    let digest = all
        .iter()
        .find_map(|s| s.strip_prefix("Digest: "))
        .expect("a Digest line")
        .to_owned();
    assert!(digest.starts_with("sha256:"));
    assert_eq!(
        all.last().unwrap(),
        &format!("Status: Downloaded newer image for {host}/library/busybox:latest")
    );
    assert!(messages.iter().all(|m| m.get("errorDetail").is_none()));

    // Again: up to date, and docker-py's unnormalised form with no auth header.
    let again = pull(&daemon, &format!("{host}/library/busybox"), "latest", None);
    let all = statuses(&again.json_stream());
    assert_eq!(
        all.last().unwrap(),
        &format!("Status: Image is up to date for {host}/library/busybox:latest")
    );

    // List, with the CLI's and docker-py's filter forms.
    let name = format!("{host}/library/busybox:latest");
    let list = daemon.get("/v1.50/images/json").json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let id = list[0]["Id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sha256:"));
    assert_eq!(list[0]["RepoTags"][0], name);
    assert_eq!(
        list[0]["RepoDigests"][0],
        format!("{host}/library/busybox@{digest}")
    );
    assert!(list[0]["Created"].is_u64() && list[0]["Size"].as_u64().unwrap() > 0);
    let filtered = |filters: &str| {
        let target = format!(
            "/v1.50/images/json?filters={}",
            filters
                .replace('"', "%22")
                .replace('{', "%7B")
                .replace('}', "%7D")
        );
        daemon.get(&target).json().as_array().unwrap().len()
    };
    assert_eq!(
        filtered(&format!(
            r#"{{"reference":{{"{host}/library/busybox":true}}}}"#
        )),
        1
    );
    assert_eq!(filtered(r#"{"reference":["nothing*"]}"#), 0);
    assert_eq!(filtered(r#"{"dangling":["true"]}"#), 0);
    assert_eq!(filtered(r#"{"dangling":{"false":true}}"#), 1);

    // Inspect: the name has '/' and ':' in the path.
    let inspect = daemon.get(&format!("/v1.50/images/{name}/json"));
    assert_eq!(inspect.status, 200, "{}", inspect.text());
    let inspect = inspect.json();
    assert_eq!(inspect["Id"], id.as_str());
    assert_eq!(inspect["Os"], "linux");
    assert!(
        inspect["RootFS"]["Layers"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    );
    assert!(inspect["Config"].is_object());
    let short = &id["sha256:".len().."sha256:".len() + 12];
    assert_eq!(
        daemon.get(&format!("/v1.50/images/{short}/json")).json()["Id"],
        id.as_str()
    );

    // Tag under another repository of the registry, and push it.
    let tag = daemon.request(
        "POST",
        &format!("/v1.50/images/{name}/tag?repo={host}/team/copy&tag=1.0"),
        &[],
        b"",
    );
    assert_eq!(tag.status, 201, "{}", tag.text());
    let copy = format!("{host}/team/copy:1.0");
    // Two names now; a reference filter lists only the matching one.
    let only = daemon.get(&format!(
        "/v1.50/images/json?filters=%7B%22reference%22%3A%5B%22{host}/team/copy%22%5D%7D"
    ));
    assert_eq!(
        only.json()[0]["RepoTags"],
        serde_json::json!([copy.clone()])
    );
    assert_eq!(
        daemon.get(&format!("/v1.50/images/{copy}/json")).json()["Id"],
        id.as_str()
    );
    let push = daemon.request(
        "POST",
        &format!("/v1.50/images/{host}/team/copy/push?tag=1.0"),
        &[("X-Registry-Auth", "e30=")],
        b"",
    );
    assert_eq!(push.status, 200, "{}", push.text());
    let messages = push.json_stream();
    let all = statuses(&messages);
    assert_eq!(
        all[0],
        format!("The push refers to repository [{host}/team/copy]")
    );
    assert!(all.iter().any(|s| s == "Preparing"), "{all:?}");
    let aux = messages.last().unwrap()["aux"].clone();
    assert_eq!(aux["Tag"], "1.0");
    let pushed = aux["Digest"].as_str().unwrap().to_owned();
    assert!(
        all.iter()
            .any(|s| s.starts_with(&format!("1.0: digest: {pushed} size: "))),
        "{all:?}"
    );
    // The registry has it, byte for byte under that digest.
    let manifest = registry.manifest("team/copy:1.0");
    assert_eq!(berth_images::Digest::of(&manifest).to_string(), pushed);

    // Remove both names: the first only untags, the second deletes.
    let untag = daemon.request("DELETE", &format!("/v1.50/images/{copy}"), &[], b"");
    assert_eq!(untag.status, 200, "{}", untag.text());
    assert_eq!(untag.json(), serde_json::json!([{"Untagged": copy}]));
    let delete = daemon.request("DELETE", &format!("/v1.50/images/{name}"), &[], b"");
    let delete = delete.json();
    assert_eq!(delete[0]["Untagged"], name);
    assert_eq!(delete[1]["Deleted"], id.as_str());
    assert_eq!(
        daemon.get("/v1.50/images/json").json(),
        serde_json::json!([])
    );

    // Pull back what was pushed.
    let back = pull(&daemon, &format!("{host}/team/copy"), "1.0", Some("e30="));
    let all = statuses(&back.json_stream());
    assert_eq!(
        all.last().unwrap(),
        &format!("Status: Downloaded newer image for {host}/team/copy:1.0")
    );
    assert_eq!(
        daemon.get("/v1.50/images/json").json()[0]["Id"],
        id.as_str()
    );

    // A repository that does not exist: an HTTP error before any progress, with the words
    // dockerd uses for this registry (which answers MANIFEST_UNKNOWN, not NAME_UNKNOWN).
    let missing = pull(&daemon, &format!("{host}/library/nothing"), "latest", None);
    assert_eq!(missing.status, 404, "{}", missing.text());
    assert_eq!(missing.header("content-type"), Some("application/json"));
    assert_eq!(
        missing.message(),
        format!(
            "manifest for {host}/library/nothing:latest not found: manifest unknown: manifest \
             unknown"
        )
    );
}

#[test]
fn registry_auth_is_honoured_for_pull_push_and_login() {
    let registry = Registry::basic_auth(&[("alice", "s3cret")]);
    registry.seed(
        &images_dir().join("busybox-oci"),
        "busybox:latest",
        "library/busybox:latest",
    );
    let host = registry.host();
    let daemon = Berthd::start("auth", &[]);
    let from = format!("{host}/library/busybox");

    // Anonymous: refused before any progress.
    let anonymous = pull(&daemon, &from, "latest", Some("e30="));
    assert!(
        (400..500).contains(&anonymous.status),
        "{}: {}",
        anonymous.status,
        anonymous.text()
    );
    let wrong = registry_auth("alice", "wrong", &host);
    let refused = pull(&daemon, &from, "latest", Some(&wrong));
    assert!((400..500).contains(&refused.status), "{}", refused.text());
    assert_eq!(
        daemon.get("/v1.50/images/json").json(),
        serde_json::json!([])
    );

    // With the credentials, padded (the CLI) or not.
    let good = registry_auth("alice", "s3cret", &host);
    let pulled = pull(&daemon, &from, "latest", Some(good.trim_end_matches('=')));
    assert_eq!(pulled.status, 200, "{}", pulled.text());
    let all = statuses(&pulled.json_stream());
    assert!(
        all.last()
            .unwrap()
            .starts_with("Status: Downloaded newer image"),
        "{all:?}"
    );

    // Push needs them too.
    let name = format!("{host}/library/busybox:latest");
    let tag = daemon.request(
        "POST",
        &format!("/v1.50/images/{name}/tag?repo={host}/alice/bb&tag=2"),
        &[],
        b"",
    );
    assert_eq!(tag.status, 201);
    let push = |auth: &str| {
        daemon.request(
            "POST",
            &format!("/v1.50/images/{host}/alice/bb/push?tag=2"),
            &[("X-Registry-Auth", auth)],
            b"",
        )
    };
    let denied = push("e30=");
    let denied_ok = denied.status >= 400
        || denied
            .json_stream()
            .iter()
            .any(|m| m.get("errorDetail").is_some());
    assert!(
        denied_ok,
        "an anonymous push went through: {}",
        denied.text()
    );
    let pushed = push(&good);
    assert_eq!(pushed.status, 200, "{}", pushed.text());
    let messages = pushed.json_stream();
    assert!(
        messages.iter().all(|m| m.get("errorDetail").is_none()),
        "{}",
        pushed.text()
    );
    assert!(messages.last().unwrap()["aux"]["Digest"].is_string());

    // docker login: the daemon checks, the client stores.
    let login = |password: &str| {
        daemon.post_json(
            "/v1.50/auth",
            &serde_json::json!({"username": "alice", "password": password, "serveraddress": host}),
        )
    };
    let ok = login("s3cret");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["Status"], "Login Succeeded");
    let bad = login("nope");
    assert_eq!(bad.status, 401, "{}", bad.text());
    assert_eq!(bad.header("content-type"), Some("application/json"));
}

/// `X-Registry-Auth` may carry an identity token (what the docker CLI sends after a login that
/// got one) or a registry token. berthd hands both to chapter 3 in memory: the first is traded
/// at the token server with `grant_type=refresh_token`, the second is sent as it is.
#[test]
fn registry_auth_with_identity_and_registry_tokens() {
    use base64::Engine;
    use berth_tests::token::{Access, TokenPolicy};
    let registry = Registry::token_auth(
        TokenPolicy::new()
            .user("alice", "wonderland", Access::PullPush)
            .anonymous_pull(false),
    );
    registry.seed(
        &images_dir().join("busybox-oci"),
        "busybox:latest",
        "library/busybox:latest",
    );
    let host = registry.host();
    let issuer = registry.token_issuer().unwrap();
    let daemon = Berthd::start("auth-tokens", &[]);
    let from = format!("{host}/library/busybox");
    let header = |json: Value| base64::engine::general_purpose::URL_SAFE.encode(json.to_string());
    let failed = |raw: &api_support::Raw| {
        raw.status != 200
            || raw
                .json_stream()
                .iter()
                .any(|m| m.get("errorDetail").is_some())
    };

    let refresh = issuer.refresh_token_for("alice");
    let identity = header(serde_json::json!({
        "username": "alice", "identitytoken": refresh, "serveraddress": host,
    }));
    issuer.clear_requests();
    let pulled = pull(&daemon, &from, "latest", Some(&identity));
    assert!(!failed(&pulled), "{}: {}", pulled.status, pulled.text());
    let requests = issuer.requests();
    assert!(
        !requests.is_empty()
            && requests.iter().all(|r| {
                r.grant_type.as_deref() == Some("refresh_token")
                    && r.user.as_deref() == Some("alice")
            }),
        "{requests:?}"
    );

    let token = issuer.token_for(Some("alice"), &["repository:library/busybox:pull"]);
    let bearer = header(serde_json::json!({"registrytoken": token}));
    issuer.clear_requests();
    let pulled = pull(&daemon, &from, "latest", Some(&bearer));
    assert!(!failed(&pulled), "{}: {}", pulled.status, pulled.text());
    assert_eq!(issuer.requests(), [], "the token server was asked");

    // A forged identity token is the registry's refusal, not a 400 about the header.
    let forged = header(serde_json::json!({"username": "alice", "identitytoken": "forged"}));
    let refused = pull(&daemon, &from, "latest", Some(&forged));
    assert!(failed(&refused), "{}", refused.text());
    assert!(
        refused.text().contains("unknown refresh token"),
        "{}",
        refused.text()
    );
}
