//! `docker history` and the image inspect fields clients read, against berthd and, where a
//! real dockerd 20.10 is installed, compared line for line with it.

mod support;

use std::path::{Path, PathBuf};

use support::dockerd::RealDockerd;
use support::{Daemon, PYTHON};

/// A `docker save` archive of the `layered` fixture (busybox plus three small layers, with an
/// empty-layer step between), made by skopeo so that dockerd can read it too.
fn layered_archive(dir: &Path) -> PathBuf {
    let archive = dir.join("layered.tar");
    let mut skopeo = std::process::Command::new("skopeo");
    skopeo
        .args([
            "copy",
            "-q",
            "oci:/var/cache/berth/fixtures/images/layered-oci",
        ])
        .arg(format!(
            "docker-archive:{}:layered:latest",
            archive.display()
        ));
    support::run(skopeo, "skopeo copy", None).ok();
    archive
}

/// `docker history` as the columns that do not depend on the clock.
const FORMAT: &str = "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}";

#[test]
fn history_lists_each_step_with_its_layer_size() {
    let daemon = Daemon::builder().label("history").start();
    let archive = layered_archive(daemon.dir());
    daemon
        .docker(&["load", "-i", archive.to_str().unwrap()])
        .ok();
    let id = daemon
        .docker(&["image", "inspect", "-f", "{{.Id}}", "layered"])
        .ok()
        .trim()
        .to_owned();
    let out = daemon.docker(&["history", "--no-trunc", "--format", FORMAT, "layered"]);
    assert_eq!(
        out.ok(),
        format!(
            "{id}|umoci config|0B|\n\
             <missing>|umoci insert|4B|\n\
             <missing>|umoci insert|0B|\n\
             <missing>|umoci insert|9B|\n\
             <missing>|umoci config|0B|\n\
             <missing>|umoci insert|1.99MB|\n"
        )
    );

    // Inspect: overlay2's directories, which exist; sizes that add up.
    let inspect = daemon.docker(&["image", "inspect", "layered"]);
    let inspect: serde_json::Value = serde_json::from_str(inspect.ok()).unwrap();
    let image = &inspect[0];
    assert_eq!(image["GraphDriver"]["Name"], "overlay2");
    let upper = image["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
    assert!(
        Path::new(upper).is_dir(),
        "UpperDir {upper} is not a directory"
    );
    let lower: Vec<&str> = image["GraphDriver"]["Data"]["LowerDir"]
        .as_str()
        .unwrap()
        .split(':')
        .collect();
    assert_eq!(lower.len(), 3, "{image:#}");
    assert!(lower.iter().all(|dir| Path::new(dir).is_dir()));
    assert_eq!(image["RootFS"]["Layers"].as_array().unwrap().len(), 4);
    assert_eq!(image["Size"], image["VirtualSize"]);

    let history =
        support::api::request(&daemon.socket(), "GET", "/images/layered/history", &[], b"")
            .unwrap()
            .json();
    let sum: u64 = history
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["Size"].as_u64().unwrap())
        .sum();
    assert_eq!(image["Size"].as_u64(), Some(sum), "{history:#}");

    let out = daemon.docker(&["history", "nosuch"]);
    out.expect_code(1);
    assert_eq!(
        out.stderr,
        "Error response from daemon: No such image: nosuch\n"
    );

    // docker-py's Image.history() reads the same answer.
    assert!(Path::new(PYTHON).is_file(), "the docker SDK is missing");
    let out = daemon.python("history.py", &["layered:latest", &id]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn history_and_inspect_answer_as_dockerd_does() {
    let Some(dockerd) = RealDockerd::start("history") else {
        return;
    };
    let berthd = Daemon::builder().label("history-vs-dockerd").start();
    let archive = layered_archive(berthd.dir());
    let archive = archive.to_str().unwrap();
    berthd.docker(&["load", "-i", archive]).ok();
    dockerd.docker(&["load", "-i", archive]).ok();
    let args = ["history", "--no-trunc", "--format", FORMAT, "layered"];
    assert_eq!(berthd.docker(&args).ok(), dockerd.docker(&args).ok());
    let raw = |format: &str| -> [String; 2] {
        let args = ["image", "inspect", "-f", format, "layered"];
        [
            berthd.docker(&args).ok().to_owned(),
            dockerd.docker(&args).ok().to_owned(),
        ]
    };
    for format in [
        "{{.Id}}",
        "{{.Size}} {{.VirtualSize}}",
        "{{json .RootFS}}",
        "{{.GraphDriver.Name}}",
        "{{json .Config.Cmd}} {{json .Config.Env}}",
        "{{.Os}} {{.Architecture}} {{.Created}}",
    ] {
        let [ours, theirs] = raw(format);
        assert_eq!(ours, theirs, "image inspect -f {format}");
    }
}
