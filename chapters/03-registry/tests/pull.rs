//! Pulling from the reference registry on loopback: plain, multi-platform, by mirror, by
//! digest, and what the user sees.

mod support;

use support::{Ch03, Registry, images_dir, redact, seeded};

#[test]
fn pull_shows_progress_like_docker_and_runs() {
    let registry = seeded(Registry::anonymous());
    let host = registry.host();
    let ch03 = Ch03::new("pull");
    let reference = format!("{host}/library/busybox");
    let out = ch03.run(&["pull", &reference]).ok();
    let shown = redact(
        &out.stdout,
        &[(&host, "$REGISTRY")],
        ch03.root().parent().unwrap(),
    );
    insta::assert_snapshot!("pull_progress", shown);

    // Pulled again: nothing new.
    let out = ch03.run(&["pull", &reference]).ok();
    assert!(
        out.stdout.contains("Status: Image is up to date for"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(": Already exists"), "{}", out.stdout);

    let out = ch03
        .run(&["run", "--rm", &reference, "echo", "hi from the registry"])
        .ok();
    assert_eq!(out.stdout, "hi from the registry\n");
}

#[test]
fn a_multi_layer_image_with_whiteouts_arrives_intact() {
    let registry = seeded(Registry::anonymous());
    let ch03 = Ch03::new("layered");
    let reference = format!("{}/x/layered:1", registry.host());
    let out = ch03.run(&["pull", &reference]).ok();
    assert_eq!(
        out.stdout.matches(": Pull complete").count(),
        4,
        "{}",
        out.stdout
    );
    let probe = "ls /data/replaced; test -e /etc/hostname || echo whited-out";
    let out = ch03
        .run(&["run", "--rm", &reference, "sh", "-c", probe])
        .ok();
    assert_eq!(out.stdout, "new\nwhited-out\n");
}

/// `run` of an image that is not in the store pulls it first, as `docker run` does.
#[test]
fn run_pulls_a_missing_image() {
    let registry = seeded(Registry::anonymous());
    let ch03 = Ch03::new("run-pull");
    let reference = format!("{}/library/busybox:latest", registry.host());
    let out = ch03.run(&["run", "--rm", &reference, "true"]).ok();
    assert!(
        out.stderr.contains("Unable to find image"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Pull complete"), "{}", out.stderr);
}

/// From a multi-platform index, this machine's platform; with `--platform` another one;
/// the attestation entry is never chosen, and a platform the index lacks is an error.
#[test]
fn platforms_are_picked_from_an_index() {
    let registry = Registry::anonymous();
    registry.seed_all(
        &images_dir().join("multi-oci"),
        "multi:latest",
        "multi/app:latest",
    );
    let reference = format!("{}/multi/app:latest", registry.host());

    let ch03 = Ch03::new("multi");
    ch03.run(&["pull", &reference]).ok();
    let native = std::fs::read_dir(ch03.root().join("images"))
        .unwrap()
        .count();
    assert_eq!(native, 1);
    let out = ch03
        .run(&["pull", "--platform", "linux/arm64", &reference])
        .ok();
    assert!(
        out.stdout.contains("Downloaded newer image"),
        "{}",
        out.stdout
    );
    // Two different images now: their configs differ in `architecture`.
    let configs: Vec<String> = std::fs::read_dir(ch03.root().join("images"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(configs.len(), 2);

    let out = ch03.run(&["pull", "--platform", "linux/s390x", &reference]);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr
            .contains("no matching manifest for linux/s390x in the manifest list entries"),
        "{}",
        out.stderr
    );
    let out = ch03.run(&["pull", "--platform", "unknown/unknown", &reference]);
    assert_eq!(
        out.code, 125,
        "the attestation must never be pulled as an image"
    );
}

/// A mirror stands in for Docker Hub: `busybox` means `docker.io/library/busybox`, and with a
/// mirror configured it comes from there (the air-gapped lab's setup). Also by digest.
#[test]
fn docker_hub_names_come_from_the_mirror() {
    let registry = seeded(Registry::anonymous());
    let ch03 = Ch03::new("mirror");
    ch03.set_daemon_json(&format!(
        r#"{{"registry-mirrors": ["http://{}"]}}"#,
        registry.host()
    ));
    let out = ch03.run(&["pull", "busybox"]).ok();
    assert!(
        out.stdout
            .starts_with("Using default tag: latest\nlatest: Pulling from library/busybox\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with("docker.io/library/busybox:latest\n"),
        "{}",
        out.stdout
    );
    let digest = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap()
        .to_owned();
    let images = ch03.run(&["images"]).ok().stdout;
    assert!(images.contains("busybox "), "{images}");

    // By digest, with the mirror given on the command line instead.
    let other = Ch03::new("mirror-digest");
    let mirror = format!("http://{}", registry.host());
    let out = other
        .run(&[
            "--registry-mirror",
            &mirror,
            "pull",
            &format!("busybox@{digest}"),
        ])
        .ok();
    assert!(
        out.stdout.contains(&format!("Digest: {digest}")),
        "{}",
        out.stdout
    );
}

/// Errors a user understands, each with the store unchanged.
#[test]
fn pull_errors_are_clear() {
    let registry = seeded(Registry::anonymous());
    let host = registry.host();
    let ch03 = Ch03::new("errors");
    let down = berth_tests::proxy::dead_host();
    let cases = [
        format!("{host}/no/such/repository"),
        format!("{host}/library/busybox:nosuchtag"),
        format!("{down}/library/busybox"),
        "Not/Valid".to_owned(),
        format!("{host}/library/busybox@sha256:{}", "0".repeat(64)),
    ];
    let mut report = String::new();
    for reference in &cases {
        let out = ch03.run(&["pull", reference]);
        assert_eq!(out.code, 125, "{reference}: {}", out.stdout);
        let hosts = [(host.as_str(), "$REGISTRY"), (down.as_str(), "$DOWN")];
        report.push_str(&redact(
            &format!("$ ch03 pull {reference}\n{}\n", out.stderr),
            &hosts,
            ch03.root().parent().unwrap(),
        ));
    }
    insta::assert_snapshot!("pull_errors", report);
    assert_eq!(
        ch03.run(&["images"]).ok().stdout.lines().count(),
        1,
        "nothing was stored"
    );
}

/// A registry that speaks plain HTTP is refused unless it is insecure: with loopback no
/// longer insecure by default, the TLS handshake fails with a message that says what to do.
#[test]
fn tls_is_required_unless_the_registry_is_insecure() {
    let registry = seeded(Registry::anonymous());
    let host = registry.host();
    let ch03 = Ch03::new("tls");
    ch03.set_daemon_json(r#"{"insecure-loopback": false}"#);
    let reference = format!("{host}/library/busybox");
    let out = ch03.run(&["pull", &reference]);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr
            .contains(&format!("TLS handshake with {host} failed")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("--insecure-registry {host}")),
        "{}",
        out.stderr
    );
    ch03.run(&["--insecure-registry", &host, "pull", &reference])
        .ok();
}

/// `--trace` shows every request: the exercise of the chapter counts them.
#[test]
fn trace_shows_each_request() {
    let registry = seeded(Registry::anonymous());
    let host = registry.host();
    let ch03 = Ch03::new("trace");
    let out = ch03
        .run(&["--trace", "pull", &format!("{host}/library/busybox")])
        .ok();
    let requests: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("--> "))
        .collect();
    let shown = redact(
        &requests.join("\n"),
        &[(&host, "$REGISTRY")],
        ch03.root().parent().unwrap(),
    );
    insta::assert_snapshot!("trace", shown);
}
