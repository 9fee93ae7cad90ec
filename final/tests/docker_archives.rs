//! `docker save` and `docker load` against berthd, with the docker CLI, docker-py, skopeo and
//! a real dockerd 20.10 reading berthd's archives and writing archives for it.

mod support;

use std::io::Read;
use std::path::Path;

use support::Daemon;
use support::dockerd::RealDockerd;

/// The busybox image as skopeo's `docker-archive` writes it (a fixture).
const FIXTURE: &str = "/var/cache/berth/fixtures/images/busybox.tar";

/// `manifest.json` of a docker save archive.
fn manifest_of(archive: &Path) -> serde_json::Value {
    let mut tar = tar::Archive::new(std::fs::File::open(archive).expect("opening the archive"));
    for entry in tar.entries().expect("reading the archive") {
        let mut entry = entry.expect("an entry");
        if entry.path().expect("a name").to_str() == Some("manifest.json") {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .expect("reading manifest.json");
            return serde_json::from_str(&text).expect("manifest.json is JSON");
        }
    }
    panic!("{} has no manifest.json", archive.display());
}

/// What of the store a load may change: image records, names, layers, blobs.
fn store_state(daemon: &Daemon) -> Vec<String> {
    let root = daemon.data_root();
    let mut state = Vec::new();
    for dir in ["images", "layers", "blobs/sha256"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            let mut names: Vec<String> = entries
                .map(|e| format!("{dir}/{}", e.unwrap().file_name().to_string_lossy()))
                .collect();
            names.sort();
            state.extend(names);
        }
    }
    state.push(std::fs::read_to_string(root.join("repositories.json")).unwrap_or_default());
    state
}

#[test]
fn save_and_load_round_trip_through_the_docker_cli_and_skopeo() {
    let daemon = Daemon::builder().label("save-load").start();
    let out = daemon.docker(&["load", "-i", FIXTURE]);
    // Not a terminal: the CLI asks for quiet, and prints the names only.
    assert_eq!(out.ok(), "Loaded image: busybox:latest\n");
    daemon.docker(&["tag", "busybox", "mine/bb:2"]).ok();

    let archive = daemon.dir().join("both.tar");
    let archive_arg = archive.to_str().unwrap();
    daemon
        .docker(&["save", "-o", archive_arg, "busybox", "mine/bb:2"])
        .ok();
    let manifest = manifest_of(&archive);
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["busybox:latest", "mine/bb:2"]),
        "{manifest:#}"
    );
    assert_eq!(
        std::fs::read_dir(daemon.data_root().join("tmp"))
            .unwrap()
            .count(),
        0,
        "docker save left work in tmp/"
    );

    daemon.docker(&["rmi", "busybox", "mine/bb:2"]).ok();
    let bytes = std::fs::read(&archive).unwrap();
    let out = daemon.docker_with_stdin(&["load"], &bytes);
    assert_eq!(
        out.ok(),
        "Loaded image: busybox:latest\nLoaded image: mine/bb:2\n"
    );
    let out = daemon.docker(&["run", "--rm", "mine/bb:2", "echo", "loaded"]);
    assert_eq!(out.ok(), "loaded\n");

    // skopeo reads it as a docker-archive, and copies it into an OCI layout.
    let inspect = support::run(
        {
            let mut c = std::process::Command::new("skopeo");
            c.args([
                "inspect",
                &format!("docker-archive:{archive_arg}:busybox:latest"),
            ]);
            c
        },
        "skopeo inspect",
        None,
    );
    let inspect: serde_json::Value = serde_json::from_str(inspect.ok()).unwrap();
    let diff_ids = daemon.docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .RootFS.Layers}}",
        "busybox",
    ]);
    let diff_ids: serde_json::Value = serde_json::from_str(diff_ids.ok().trim()).unwrap();
    assert_eq!(inspect["Layers"], diff_ids);
    let layout = daemon.dir().join("layout");
    let copy = support::run(
        {
            let mut c = std::process::Command::new("skopeo");
            c.arg("copy")
                .arg(format!("docker-archive:{archive_arg}:mine/bb:2"))
                .arg(format!("oci:{}:bb", layout.display()));
            c
        },
        "skopeo copy",
        None,
    );
    copy.ok();
    assert!(layout.join("index.json").is_file());
}

