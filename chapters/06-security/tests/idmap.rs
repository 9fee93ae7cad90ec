//! A remapped root on idmapped layers: the image's files are root's in the container, and
//! what the container's root writes lands on the host as the first id of its range.
//! Everything is mounted in the container's own mount namespace; the test's directory goes.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use berth_namespaces::namespaces::{IdMap, IdMaps};
use berth_namespaces::{ContainerConfig, RootfsMount};

/// A range no user of this machine owns.
const FIRST: u32 = 3_200_000;

fn maps() -> IdMaps {
    let line = IdMap {
        inside: 0,
        outside: FIRST,
        count: 65536,
    };
    IdMaps {
        uid: vec![line],
        gid: vec![line],
    }
}

/// Runs `script` in a remapped container over the busybox fixture, upper and work under
/// `dir`; `idmapped` says whether the layers are idmapped. Returns (exit code, output).
fn run(dir: &std::path::Path, idmapped: bool, script: &str) -> (i32, String) {
    run_with(dir, idmapped, script, |_, _| {})
}

/// [`run`], with `more` adding steps (given the config and the rootfs) before the start.
fn run_with(
    dir: &std::path::Path,
    idmapped: bool,
    script: &str,
    more: impl FnOnce(&mut ContainerConfig, &std::path::Path),
) -> (i32, String) {
    let lower = berth_tests::busybox_rootfs();
    let container = dir.join("container");
    let (upper, work, merged) = (
        container.join("upper"),
        container.join("work"),
        container.join("merged"),
    );
    for d in [&upper, &work, &merged] {
        std::fs::create_dir_all(d).expect("making the container's directories");
    }
    let mut config = ContainerConfig::new(&merged, vec!["sh".into(), "-c".into(), script.into()]);
    config.rootfs_mount = Some(RootfsMount {
        fstype: "overlay".into(),
        source: "overlay".into(),
        options: format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        ),
    });
    config.id_maps = Some(maps());
    if idmapped {
        berth_security::idmap::remap_layers(&[lower], &[upper, work], &maps(), &mut config.steps)
            .expect("idmapping the layers");
    }
    more(&mut config, &merged);
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("a pipe");
    config.stdio.stdout = Some(write.as_raw_fd());
    config.stdio.stderr = Some(write.as_raw_fd());
    let running = berth_namespaces::start(&config);
    drop(write);
    let mut out = String::new();
    std::fs::File::from(read)
        .read_to_string(&mut out)
        .expect("reading the output");
    match running {
        Ok(running) => (running.wait().map_or(-1, |s| s.code()), out),
        Err(e) => (125, format!("{out}{e}")),
    }
}

/// `ls -ln /` shows the image's files as root's; root creates a file at `/`, and the host sees
/// it in the upper directory as uid and gid FIRST.
#[test]
fn the_image_is_roots_and_new_files_are_the_ranges() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let script = "stat -c '%u:%g' /bin /etc; touch /made-by-root && rm /etc/hostname && echo made";
    let (code, out) = run(dir.path(), true, script);
    assert_eq!((code, out.as_str()), (0, "0:0\n0:0\nmade\n"));
    assert!(berth_tests::busybox_rootfs().join("etc/hostname").exists());
    let made = std::fs::metadata(dir.path().join("container/upper/made-by-root"))
        .expect("the file in the upper directory");
    assert_eq!((made.uid(), made.gid()), (FIRST, FIRST));
}

/// Without the idmapped layers, the same remapped root sees the image as nobody's and cannot
/// even mount its overlay's upper directory as its own.
#[test]
fn without_idmapped_layers_the_image_is_nobodys() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (code, out) = run(
        dir.path(),
        false,
        "stat -c '%u:%g' /bin; touch /x && echo made",
    );
    assert!(code != 0 || !out.contains("0:0"), "{code}: {out}");
}

/// A bind mount is not idmapped, as under Docker's remapped root: what the container's root
/// writes there belongs on the host to the first id of the range.
#[test]
fn a_file_made_in_a_bind_mount_is_the_ranges_on_the_host() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temp dir");
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).expect("the bind mount's source");
    // Writable by anyone: host root's directory is "other" to the remapped root.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let bind = |config: &mut ContainerConfig, rootfs: &std::path::Path| {
        let step = berth_namespaces::BindMount::new(&shared, rootfs, "/data".as_ref(), false)
            .expect("preparing the bind mount");
        config.steps.add_child(step);
    };
    let (code, out) = run_with(dir.path(), true, "touch /data/made && echo made", bind);
    assert_eq!((code, out.as_str()), (0, "made\n"));
    let made = std::fs::metadata(shared.join("made")).expect("the file in the bind mount");
    assert_eq!((made.uid(), made.gid()), (FIRST, FIRST));
}
