//! `docker container prune`, `docker image prune [-a]`, `docker system prune` and
//! `docker system df` against berthd, with the docker CLI and docker-py.

mod support;

use support::Daemon;

/// The busybox image as a `docker save` archive (a fixture).
const FIXTURE: &str = "/var/cache/berth/fixtures/images/busybox.tar";

fn names(daemon: &Daemon) -> String {
    daemon
        .docker(&["ps", "-a", "--format", "{{.Names}}"])
        .ok()
        .lines()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn container_prune_takes_stopped_containers_the_filters_select() {
    let daemon = Daemon::builder().label("container-prune").start();
    daemon.docker(&["load", "-i", FIXTURE]).ok();
    daemon
        .docker(&[
            "run", "--name", "kept", "--label", "keep=yes", "busybox", "true",
        ])
        .ok();
    daemon
        .docker(&[
            "run",
            "--name",
            "wrote",
            "busybox",
            "sh",
            "-c",
            "echo hi > /f",
        ])
        .ok();
    daemon
        .docker(&["run", "-d", "--name", "running", "busybox", "sleep", "60"])
        .ok();

    // Created within the last hour: `until=1h` selects nothing.
    let out = daemon.docker(&["container", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(out.ok(), "Total reclaimed space: 0B\n");
    let out = daemon.docker(&["container", "prune", "-f", "--filter", "label!=keep"]);
    let wrote = out.ok();
    assert!(wrote.starts_with("Deleted Containers:\n"), "{wrote}");
    // "hi\n" in its writable layer.
    assert!(wrote.ends_with("\nTotal reclaimed space: 3B\n"), "{wrote}");
    let mut left = names(&daemon);
    left = left.replace("running kept", "kept running");
    assert_eq!(left, "kept running");

    let out = daemon.docker(&["container", "prune", "-f", "--filter", "until=soon"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("invalid filter 'until=soon'"),
        "{}",
        out.stderr
    );

    // The running one stays, whatever the filters.
    daemon.docker(&["container", "prune", "-f"]).ok();
    assert_eq!(names(&daemon), "running");
    daemon.docker(&["rm", "-f", "running"]).ok();
}

#[test]
fn image_prune_and_system_prune_and_df() {
    let daemon = Daemon::builder().label("image-prune").start();
    daemon.docker(&["load", "-i", FIXTURE]).ok();
    daemon.docker(&["tag", "busybox", "mine/bb:1"]).ok();
    // Dangling only: nothing (busybox has names).
    assert_eq!(
        daemon.docker(&["image", "prune", "-f"]).ok(),
        "Total reclaimed space: 0B\n"
    );
    // A container keeps its image even from -a.
    daemon
        .docker(&["run", "--name", "user", "mine/bb:1", "true"])
        .ok();
    assert_eq!(
        daemon.docker(&["image", "prune", "-a", "-f"]).ok(),
        "Total reclaimed space: 0B\n"
    );

    let df = support::api::request(&daemon.socket(), "GET", "/system/df", &[], b"")
        .unwrap()
        .json();
    assert_eq!(df["Images"][0]["Containers"], 1, "{df:#}");
    assert_eq!(df["Images"][0]["Size"], df["LayersSize"], "{df:#}");
    assert_eq!(df["Containers"][0]["Names"][0], "/user");
    assert_eq!(df["BuildCache"], serde_json::json!([]));
    let out = daemon.docker(&["system", "df"]);
    let table = out.ok();
    assert!(table.starts_with("TYPE "), "{table}");
    assert!(
        table.contains("\nImages          1         1         1.986MB"),
        "{table}"
    );

    // The label filter on images reads the image config's labels: busybox has none.
    let out = daemon.docker(&["images", "--filter", "label=nope", "-q"]);
    assert_eq!(out.ok(), "");

    // system prune: the container, then (with -a) the image it kept.
    let out = daemon.docker(&["system", "prune", "-a", "-f"]);
    let text = out.ok();
    assert!(text.contains("Deleted Containers:\n"), "{text}");
    assert!(text.contains("untagged: busybox:latest\n"), "{text}");
    assert!(text.contains("untagged: mine/bb:1\n"), "{text}");
    assert!(text.contains("Total reclaimed space: 1.986MB\n"), "{text}");
    assert_eq!(daemon.docker(&["images", "-q"]).ok(), "");
    for dir in ["images", "layers"] {
        assert_eq!(
            std::fs::read_dir(daemon.data_root().join(dir))
                .unwrap()
                .count(),
            0,
            "{dir}/ is not empty after system prune -a"
        );
    }
}

#[test]
fn docker_py_prunes_and_reads_df() {
    let daemon = Daemon::builder().label("py-prune").start();
    daemon.python_passes("prune.py", &[FIXTURE]);
}