#[test]
fn a_bad_archive_or_name_is_refused_and_the_store_is_unchanged() {
    let daemon = Daemon::builder().label("load-refused").start();
    daemon.docker(&["load", "-i", FIXTURE]).ok();
    let before = store_state(&daemon);

    let garbage = daemon.dir().join("garbage.tar");
    std::fs::write(&garbage, vec![0x5a; 3000]).unwrap();
    let out = daemon.docker(&["load", "-i", garbage.to_str().unwrap()]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("invalid archive: the archive is not a readable tar archive"),
        "{}",
        out.stderr
    );

    // A tar, but neither format: no manifest.json, no oci-layout.
    let dir = daemon.dir().join("not-an-image");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello").unwrap();
    let plain = daemon.dir().join("plain.tar");
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&plain)
        .arg("hello.txt")
        .status()
        .unwrap();
    assert!(status.success());
    let out = daemon.docker(&["load", "-i", plain.to_str().unwrap()]);
    out.expect_code(1);
    assert_eq!(
        out.stderr,
        "Error response from daemon: invalid archive: the archive is neither a docker save \
         archive (no manifest.json) nor an OCI image layout (no oci-layout and index.json)\n"
    );

    assert_eq!(
        store_state(&daemon),
        before,
        "a refused load changed the store"
    );

    // A layer cut short: the config's diff id no longer matches. (Into a store without the
    // layer: a layer the store has is not read again, as with a pull.)
    daemon.docker(&["rmi", "busybox"]).ok();
    let before = store_state(&daemon);
    let bytes = std::fs::read(FIXTURE).unwrap();
    let mut tar = tar::Archive::new(bytes.as_slice());
    let mut cut = tar::Builder::new(Vec::new());
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        if content.len() > 1 << 20 {
            content.truncate(content.len() - 1024);
            header.set_size(content.len() as u64);
            header.set_cksum();
        }
        cut.append(&header, content.as_slice()).unwrap();
    }
    let cut = cut.into_inner().unwrap();
    let out = daemon.docker_with_stdin(&["load"], &cut);
    out.expect_code(1);
    assert!(out.stderr.contains("invalid archive"), "{}", out.stderr);

    let unsaved = daemon.dir().join("unsaved.tar");
    let out = daemon.docker(&["save", "-o", unsaved.to_str().unwrap(), "nosuch"]);
    out.expect_code(1);
    assert_eq!(
        out.stderr,
        "Error response from daemon: No such image: nosuch\n"
    );

    assert_eq!(
        store_state(&daemon),
        before,
        "a refused load changed the store"
    );
    assert_eq!(
        std::fs::read_dir(daemon.data_root().join("tmp"))
            .unwrap()
            .count(),
        0,
        "a refused load left its body or work in tmp/"
    );
}

#[test]
fn docker_py_loads_saves_and_is_refused_garbage() {
    let daemon = Daemon::builder().label("py-archives").start();
    daemon.python_passes("archives.py", &[FIXTURE]);
}

/// A real dockerd 20.10 loads what berthd saves, and berthd loads what dockerd saves: the
/// same image id and layers either way.
#[test]
fn real_dockerd_and_berthd_read_each_others_archives() {
    let Some(dockerd) = RealDockerd::start("archives") else {
        return;
    };
    let berthd = Daemon::builder().label("dockerd-archives").start();
    berthd.docker(&["load", "-i", FIXTURE]).ok();
    berthd.docker(&["tag", "busybox", "from/berth:1"]).ok();
    let ours = berthd.dir().join("berth.tar");
    berthd
        .docker(&["save", "-o", ours.to_str().unwrap(), "from/berth:1"])
        .ok();
    let id = |out: support::Output| out.ok().trim().to_owned();
    let berth_id = id(berthd.docker(&["image", "inspect", "-f", "{{.Id}}", "from/berth:1"]));

    assert_eq!(
        dockerd.docker(&["load", "-i", ours.to_str().unwrap()]).ok(),
        "Loaded image: from/berth:1\n"
    );
    let docker_id = id(dockerd.docker(&["image", "inspect", "-f", "{{.Id}}", "from/berth:1"]));
    assert_eq!(docker_id, berth_id);

    dockerd
        .docker(&["tag", "from/berth:1", "from/docker:1"])
        .ok();
    let theirs = dockerd.dir().join("docker.tar");
    dockerd
        .docker(&["save", "-o", theirs.to_str().unwrap(), "from/docker:1"])
        .ok();
    assert_eq!(
        berthd
            .docker(&["load", "-i", theirs.to_str().unwrap()])
            .ok(),
        "Loaded image: from/docker:1\n"
    );
    let loaded_id = id(berthd.docker(&["image", "inspect", "-f", "{{.Id}}", "from/docker:1"]));
    assert_eq!(loaded_id, berth_id);
    assert_eq!(
        berthd
            .docker(&["run", "--rm", "from/docker:1", "echo", "ok"])
            .ok(),
        "ok\n"
    );
}
