//! Containers on overlayfs: what they see, what they change, and what stays.

mod common;
mod support;

use support::{Ch02, copy_dir, fixture};

/// The layered image seen from inside: the upper layers' whiteout and opaque directory work.
#[test]
fn whiteouts_and_opaque_directories_from_inside() {
    let ch02 = Ch02::new("whiteout");
    ch02.load("layered-oci");
    let probe = "pwd; find /data | sort; cat /data/keep/file /data/replaced/new; \
                 test -e /data/replaced/old || echo 'old: gone (opaque directory)'; \
                 test -e /etc/hostname || echo 'hostname: gone (whiteout)'; ls /etc";
    let out = ch02
        .run(&["run", "--rm", "layered", "sh", "-c", probe])
        .ok();
    insta::assert_snapshot!("layered_view", out.stdout);
}

/// Two containers of one image do not see each other's writes, and the image's layers are
/// unchanged after containers write, delete and rename files.
#[test]
fn containers_write_only_to_their_own_layer() {
    let ch02 = Ch02::new("isolation");
    ch02.load("busybox-oci");
    let layers_before = support::tree(&ch02.root().join("layers"));
    let script = "echo first > /tmp/mine; rm /etc/hostname; mv /etc/passwd /etc/passwd.moved; \
                  echo changed >> /etc/group; ls /etc";
    let first = ch02
        .run(&["run", "--name", "first", "busybox", "sh", "-c", script])
        .ok();
    assert_eq!(first.stdout, "group\npasswd.moved\n");
    let second = ch02
        .run(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "ls /etc /tmp; tail -n 1 /etc/group",
        ])
        .ok();
    assert_eq!(
        second.stdout,
        "/etc:\ngroup\nhostname\npasswd\n\n/tmp:\nnogroup:x:65534:\n"
    );
    assert_eq!(
        support::tree(&ch02.root().join("layers")),
        layers_before,
        "a container changed the image's layers"
    );

    // The first container's changes are kept in its own upper directory until `rm`.
    let ps = ch02.run(&["ps", "-a"]).ok();
    assert!(
        ps.stdout.contains("Exited (0)") && ps.stdout.contains("first"),
        "{}",
        ps.stdout
    );
    let containers = ch02.root().join("containers");
    let dirs = || std::fs::read_dir(&containers).unwrap().count();
    assert_eq!(dirs(), 1, "the --rm container is gone, the other stays");
    let upper = std::fs::read_dir(&containers)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("tmp/mine")).unwrap(),
        "first\n"
    );
    assert_eq!(ch02.run(&["rm", "first"]).ok().stdout, "first\n");
    assert_eq!(dirs(), 0);
}

