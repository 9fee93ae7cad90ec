//! A proxy in front of the real registry that breaks things: each fault ends in the right
//! error (with the store unchanged) or in a clean retry.

mod support;

use support::{
    Access, Ch03, Fault, FaultRule, FaultyProxy, Listener, Registry, TokenPolicy, redact, seeded,
};

/// Pulls the layered image through `proxy`; returns the output.
fn pull_through(ch03: &Ch03, proxy: &FaultyProxy) -> support::Output {
    ch03.run(&["pull", &format!("{}/x/layered:1", proxy.host())])
}

/// The first layer blob of the layered image, as a path fragment for fault rules.
fn first_layer(registry: &Registry) -> String {
    let manifest: serde_json::Value =
        serde_json::from_slice(&registry.manifest("x/layered:1")).unwrap();
    format!(
        "/blobs/{}",
        manifest["layers"][0]["digest"].as_str().unwrap()
    )
}

#[test]
fn a_corrupted_blob_is_refused_and_nothing_is_stored() {
    let registry = seeded(Registry::anonymous());
    let proxy = FaultyProxy::start(&registry);
    proxy.add(FaultRule::new(
        &first_layer(&registry),
        Fault::Corrupt { offset: 1000 },
    ));
    let ch03 = Ch03::new("corrupt");
    ch03.run(&["images"]).ok(); // The store exists, empty.
    let before = ch03.store_listing();
    let out = pull_through(&ch03, &proxy);
    assert_eq!(out.code, 125, "{}", out.stdout);
    let host = proxy.host();
    let error = redact(
        &out.stderr,
        &[(&host, "$PROXY")],
        ch03.root().parent().unwrap(),
    );
    insta::assert_snapshot!("corrupt_blob", error);
    assert_eq!(
        ch03.store_listing(),
        before,
        "a failed pull changed the store"
    );
}

/// A body cut short once is retried cleanly; cut short every time, it is an error that
/// names the layer, and the store is unchanged.
#[test]
fn a_truncated_blob_is_retried_then_refused() {
    let registry = seeded(Registry::anonymous());
    let proxy = FaultyProxy::start(&registry);
    let layer = first_layer(&registry);
    proxy.add(FaultRule::new(&layer, Fault::Truncate { keep: 4096 }).times(1));
    let ch03 = Ch03::new("truncate-once");
    let out = pull_through(&ch03, &proxy).ok();
    assert!(
        out.stdout.contains("Retrying (attempt 2)"),
        "{}",
        out.stdout
    );
    ch03.run(&[
        "run",
        "--rm",
        &format!("{}/x/layered:1", proxy.host()),
        "true",
    ])
    .ok();

    proxy.clear_faults();
    proxy.add(FaultRule::new(&layer, Fault::Truncate { keep: 4096 }));
    let again = Ch03::new("truncate-always");
    again.run(&["images"]).ok();
    let before = again.store_listing();
    let out = pull_through(&again, &proxy);
    assert_eq!(out.code, 125, "{}", out.stdout);
    let host = proxy.host();
    let error = redact(
        &out.stderr,
        &[(&host, "$PROXY")],
        again.root().parent().unwrap(),
    );
    insta::assert_snapshot!("truncated_blob", error);
    assert_eq!(again.store_listing(), before);
}

/// 429 on a layer: retried, and the pull completes. 429 on the manifest: Docker's
/// "toomanyrequests" error.
#[test]
fn rate_limits() {
    let registry = seeded(Registry::anonymous());
    let proxy = FaultyProxy::start(&registry);
    proxy.add(FaultRule::new(&first_layer(&registry), Fault::TooManyRequests).times(1));
    let ch03 = Ch03::new("429-blob");
    pull_through(&ch03, &proxy).ok();

    proxy.clear_faults();
    proxy.add(FaultRule::new("/manifests/", Fault::TooManyRequests));
    let other = Ch03::new("429-manifest");
    let out = pull_through(&other, &proxy);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr.starts_with("ch03: toomanyrequests:"),
        "{}",
        out.stderr
    );
}

/// Blobs redirected to another host:port (as to a CDN) are followed, and our token does not
/// go along: the redirected requests carry no Authorization.
#[test]
fn redirects_are_followed_without_our_credentials() {
    let registry = seeded(Registry::token_auth(
        TokenPolicy::new()
            .user("alice", "wonderland", Access::PullPush)
            .anonymous_pull(true),
    ));
    let proxy = FaultyProxy::start(&registry);
    proxy.add(FaultRule::new("/blobs/", Fault::Redirect));
    let ch03 = Ch03::new("redirect");
    pull_through(&ch03, &proxy).ok();
    let requests = proxy.requests();
    let redirected: Vec<_> = requests
        .iter()
        .filter(|r| r.listener == Listener::Redirect)
        .collect();
    assert_eq!(
        redirected.len(),
        5,
        "config and four layers: {}",
        proxy.log_text()
    );
    assert!(
        redirected.iter().all(|r| !r.authorization),
        "{}",
        proxy.log_text()
    );
    assert!(
        requests
            .iter()
            .any(|r| r.listener == Listener::Proxy && r.authorization),
        "the registry itself got the token: {}",
        proxy.log_text()
    );
}

/// The registry goes away in the middle of a pull (connections dropped): a clear error.
#[test]
fn a_registry_that_drops_connections() {
    let registry = seeded(Registry::anonymous());
    let proxy = FaultyProxy::start(&registry);
    proxy.add(FaultRule::new("/blobs/", Fault::Drop));
    let ch03 = Ch03::new("drop");
    ch03.run(&["images"]).ok();
    let before = ch03.store_listing();
    let out = pull_through(&ch03, &proxy);
    assert_eq!(out.code, 125, "{}", out.stdout);
    assert!(
        out.stderr.contains("cannot reach the registry"),
        "{}",
        out.stderr
    );
    assert_eq!(ch03.store_listing(), before);
}
