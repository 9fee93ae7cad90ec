//! Issue 12, bug 6: `HostConfig` fields that were accepted and then neither applied nor
//! refused. Each is now refused with a 400 naming the flag, or honoured, and inspect shows
//! the fields clients read as dockerd 20.10 does (compared with a real one when installed).

mod support;

use support::Daemon;
use support::dockerd::RealDockerd;

const FIXTURE: &str = "/var/cache/berth/fixtures/images/busybox.tar";

/// The inspect fields docker-py and the CLI read, as one line.
const FIELDS: &str = "{{.HostConfig.CgroupnsMode}}|{{.HostConfig.Isolation}}|\
    {{.HostConfig.Runtime}}|{{.HostConfig.VolumeDriver}}|{{json .HostConfig.MemorySwappiness}}|\
    {{json .HostConfig.MaskedPaths}}|{{json .HostConfig.ReadonlyPaths}}";

#[test]
fn refused_flags_are_named_and_create_nothing() {
    let daemon = Daemon::builder().label("host-config").start();
    daemon.docker(&["load", "-i", FIXTURE]).ok();
    for (args, flag) in [
        (&["--memory-swappiness", "0"][..], "--memory-swappiness"),
        (&["--volume-driver", "convoy"][..], "--volume-driver"),
        (&["--runtime", "runsc"][..], "--runtime"),
    ] {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        all.push("busybox");
        let out = daemon.docker(&all);
        // `docker create` exits 1 on a daemon's error (`docker run` would exit 125).
        out.expect_code(1);
        assert!(out.stderr.contains(flag), "{args:?}: {}", out.stderr);
    }
    assert_eq!(
        daemon.containers().len(),
        0,
        "a refused create made a container"
    );

    // systempaths=unconfined (the CLI sends MaskedPaths and ReadonlyPaths as []) is honoured.
    let id = daemon
        .docker(&[
            "create",
            "--security-opt",
            "systempaths=unconfined",
            "busybox",
        ])
        .ok()
        .trim()
        .to_owned();
    let shown = daemon.docker(&["inspect", "-f", FIELDS, &id]);
    assert!(shown.ok().ends_with("|null|[]|[]\n"), "{}", shown.ok());
    daemon.docker(&["rm", &id]).ok();
    // ... and applied: /proc/timer_list is no longer a bind of /dev/null.
    let size = daemon.docker(&[
        "run",
        "--rm",
        "--security-opt",
        "systempaths=unconfined",
        "busybox",
        "sh",
        "-c",
        "wc -c < /proc/timer_list",
    ]);
    let size: u64 = size.ok().trim().parse().expect("a byte count");
    assert!(
        size > 0,
        "/proc/timer_list is masked despite systempaths=unconfined"
    );
}

/// Splits an inspect line of [`FIELDS`] into its scalar fields and the two path lists.
fn split(line: &str) -> (String, Vec<serde_json::Value>) {
    let parts: Vec<&str> = line.trim().split('|').collect();
    let lists = parts[5..]
        .iter()
        .map(|p| serde_json::from_str(p).expect("a JSON list"))
        .collect();
    (parts[..5].join("|"), lists)
}

#[test]
fn inspect_shows_the_fields_as_dockerd_does() {
    let Some(dockerd) = RealDockerd::start("host-config") else {
        return;
    };
    let berthd = Daemon::builder().label("host-config-vs-dockerd").start();
    berthd.docker(&["load", "-i", FIXTURE]).ok();
    dockerd.docker(&["load", "-i", FIXTURE]).ok();
    for extra in [&[][..], &["--security-opt", "systempaths=unconfined"][..]] {
        let mut args = vec!["create", "--network", "none"];
        args.extend_from_slice(extra);
        args.push("busybox");
        let ours = berthd.docker(&args).ok().trim().to_owned();
        let theirs = dockerd.docker(&args).ok().trim().to_owned();
        let ours = berthd
            .docker(&["inspect", "-f", FIELDS, &ours])
            .ok()
            .to_owned();
        let theirs = dockerd
            .docker(&["inspect", "-f", FIELDS, &theirs])
            .ok()
            .to_owned();
        // The masked list is chapter 6's, which follows a newer moby than dockerd 20.10 here
        // (it masks /sys/devices/virtual/powercap, not /proc/asound): compare the scalars
        // exactly and the lists by whether they are lifted.
        let (ours, our_lists) = split(&ours);
        let (theirs, their_lists) = split(&theirs);
        assert_eq!(ours, theirs, "docker create {extra:?}");
        for (o, t) in our_lists.iter().zip(&their_lists) {
            assert_eq!(
                o == &serde_json::json!([]),
                t == &serde_json::json!([]),
                "{o} vs {t}"
            );
        }
    }
}

#[test]
fn docker_py_is_refused_by_name_and_reads_the_fields() {
    let daemon = Daemon::builder().label("py-host-config").start();
    daemon.python_passes("host_config.py", &[FIXTURE]);
    assert!(
        daemon.containers().is_empty(),
        "the scenario left containers"
    );
}