/// No overlay or other mount of the store outlives a container: they were made in its own
/// mount namespace.
#[test]
fn no_mount_is_left_on_the_host() {
    let ch02 = Ch02::new("mounts");
    ch02.load("busybox-oci");
    let root = ch02.root().to_str().unwrap().to_owned();
    // Device nodes an image may carry are inert: the overlay is mounted nodev.
    let out = ch02
        .run(&[
            "run",
            "--rm",
            "busybox",
            "grep",
            "^overlay / ",
            "/proc/mounts",
        ])
        .ok();
    assert!(
        out.stdout.contains(",nodev,") || out.stdout.contains(" rw,nodev"),
        "{}",
        out.stdout
    );
    let out = ch02.run(&["run", "--rm", "busybox", "false"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        berth_tests::host_mounts_mentioning(&root),
        Vec::<String>::new()
    );
}

/// The image config's Entrypoint, Cmd, Env, WorkingDir and User are honoured, and the command
/// line overrides Cmd (not Entrypoint), as in Docker.
#[test]
fn the_image_config_is_honoured() {
    let dir = berth_tests::test_dir("ch02-config");
    let layout = dir.path().join("configured");
    copy_dir(&fixture("busybox-oci"), &layout);
    let image = format!("{}:busybox:latest", layout.display());
    let umoci = std::process::Command::new("umoci")
        .args(["config", "--image", &image, "--tag", "configured"])
        .args([
            "--config.entrypoint",
            "/bin/sh",
            "--config.entrypoint",
            "-c",
        ])
        .args([
            "--config.cmd",
            "echo $GREETING from $(pwd) as $(id -un):$(id -gn) home=$HOME",
        ])
        .args([
            "--config.env",
            "GREETING=hello",
            "--config.workingdir",
            "/tmp",
        ])
        .args(["--config.user", "nobody"])
        .status()
        .expect("running umoci");
    assert!(umoci.success());
    let ch02 = Ch02::new("config");
    let out = ch02.run(&["load", "-i", layout.to_str().unwrap()]).ok();
    assert!(
        out.stdout.contains("Loaded image: configured:configured"),
        "{}",
        out.stdout
    );

    let out = ch02.run(&["run", "--rm", "configured:configured"]).ok();
    assert_eq!(out.stdout, "hello from /tmp as nobody:nogroup home=/home\n");
    let out = ch02
        .run(&[
            "run",
            "--rm",
            "-e",
            "GREETING=hi",
            "-u",
            "0",
            "-w",
            "/etc",
            "configured:configured",
            "echo $GREETING $(pwd) $(id -u)",
        ])
        .ok();
    assert_eq!(out.stdout, "hi /etc 0\n");
    let out = ch02.run(&["run", "--rm", "-u", "nosuchuser", "configured:configured"]);
    assert_eq!(out.code, 125);
    assert_eq!(
        out.stderr,
        "ch02: unable to find user nosuchuser: no matching entries in the image's /etc/passwd\n"
    );
}

/// `rmi` removes an image's own layers and keeps those another image still uses.
#[test]
fn rmi_keeps_shared_layers() {
    let ch02 = Ch02::new("rmi");
    ch02.load("busybox-oci");
    ch02.load("layered-oci");
    let layers = || {
        std::fs::read_dir(ch02.root().join("layers"))
            .unwrap()
            .count()
    };
    assert_eq!(
        layers(),
        4,
        "busybox's one layer is shared with layered's four"
    );

    let out = ch02.run(&["rmi", "layered"]).ok();
    assert!(
        out.stdout
            .starts_with("Untagged: layered:latest\nDeleted: sha256:"),
        "{}",
        out.stdout
    );
    assert_eq!(layers(), 1);
    ch02.run(&["run", "--rm", "busybox", "true"]).ok();

    // An image used by a container stays until the container goes.
    ch02.run(&["run", "--name", "user", "busybox", "true"]).ok();
    let out = ch02.run(&["rmi", "busybox"]);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr.contains("in use by container user"),
        "{}",
        out.stderr
    );
    ch02.run(&["rm", "user"]).ok();
    ch02.run(&["rmi", "busybox"]).ok();
    assert_eq!(layers(), 0);
    assert_eq!(
        std::fs::read_dir(ch02.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

/// Bad input to `run`, `rm` and `rmi`: one clear line and exit code 125, or Docker's codes.
#[test]
fn bad_input_errors() {
    let ch02 = Ch02::new("errors");
    ch02.load("busybox-oci");
    ch02.run(&["run", "--name", "taken", "busybox", "true"])
        .ok();
    let cases: &[&[&str]] = &[
        &["run", "nosuchimage"],
        &["run", "Bad:Reference"],
        &["run", "--name", "../escape", "busybox", "true"],
        &["run", "--name", "taken", "busybox", "true"],
        &["run", "--rm", "busybox", "no-such-command"],
        &["rm", "nosuchcontainer"],
        &["rmi", "nosuchimage"],
        &["load", "-i", "/no/such/archive"],
    ];
    let mut report = String::new();
    for args in cases {
        let out = ch02.run(args);
        let stderr = out.stderr.replace(ch02.root().to_str().unwrap(), "$ROOT");
        // Container ids are random.
        let stderr = support::redact_ids(&support::redact_digests(&stderr));
        report.push_str(&format!(
            "$ ch02 {}\nexit {}: {stderr}\n",
            args.join(" "),
            out.code
        ));
    }
    insta::assert_snapshot!("run_errors", report);
}

/// The user is looked up through symlinks inside the image (here `/etc/passwd` is a link), and
/// a refused `run` leaves no half-made container behind.
#[test]
fn users_are_found_through_symlinks_and_failures_leave_nothing() {
    let dir = berth_tests::test_dir("ch02-userlink");
    let layout = dir.path().join("linked");
    copy_dir(&fixture("busybox-oci"), &layout);
    let mut layer = common::Layer::new();
    layer
        .file(
            "etc/passwd.real",
            b"root:x:0:0:root:/root:/bin/sh\nlinkuser:x:4321:4321::/home/l:/bin/sh\n",
        )
        .symlink("etc/passwd", "/etc/../etc/passwd.real");
    support::append_layer(&layout, &layer.finish());
    let ch02 = Ch02::new("userlink");
    ch02.run(&["load", "-i", layout.to_str().unwrap()]).ok();
    let out = ch02
        .run(&[
            "run",
            "--rm",
            "-u",
            "linkuser",
            "busybox",
            "sh",
            "-c",
            "id -u; echo $HOME",
        ])
        .ok();
    assert_eq!(out.stdout, "4321\n/home/l\n");

    let out = ch02.run(&["run", "-u", "nosuchuser", "busybox", "true"]);
    assert_eq!(out.code, 125);
    assert_eq!(
        std::fs::read_dir(ch02.root().join("containers"))
            .unwrap()
            .count(),
        0
    );
}

/// Removing by id an image with several names needs -f, as in Docker.
#[test]
fn rmi_by_id_of_a_multiply_named_image_needs_force() {
    let ch02 = Ch02::new("rmi-force");
    ch02.load("busybox-oci");
    // The same image under a second name.
    let dir = berth_tests::test_dir("ch02-rmi-force");
    let layout = dir.path().join("other");
    copy_dir(&fixture("busybox-oci"), &layout);
    let index = std::fs::read_to_string(layout.join("index.json")).unwrap();
    std::fs::write(
        layout.join("index.json"),
        index.replace("busybox:latest", "other:1"),
    )
    .unwrap();
    ch02.run(&["load", "-i", layout.to_str().unwrap()]).ok();
    let images = ch02.run(&["images"]).ok().stdout;
    let id = images
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();
    let out = ch02.run(&["rmi", &id]);
    assert_eq!(out.code, 125, "{}", out.stdout);
    assert!(out.stderr.contains("must be forced"), "{}", out.stderr);
    let out = ch02.run(&["rmi", "-f", &id]).ok();
    assert!(out.stdout.contains("Deleted: sha256:"), "{}", out.stdout);
}

/// The image config is read once, at create: a start builds everything from the container's
/// record, so a start after the config blob became unreadable still runs what was created.
#[test]
fn a_start_reads_the_record_not_the_image_config() {
    use berth_images::container::{self, RunOptions};
    use berth_images::store::Store;

    let ch02 = Ch02::new("record");
    ch02.load("busybox-oci");
    let store = Store::open(ch02.root()).unwrap();
    let options = RunOptions {
        cmd: vec!["echo".into(), "hi".into()],
        env: vec![("GREETING".into(), "hello".into())],
        ..RunOptions::default()
    };
    let (record, at_create) = container::create(&store, "busybox", &options).unwrap();
    assert_eq!(record.cmd, ["echo", "hi"]);
    assert!(record.entrypoint.is_empty());
    assert_eq!(record.hostname, record.id[..12]);

    // Damage the config blob: a start that read it again would fail as "damaged".
    let blob = ch02.root().join("blobs/sha256").join(record.image.hex());
    std::fs::write(&blob, b"not json").unwrap();
    let at_start = container::runtime_config(&store, &record).unwrap();
    assert_eq!(at_start.args, at_create.args);
    assert_eq!(at_start.env, at_create.env);
    assert_eq!(at_start.workdir, at_create.workdir);
    assert_eq!(at_start.hostname, at_create.hostname);
    container::remove(&store, &record.id).unwrap();
}
