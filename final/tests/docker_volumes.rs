//! The real docker CLI drives berthd's volumes (chapter 8): `docker volume create/ls/inspect/
//! rm/prune`, `run -v`, `--mount`, `--tmpfs`, `--read-only` and `rm -v`.

mod support;

use support::daemon_with_busybox;

#[test]
fn volume_commands_and_data_across_containers() {
    let (daemon, _registry, image) = daemon_with_busybox("cli-volumes");
    let created = daemon.docker(&["volume", "create", "--label", "tier=db", "dbdata"]);
    assert_eq!(created.ok(), "dbdata\n");
    daemon
        .docker(&[
            "run",
            "--name",
            "writer",
            "-v",
            "dbdata:/data",
            &image,
            "sh",
            "-c",
            "echo kept > /data/file",
        ])
        .ok();
    // In use by `writer` (exited, not removed): refused with Docker's 409.
    let refused = daemon.docker(&["volume", "rm", "dbdata"]);
    refused.expect_code(1);
    assert!(refused.stderr.contains("in use"), "{}", refused.stderr);
    daemon.docker(&["rm", "writer"]).ok();
    let read = daemon.docker(&[
        "run",
        "--rm",
        "-v",
        "dbdata:/data:ro",
        &image,
        "cat",
        "/data/file",
    ]);
    assert_eq!(read.ok(), "kept\n");

    let ls = daemon.docker(&[
        "volume",
        "ls",
        "--filter",
        "label=tier=db",
        "--format",
        "{{.Driver}} {{.Name}}",
    ]);
    assert_eq!(ls.ok(), "local dbdata\n");
    let inspect = daemon.docker(&[
        "volume",
        "inspect",
        "--format",
        "{{.Name}} {{.Driver}} {{.Labels}}",
        "dbdata",
    ]);
    assert_eq!(inspect.ok(), "dbdata local map[tier:db]\n");
    let mountpoint = daemon.docker(&["volume", "inspect", "--format", "{{.Mountpoint}}", "dbdata"]);
    assert_eq!(
        mountpoint.ok().trim(),
        daemon
            .data_root()
            .join("volumes/dbdata/_data")
            .display()
            .to_string()
    );
    daemon.docker(&["volume", "rm", "dbdata"]).ok();
    assert_eq!(daemon.docker(&["volume", "ls", "-q"]).ok(), "");
    let missing = daemon.docker(&["volume", "inspect", "dbdata"]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("no such volume"),
        "{}",
        missing.stderr
    );
}

#[test]
fn run_with_mount_tmpfs_read_only_and_rm_v() {
    let (daemon, _registry, image) = daemon_with_busybox("cli-mounts");
    let host = berth_tests::test_dir("cli-bind");
    std::fs::write(host.path().join("hello"), "from the host\n").expect("host file");
    let bind = format!("type=bind,src={},dst=/host,readonly", host.path().display());
    let out = daemon.docker(&[
        "run",
        "--rm",
        "--read-only",
        "--mount",
        &bind,
        "--tmpfs",
        "/run:size=1m",
        "-v",
        "/anon",
        &image,
        "sh",
        "-c",
        "cat /host/hello; touch /host/x /y 2>&1; touch /run/ok /anon/ok && echo writable",
    ]);
    assert_eq!(
        out.ok(),
        "from the host\ntouch: /host/x: Read-only file system\n\
         touch: /y: Read-only file system\nwritable\n"
    );
    // --rm took its anonymous volume with it.
    assert_eq!(daemon.docker(&["volume", "ls", "-q"]).ok(), "");

    daemon
        .docker(&["run", "--name", "keeper", "-v", "/scratch", &image, "true"])
        .ok();
    let mounts = daemon.docker(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Type}} {{.Destination}}{{end}}",
        "keeper",
    ]);
    assert_eq!(mounts.ok(), "volume /scratch\n");
    assert_eq!(
        daemon.docker(&["volume", "ls", "-q"]).ok().lines().count(),
        1
    );
    let shared = daemon.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "keeper",
        &image,
        "sh",
        "-c",
        "grep -c ' /scratch ' /proc/mounts",
    ]);
    assert_eq!(shared.ok(), "1\n");
    daemon.docker(&["rm", "-v", "keeper"]).ok();
    assert_eq!(daemon.docker(&["volume", "ls", "-q"]).ok(), "");

    // Prune: anonymous only by default, named ones with -a.
    daemon.docker(&["volume", "create", "named"]).ok();
    daemon
        .docker(&["run", "--name", "gone", "-v", "/x", &image, "true"])
        .ok();
    daemon.docker(&["rm", "gone"]).ok();
    daemon.docker(&["volume", "prune", "-f"]).ok();
    assert_eq!(daemon.docker(&["volume", "ls", "-q"]).ok(), "named\n");
    daemon.docker(&["volume", "prune", "-f", "-a"]).ok();
    assert_eq!(daemon.docker(&["volume", "ls", "-q"]).ok(), "");

    // Bad input: a 400 naming the flag, and no container left.
    let bad = daemon.docker(&["run", "--tmpfs", "/run:size=lots", &image, "true"]);
    bad.expect_code(125);
    assert!(bad.stderr.contains("--tmpfs"), "{}", bad.stderr);
    assert!(daemon.containers().is_empty());
    assert!(support::cleanup::mounts_under(host.path()).is_empty());
}

