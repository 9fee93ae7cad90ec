//! Authentication against the real registry: Bearer tokens from a token server the registry
//! trusts, and htpasswd Basic auth.

mod support;

use support::{Access, Ch03, Registry, TokenPolicy, seeded};

fn token_registry() -> Registry {
    seeded(Registry::token_auth(
        TokenPolicy::new()
            .user("alice", "wonderland", Access::PullPush)
            .user("bob", "builder", Access::Pull)
            .anonymous_pull(true),
    ))
}

/// A registry whose token server gives nothing to anonymous users.
fn private_registry() -> Registry {
    seeded(Registry::token_auth(
        TokenPolicy::new()
            .user("alice", "wonderland", Access::PullPush)
            .anonymous_pull(false),
    ))
}

/// Anonymous pull gets an anonymous token for `pull` only, once, and uses it for every
/// request of the pull.
#[test]
fn anonymous_pull_with_a_token() {
    let registry = token_registry();
    let issuer = registry.token_issuer().unwrap();
    issuer.clear_requests();
    let ch03 = Ch03::new("anon");
    ch03.run(&["pull", &format!("{}/library/busybox", registry.host())])
        .ok();
    let requests = issuer.requests();
    assert_eq!(
        requests.len(),
        1,
        "one token for the whole pull: {requests:?}"
    );
    assert_eq!(requests[0].user, None);
    assert_eq!(requests[0].scopes, ["repository:library/busybox:pull"]);
}

/// `login` stores credentials (in Docker's format) only when the registry accepts them; a
/// push then gets a `pull,push` token; a wrong password is refused with the registry's words.
#[test]
fn login_then_push_with_a_token() {
    let registry = token_registry();
    let host = registry.host();
    let ch03 = Ch03::new("login");
    let out = ch03.run_with_input(
        &["login", "-u", "alice", "--password-stdin", &host],
        "nope\n",
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("unauthorized"), "{}", out.stderr);
    assert!(
        !ch03.config_dir().join("config.json").exists(),
        "nothing stored for a refused login"
    );

    let out = ch03
        .run_with_input(
            &["login", "-u", "alice", "--password-stdin", &host],
            "wonderland\n",
        )
        .ok();
    assert_eq!(out.stdout, "Login Succeeded\n");
    let config = std::fs::read_to_string(ch03.config_dir().join("config.json")).unwrap();
    assert!(
        config.contains(&host) && config.contains("YWxpY2U6d29uZGVybGFuZA=="),
        "{config}"
    );

    // Pull, then push to the same repository: the push needs a wider scope, and gets it.
    let issuer = registry.token_issuer().unwrap();
    issuer.clear_requests();
    let source = format!("{host}/library/busybox");
    let target = format!("{host}/alice/copy:1");
    ch03.run(&["pull", &source]).ok();
    ch03.run(&["tag", &source, &target]).ok();
    let out = ch03.run(&["push", &target]).ok();
    assert!(out.stdout.contains("1: digest: sha256:"), "{}", out.stdout);
    let grants: Vec<String> = issuer
        .requests()
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(|r| r.granted.iter().map(|g| g.to_string()))
        .collect();
    assert!(
        grants.contains(&"repository:library/busybox:pull".to_owned()),
        "{grants:?}"
    );
    assert!(
        grants.contains(&"repository:alice/copy:pull,push".to_owned()),
        "{grants:?}"
    );
    assert!(
        issuer
            .requests()
            .iter()
            .all(|r| r.user.as_deref() == Some("alice"))
    );

    // And logout forgets.
    assert_eq!(
        ch03.run(&["logout", &host]).ok().stdout,
        format!("Removing login credentials for {host}\n")
    );
    let out = ch03.run(&["push", &target]);
    assert_eq!(out.code, 125);
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
}

/// A user allowed to pull only cannot push: the error says so.
#[test]
fn a_pull_only_user_cannot_push() {
    let registry = token_registry();
    let host = registry.host();
    let ch03 = Ch03::new("bob");
    ch03.run_with_input(
        &["login", "-u", "bob", "--password-stdin", &host],
        "builder\n",
    )
    .ok();
    let source = format!("{host}/library/busybox");
    ch03.run(&["pull", &source]).ok();
    let target = format!("{host}/bob/copy:1");
    ch03.run(&["tag", &source, &target]).ok();
    let out = ch03.run(&["push", &target]);
    assert_eq!(out.code, 125, "{}", out.stdout);
    assert!(
        out.stderr.contains("push to bob/copy was refused"),
        "{}",
        out.stderr
    );
}

