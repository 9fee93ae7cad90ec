//! Debian's `docker-compose` (1.29, Python, on Debian's python3-docker 5.0.3 speaking API
//! 1.38) drives berthd: a two-service project on a user network whose services reach each
//! other by service name and by alias (chapter 7), and a named volume kept across `down` /
//! `up` and removed by `down -v` (chapter 8).
//!
//! Compose is a client that leans on the engine more than the docker CLI does: it finds its
//! own containers, networks and volumes again by `com.docker.compose.*` labels (list
//! filters), names them `<project>_<service>_<n>`, and creates each container on one network
//! and connects the rest. Each test runs its daemon in a network namespace of its own with
//! the busybox image loaded (no registry is reachable there), writes its compose file in a
//! temporary directory of its own, and runs `down -v` when it ends, also on failure, before
//! the daemon is dropped.

mod support;

use std::path::Path;

use support::{Daemon, daemon_in_netns_with_busybox as daemon, unique};

/// A compose project of a test: its directory and name, brought `down -v` when dropped.
struct Project<'a> {
    daemon: &'a Daemon,
    dir: tempfile::TempDir,
    name: String,
}

impl<'a> Project<'a> {
    /// Writes `yaml` as the project's `docker-compose.yml`.
    fn new(daemon: &'a Daemon, yaml: &str) -> Project<'a> {
        let dir = berth_tests::test_dir("final-compose-project");
        std::fs::write(dir.path().join("docker-compose.yml"), yaml)
            .expect("writing docker-compose.yml");
        // Compose lower-cases the project name and keeps only [a-z0-9_-].
        let name = unique("berthcompose").replace('-', "");
        Project { daemon, dir, name }
    }

    /// `docker-compose -p NAME ARGS`, asserted to succeed; its stdout.
    #[track_caller]
    fn run(&self, args: &[&str]) -> String {
        self.daemon
            .compose(self.dir(), &self.name, args)
            .ok()
            .to_owned()
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        let _ = self
            .daemon
            .compose(self.dir(), &self.name, &["down", "-v", "-t", "0"]);
    }
}

/// A shell loop that retries `wget` for up to five seconds: the server may not listen yet.
fn fetch(url: &str) -> String {
    format!("for i in $(seq 50); do wget -q -O- {url} && exit 0; sleep 0.1; done; exit 1")
}

const NETWORKS: &str = r#"version: "3.8"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks:
      front:
        aliases: [www]
      back: {}
  client:
    image: busybox:latest
    command: ["sleep", "3600"]
    networks: [front]
    extra_hosts: ["db.example:10.9.8.7", "host.docker.internal:host-gateway"]
networks:
  front: {}
  back: {}
"#;

#[test]
fn compose_services_reach_each_other_by_name_and_alias() {
    let daemon = daemon("compose-net", 116);
    let project = Project::new(&daemon, NETWORKS);
    project.run(&["up", "-d"]);

    let ps = project.run(&["ps", "-q"]);
    assert_eq!(ps.lines().count(), 2, "two containers: {ps}");
    // The network compose made, named after the project, is a user network of berthd's.
    let network = format!("{}_front", project.name);
    let driver = daemon.docker(&["network", "inspect", "-f", "{{.Driver}}", &network]);
    assert_eq!(driver.ok().trim(), "bridge");

    // Compose creates `web` on one of its networks and connects it to the other with its
    // service name, its aliases and its short id; inspect lists each once, as dockerd
    // (berthd once showed the short id twice).
    let web = format!("{}_web_1", project.name);
    let short = daemon.docker(&["inspect", "-f", "{{.Id}}", &web]).ok()[..12].to_owned();
    let format = format!("{{{{json (index .NetworkSettings.Networks \"{network}\").Aliases}}}}");
    let aliases = daemon.docker(&["inspect", "-f", &format, &web]);
    let mut aliases: Vec<String> = serde_json::from_str(aliases.ok()).expect("a JSON list");
    aliases.sort();
    let mut expected = vec![short, "web".to_owned(), "www".to_owned()];
    expected.sort();
    assert_eq!(aliases, expected);

    for host in ["web", "www"] {
        let url = format!("http://{host}/index.html");
        let body = project.run(&["exec", "-T", "client", "sh", "-c", &fetch(&url)]);
        assert_eq!(body, "hello from web\n", "{url}");
    }

    // `extra_hosts` (HostConfig.ExtraHosts, once refused by berthd): lines of /etc/hosts,
    // `host-gateway` standing for the default bridge's address, as dockerd writes them.
    let hosts = project.run(&["exec", "-T", "client", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains("\n10.9.8.7\tdb.example\n10.116.0.1\thost.docker.internal\n"),
        "{hosts}"
    );
    let client = format!("{}_client_1", project.name);
    let inspect = daemon.docker(&["inspect", "-f", "{{json .HostConfig.ExtraHosts}}", &client]);
    assert_eq!(
        inspect.ok().trim(),
        r#"["db.example:10.9.8.7","host.docker.internal:host-gateway"]"#
    );

    project.run(&["down", "-t", "0"]);
    assert!(daemon.containers().is_empty(), "down left containers");
    let networks = daemon.docker(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !networks.ok().lines().any(|n| n == network),
        "down left {network}"
    );
}

const VOLUMES: &str = r#"version: "3.8"
services:
  app:
    image: busybox:latest
    command: ["sh", "-c", "echo boot >> /data/log && exec sleep 3600"]
    volumes: ["data:/data"]
volumes:
  data: {}
"#;

#[test]
fn compose_keeps_a_named_volume_across_down_and_up() {
    let daemon = daemon("compose-vol", 117);
    let project = Project::new(&daemon, VOLUMES);
    let volume = format!("{}_data", project.name);
    let volumes = || {
        let out = daemon.docker(&["volume", "ls", "-q"]);
        out.ok().lines().map(str::to_owned).collect::<Vec<_>>()
    };

    project.run(&["up", "-d"]);
    assert_eq!(volumes(), std::slice::from_ref(&volume));
    project.run(&["down", "-t", "0"]);
    assert!(daemon.containers().is_empty(), "down left containers");
    assert_eq!(
        volumes(),
        std::slice::from_ref(&volume),
        "down keeps named volumes"
    );

    project.run(&["up", "-d"]);
    let log = project.run(&["exec", "-T", "app", "cat", "/data/log"]);
    assert_eq!(
        log, "boot\nboot\n",
        "the second up sees the first one's write"
    );

    // Recreating a service (a changed file, or --force-recreate) reads the image's
    // `ContainerConfig` to carry volumes over. Moby leaves that field out from API 1.45, and
    // compose 1.29 negotiates the daemon's newest version, so against dockerd 25+ (and
    // berthd) recreating dies with KeyError: 'ContainerConfig' (docker/compose#11742); the
    // users' way out is `COMPOSE_API_VERSION=1.41`, which needs the field below 1.45, as
    // dockerd sends it. berthd once never sent it: this step failed the same way.
    let mut recreate = daemon.compose_command(
        project.dir(),
        &project.name,
        &["up", "-d", "--force-recreate"],
    );
    recreate.env("COMPOSE_API_VERSION", "1.41");
    support::run(
        recreate,
        "COMPOSE_API_VERSION=1.41 docker-compose up -d --force-recreate",
        None,
    )
    .ok();
    let log = project.run(&["exec", "-T", "app", "cat", "/data/log"]);
    assert_eq!(
        log, "boot\nboot\nboot\n",
        "the recreated container has the volume"
    );
    let names = daemon.docker(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(names.ok().trim(), format!("{}_app_1", project.name));

    project.run(&["down", "-v", "-t", "0"]);
    assert!(volumes().is_empty(), "down -v removes the project's volume");
}

/// `GET /images/busybox:latest/json` at API `version`, as JSON.
fn image_inspect(daemon: &Daemon, version: &str) -> serde_json::Value {
    let path = format!("/v{version}/images/busybox:latest/json");
    let response = support::api::request(&daemon.socket(), "GET", &path, &[], b"")
        .expect("GET /images/busybox:latest/json");
    assert_eq!(response.status, 200, "{path}");
    serde_json::from_slice(&response.body).expect("image inspect is JSON")
}

#[test]
fn image_inspect_has_container_config_below_api_1_45() {
    let daemon = Daemon::builder().label("compose-image").start();
    daemon.load_busybox();
    // What dockerd 20.10 answers at /v1.38 and /v1.41 for this image (no classic build
    // committed it): the zero `Config`, and an empty `Container`.
    let empty = serde_json::json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "",
        "Entrypoint": null, "OnBuild": null, "Labels": null,
    });
    for version in ["1.38", "1.41", "1.44"] {
        let inspect = image_inspect(&daemon, version);
        assert_eq!(inspect["ContainerConfig"], empty, "v{version}");
        assert_eq!(inspect["Container"], "", "v{version}");
    }
    // Gone from 1.45, as moby.
    let inspect = image_inspect(&daemon, "1.45");
    assert!(inspect.get("ContainerConfig").is_none() && inspect.get("Container").is_none());
}

#[test]
fn a_bad_extra_host_is_refused_at_create() {
    let daemon = Daemon::builder().label("compose-add-host").start();
    daemon.load_busybox();
    let create = |host_config: &str| {
        let body = format!(r#"{{"Image":"busybox:latest","HostConfig":{host_config}}}"#);
        let headers = [("Content-Type", "application/json")];
        let response = support::api::request(
            &daemon.socket(),
            "POST",
            "/v1.41/containers/create",
            &headers,
            body.as_bytes(),
        )
        .expect("POST /containers/create");
        let message = serde_json::from_slice::<serde_json::Value>(&response.body)
            .map(|v| v["message"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        (response.status, message)
    };
    // dockerd's words (its CLI checks the same before sending; the API gets them raw).
    assert_eq!(
        create(r#"{"ExtraHosts":["foo"]}"#),
        (400, r#"bad format for add-host: "foo""#.to_owned())
    );
    assert_eq!(
        create(r#"{"ExtraHosts":["foo:notanip"]}"#),
        (
            400,
            r#"invalid IP address in add-host: "notanip""#.to_owned()
        )
    );
    assert_eq!(
        create(r#"{"ExtraHosts":["foo:1.2.3.4"],"NetworkMode":"container:other"}"#),
        (
            400,
            "conflicting options: custom host-to-IP mapping and the network mode".to_owned()
        )
    );
    assert!(
        daemon.containers().is_empty(),
        "a refused create left a container"
    );
}