/// A volume in use survives a daemon killed with SIGKILL: the running container keeps writing
/// to it, and after the restart the data is there and the volume still counts as in use.
#[test]
fn a_volume_in_use_survives_a_daemon_kill_9() {
    let (mut daemon, _registry, image) = daemon_with_busybox("cli-volume-kill9");
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            "busy",
            "-v",
            "kept:/kept",
            &image,
            "sh",
            "-c",
            "echo before > /kept/file; sleep 2; echo after >> /kept/file; sleep 60",
        ])
        .ok();
    daemon.kill9();
    std::thread::sleep(std::time::Duration::from_secs(3));
    daemon.restart();
    let read = daemon.docker(&[
        "run",
        "--rm",
        "-v",
        "kept:/kept:ro",
        &image,
        "cat",
        "/kept/file",
    ]);
    assert_eq!(read.ok(), "before\nafter\n");
    let refused = daemon.docker(&["volume", "rm", "kept"]);
    refused.expect_code(1);
    daemon.docker(&["rm", "-f", "busy"]).ok();
    daemon.docker(&["volume", "rm", "kept"]).ok();
}

#[test]
fn binds_are_inspected_as_given_and_other_propagations_refused() {
    let (daemon, _registry, image) = daemon_with_busybox("cli-binds");
    let host_dir = daemon.dir().join("shared-dir");
    std::fs::create_dir(&host_dir).unwrap();
    let bind = format!("{}:/h:ro", host_dir.display());
    daemon
        .docker(&[
            "create", "--name", "b1", "-v", &bind, "-v", "named:/n", &image, "true",
        ])
        .ok();
    let binds = daemon.docker(&["inspect", "-f", "{{json .HostConfig.Binds}}", "b1"]);
    assert_eq!(
        binds.ok().trim(),
        serde_json::json!([bind, "named:/n"]).to_string()
    );
    let propagation = daemon.docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Destination}}={{.Propagation}} {{end}}",
        "b1",
    ]);
    assert_eq!(propagation.ok().trim(), "/h=rprivate /n=");
    // The list is kept in the record's "mounts" slot, not in a file of its own.
    let id = daemon.docker(&["inspect", "-f", "{{.Id}}", "b1"]);
    let dir = daemon.data_root().join("containers").join(id.ok().trim());
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(record["slots"]["mounts"]["binds"][1], "named:/n");
    assert!(!dir.join("mounts.json").exists());
    let none = daemon.docker(&["create", &image, "true"]);
    let id = none.ok().trim().to_owned();
    let binds = daemon.docker(&["inspect", "-f", "{{json .HostConfig.Binds}}", &id]);
    assert_eq!(binds.ok().trim(), "null");

    for args in [
        vec!["-v".to_owned(), format!("{}:/h:rslave", host_dir.display())],
        vec![
            "--mount".to_owned(),
            format!(
                "type=bind,src={},dst=/h,bind-propagation=shared",
                host_dir.display()
            ),
        ],
    ] {
        let mut command = vec!["create"];
        command.extend(args.iter().map(String::as_str));
        command.extend([image.as_str(), "true"]);
        let refused = daemon.docker(&command);
        refused.expect_code(1);
        assert!(
            refused
                .stderr
                .contains("is not supported: berthd makes every bind mount rprivate"),
            "{}",
            refused.stderr
        );
    }
    daemon.docker(&["rm", "-v", "b1", &id]).ok();
    daemon.docker(&["volume", "rm", "named"]).ok();
}