/// Without anonymous pull, pulling needs a login: Docker's "pull access denied" message.
#[test]
fn private_repositories_need_a_login() {
    let registry = private_registry();
    let host = registry.host();
    let ch03 = Ch03::new("private");
    let reference = format!("{host}/library/busybox");
    let out = ch03.run(&["pull", &reference]);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr
            .contains("pull access denied for library/busybox"),
        "{}",
        out.stderr
    );
    ch03.run_with_input(
        &["login", "-u", "alice", "--password-stdin", &host],
        "wonderland\n",
    )
    .ok();
    ch03.run(&["pull", &reference]).ok();
}

/// htpasswd Basic auth: every request carries the credentials.
#[test]
fn basic_auth_registry() {
    let registry = seeded(Registry::basic_auth(&[("carol", "secret")]));
    let host = registry.host();
    let ch03 = Ch03::new("basic");
    let reference = format!("{host}/library/busybox");
    let out = ch03.run(&["pull", &reference]);
    assert_eq!(out.code, 125, "{}", out.stdout);
    let out = ch03.run_with_input(
        &["login", "-u", "carol", "--password-stdin", &host],
        "wrong\n",
    );
    assert_eq!(out.code, 1);
    ch03.run_with_input(
        &["login", "-u", "carol", "--password-stdin", &host],
        "secret\n",
    )
    .ok();
    ch03.run(&["pull", &reference]).ok();
    let target = format!("{host}/carol/copy:2");
    ch03.run(&["tag", &reference, &target]).ok();
    ch03.run(&["push", &target]).ok();
}

/// Writes `auths.<host>` of the test's credentials file, as another tool would have.
fn store_entry(ch03: &Ch03, host: &str, entry: serde_json::Value) {
    std::fs::create_dir_all(ch03.config_dir()).unwrap();
    let config = serde_json::json!({ "auths": { host: entry } });
    std::fs::write(ch03.config_dir().join("config.json"), config.to_string()).unwrap();
}

/// An identity token (an OAuth2 refresh token, as `az acr login` or a `docker login` that got
/// one stores it) is traded at the token server with `grant_type=refresh_token`: no password is
/// sent anywhere, and the push still gets its `pull,push` token. A token the server does not
/// know is refused in the server's words.
#[test]
fn an_identity_token_is_traded_for_access_tokens() {
    use base64::Engine;
    let registry = token_registry();
    let host = registry.host();
    let issuer = registry.token_issuer().unwrap();
    let ch03 = Ch03::new("identity");
    let user_only = base64::engine::general_purpose::STANDARD.encode("alice:");
    let refresh = issuer.refresh_token_for("alice");
    store_entry(
        &ch03,
        &host,
        serde_json::json!({"auth": user_only, "identitytoken": refresh}),
    );

    issuer.clear_requests();
    let source = format!("{host}/library/busybox");
    let target = format!("{host}/alice/identity:1");
    ch03.run(&["pull", &source]).ok();
    ch03.run(&["tag", &source, &target]).ok();
    let out = ch03.run(&["push", &target]).ok();
    assert!(out.stdout.contains("1: digest: sha256:"), "{}", out.stdout);
    let requests = issuer.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.method, "POST", "{request:?}");
        assert_eq!(request.grant_type.as_deref(), Some("refresh_token"));
        assert_eq!(request.user.as_deref(), Some("alice"), "{request:?}");
        assert!(!request.authorization, "no password is sent: {request:?}");
    }
    let grants: Vec<String> = requests
        .iter()
        .flat_map(|r| r.granted.iter().map(|g| g.to_string()))
        .collect();
    assert!(
        grants.contains(&"repository:alice/identity:pull,push".to_owned()),
        "{grants:?}"
    );

    store_entry(
        &ch03,
        &host,
        serde_json::json!({"auth": user_only, "identitytoken": "forged"}),
    );
    let out = ch03.run(&["pull", &source]);
    assert_eq!(out.code, 125, "{}", out.stdout);
    assert!(
        out.stderr.contains("unknown refresh token"),
        "{}",
        out.stderr
    );
}

/// A registry token is a bearer token for the registry itself: it is sent as it is, and the
/// token server is never asked. (Without it, this registry refuses anonymous pulls.)
#[test]
fn a_registry_token_is_sent_as_it_is() {
    let registry = private_registry();
    let host = registry.host();
    let issuer = registry.token_issuer().unwrap();
    let token = issuer.token_for(Some("alice"), &["repository:library/busybox:pull"]);
    let ch03 = Ch03::new("registry-token");
    store_entry(&ch03, &host, serde_json::json!({"registrytoken": token}));
    issuer.clear_requests();
    ch03.run(&["pull", &format!("{host}/library/busybox")]).ok();
    assert_eq!(issuer.requests(), [], "the token server was asked");
}
