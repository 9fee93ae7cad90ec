//! The reference registry server, started for one test on a free loopback port.
//!
//! Chapter 3's client has to work against registries it did not write, so its tests run the
//! real one: `docker-registry` from Debian (the CNCF distribution 2.8 that Docker Hub's own
//! registry grew from), with a configuration and a storage directory of its own in a temporary
//! directory, on `127.0.0.1` only. It comes in three flavours, as registries do in the wild:
//! anonymous ([`Registry::anonymous`]), Bearer token auth with our [`TokenIssuer`]
//! ([`Registry::token_auth`]), and HTTP Basic auth from an htpasswd file
//! ([`Registry::basic_auth`]). Images are put in with `skopeo`, a client we did not write,
//! from the OCI layouts that `scripts/fixtures.sh` builds ([`images_dir`]).
//!
//! Nothing of the host's is used or changed: no `/etc/docker/registry`, no host `REGISTRY_*`
//! variables, no `/etc/containers` policy, registries list or credentials for skopeo. On drop
//! the registry is killed and reaped and its directory removed; that happens on a panic too.
//! The registry logs at level `info` to `registry.log` in its directory, because that is the
//! only level at which it says *why* it refused a token: a failing test prints the log.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::http;
use crate::token::{TokenIssuer, TokenPolicy};

/// How long the registry may take to answer `GET /v2/` after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How much of its log a registry prints when the test that owns it panics.
const LOG_TAIL_ON_PANIC: usize = 200;

/// The directory of OCI image layouts built by `scripts/fixtures.sh`: `busybox-oci`
/// (`busybox:latest`), `layered-oci` (`layered:latest`) and `multi-oci` (`multi:latest`, an
/// index of linux/amd64, linux/arm64/v8 and an attestation).
///
/// Panics with the command to run when the fixtures have not been built.
pub fn images_dir() -> PathBuf {
    let images = crate::fixtures_dir().join("images");
    assert!(
        images.join("multi-oci/index.json").is_file(),
        "the image fixtures are missing or old at {}: run `sudo bash scripts/fixtures.sh`",
        images.display()
    );
    images
}

/// A running `docker-registry`; see the module documentation.
pub struct Registry {
    child: Child,
    port: u16,
    /// What skopeo sends when the registry needs credentials: the first user who may push.
    credentials: Option<(String, String)>,
    issuer: Option<TokenIssuer>,
    /// Dropped last, after the process is gone: config, storage, log, keys.
    dir: tempfile::TempDir,
}

/// Which auth the registry is configured with.
enum Auth<'a> {
    None,
    Token(&'a TokenIssuer),
    Htpasswd(&'a Path),
}

impl Registry {
    /// A registry that anyone may pull from and push to, as a local registry usually is.
    pub fn anonymous() -> Registry {
        let dir = crate::test_dir("registry");
        Registry::start(dir, Auth::None, None, None)
    }

    /// A registry that wants Bearer tokens from a [`TokenIssuer`] started with `policy`; the
    /// issuer is stopped with the registry and reachable through [`Registry::token_issuer`].
    /// The first user with [`crate::token::Access::PullPush`] is the one that seeds.
    pub fn token_auth(policy: TokenPolicy) -> Registry {
        let dir = crate::test_dir("registry-token");
        let issuer = TokenIssuer::start(policy, dir.path());
        let credentials = issuer
            .policy()
            .pusher()
            .map(|u| (u.name.clone(), u.password.clone()));
        // The auth section borrows the issuer, which moves into the registry afterwards.
        let auth_yaml = auth_yaml(&Auth::Token(&issuer));
        Registry::start_with_yaml(dir, auth_yaml, credentials, Some(issuer))
    }

    /// A registry that wants `Authorization: Basic` on every request, checked against an
    /// htpasswd file of bcrypt hashes made by `htpasswd -B` (Debian's `apache2-utils`). Every
    /// user may push and pull; the first one seeds.
    pub fn basic_auth(users: &[(&str, &str)]) -> Registry {
        let dir = crate::test_dir("registry-basic");
        let htpasswd = dir.path().join("htpasswd");
        let mut lines = String::new();
        for (user, password) in users {
            let output = Command::new("htpasswd")
                .args(["-B", "-b", "-n", user, password])
                .stdin(Stdio::null())
                .output()
                .expect(
                    "running htpasswd (Debian package apache2-utils; run scripts/install-deps.sh)",
                );
            assert!(
                output.status.success(),
                "htpasswd -Bbn {user} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            // htpasswd -n prints the line and then an empty line.
            lines.push_str(String::from_utf8_lossy(&output.stdout).trim_end());
            lines.push('\n');
        }
        fs::write(&htpasswd, lines).expect("writing the htpasswd file");
        let credentials = users
            .first()
            .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()));
        Registry::start(dir, Auth::Htpasswd(&htpasswd), credentials, None)
    }

    fn start(
        dir: tempfile::TempDir,
        auth: Auth<'_>,
        credentials: Option<(String, String)>,
        issuer: Option<TokenIssuer>,
    ) -> Registry {
        let yaml = auth_yaml(&auth);
        Registry::start_with_yaml(dir, yaml, credentials, issuer)
    }

    fn start_with_yaml(
        mut dir: tempfile::TempDir,
        auth_yaml: String,
        credentials: Option<(String, String)>,
        issuer: Option<TokenIssuer>,
    ) -> Registry {
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage).expect("creating the registry's storage directory");
        // skopeo's configuration, empty: see `Registry::skopeo`.
        fs::create_dir_all(dir.path().join("registries.d"))
            .expect("creating skopeo's registries.d");
        fs::write(dir.path().join("registries.conf"), "")
            .expect("writing skopeo's registries.conf");
        let log_path = dir.path().join("registry.log");
        // The port is picked by binding port 0 and letting it go, so another process may take
        // it before the registry binds it: then the registry exits and we try another.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let port = free_port();
            let config = dir.path().join("config.yml");
            fs::write(&config, config_yaml(port, &storage, &auth_yaml))
                .expect("writing the registry's config.yml");
            let log = File::create(&log_path).expect("creating registry.log");
            let mut command = Command::new("docker-registry");
            command
                .arg("serve")
                .arg(&config)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("duplicating the log file handle"))
                .stderr(log);
            // Environment variables override the config file (REGISTRY_HTTP_ADDR, …): keep the
            // host's out.
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().starts_with("REGISTRY_") {
                    command.env_remove(name);
                }
            }
            let child = command.spawn().expect(
                "starting docker-registry (Debian package docker-registry; run \
                 scripts/install-deps.sh)",
            );
            let mut registry = Registry {
                child,
                port,
                credentials: credentials.clone(),
                issuer: None,
                dir,
            };
            match registry.wait_until_ready() {
                Ok(()) => {
                    registry.issuer = issuer;
                    return registry;
                }
                Err(log) if log.contains("address already in use") && attempts < 5 => {
                    // Take the directory back and try another port.
                    dir = registry.take_dir();
                }
                Err(log) => {
                    panic!("docker-registry did not come up on 127.0.0.1:{port}; its log:\n{log}")
                }
            }
        }
    }

    /// Waits until the registry says it listens on its port and answers `GET /v2/` (any
    /// status: 401 is fine); on failure returns the log.
    ///
    /// The log line matters: if another process took the port first, something else may
    /// answer there while our registry exits with "address already in use".
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let listening = format!("listening on {}", self.host());
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("(exited with {status})\n{}", self.log()));
            }
            if self.log().contains(&listening)
                && http::request(&self.host(), "GET", "/v2/", &[], b"").is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "(no answer after {START_TIMEOUT:?})\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the process and hands back the directory (for a retry on another port).
    fn take_dir(mut self) -> tempfile::TempDir {
        self.kill();
        let placeholder = tempfile::Builder::new()
            .prefix("berth-test-registry-retry-")
            .tempdir()
            .expect("creating a temporary directory");
        std::mem::replace(&mut self.dir, placeholder)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `127.0.0.1:PORT`: the registry part of an image reference (`127.0.0.1:PORT/busybox`).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The registry's process id (reaped when the registry is dropped).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The token issuer of a [`Registry::token_auth`] registry.
    pub fn token_issuer(&self) -> Option<&TokenIssuer> {
        self.issuer.as_ref()
    }

    /// The user and password that seed the registry (`None` for an anonymous registry).
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The registry's own temporary directory (config, storage, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The registry's storage root (`storage.filesystem.rootdirectory`).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps the blob with `digest` (`sha256:…`): a test can corrupt it at
    /// rest, or check that a push arrived.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(hex.get(..2).unwrap_or(hex))
            .join(hex)
            .join("data")
    }

    /// The registry's log so far (level info: one line per request, and its reasons for
    /// refusing a token).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Runs `skopeo ARGS` isolated from the host's configuration: no signature policy
    /// (`--insecure-policy`), an empty registries list and lookaside directory, and a
    /// credentials file of our own that does not exist, so only `--creds` flags count.
    /// Returns its output whatever the exit status.
    pub fn skopeo(&self, args: &[&str]) -> Output {
        Command::new("skopeo")
            .arg("--insecure-policy")
            .arg("--registries.d")
            .arg(self.dir.path().join("registries.d"))
            .args(args)
            .env(
                "CONTAINERS_REGISTRIES_CONF",
                self.dir.path().join("registries.conf"),
            )
            .env(
                "REGISTRY_AUTH_FILE",
                self.dir.path().join("skopeo-auth.json"),
            )
            .stdin(Stdio::null())
            .output()
            .expect("running skopeo (Debian package skopeo; run scripts/install-deps.sh)")
    }

    /// Like [`Registry::skopeo`], but panics with skopeo's output and the registry's log when
    /// skopeo fails; returns stdout.
    pub fn skopeo_ok(&self, args: &[&str]) -> Vec<u8> {
        let output = self.skopeo(args);
        assert!(
            output.status.success(),
            "skopeo {} failed: {}\nregistry log:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        output.stdout
    }

    /// The `--creds`-style flag for the seeding user, if the registry needs one.
    fn creds_flag(&self, flag: &str) -> Vec<String> {
        self.credentials()
            .map(|(u, p)| vec![format!("{flag}={u}:{p}")])
            .unwrap_or_default()
    }

    /// Pushes the image named `ref_name` in the OCI layout `layout` to `dest` (`repo:tag`) in
    /// this registry, with skopeo. For a multi-platform image this pushes only the host's
    /// platform, as `skopeo copy` does; use [`Registry::seed_all`] for the whole index.
    ///
    /// ```no_run
    /// # use berth_tests::registry::{Registry, images_dir};
    /// let registry = Registry::anonymous();
    /// registry.seed(&images_dir().join("busybox-oci"), "busybox:latest", "library/busybox:latest");
    /// ```
    pub fn seed(&self, layout: &Path, ref_name: &str, dest: &str) {
        self.copy_in(layout, ref_name, dest, false);
    }

    /// Pushes an image index with every image it lists (`skopeo copy --all`), byte for byte:
    /// `seed_all(&images_dir().join("multi-oci"), "multi:latest", "multi:latest")`.
    pub fn seed_all(&self, layout: &Path, ref_name: &str, dest: &str) {
        self.copy_in(layout, ref_name, dest, true);
    }

    fn copy_in(&self, layout: &Path, ref_name: &str, dest: &str, all: bool) {
        let source = format!("oci:{}:{ref_name}", layout.display());
        let target = format!("docker://{}/{dest}", self.host());
        let creds = self.creds_flag("--dest-creds");
        let mut args = vec!["copy", "--quiet", "--dest-tls-verify=false"];
        if all {
            args.push("--all");
        }
        args.extend(creds.iter().map(String::as_str));
        args.push(&source);
        args.push(&target);
        self.skopeo_ok(&args);
    }

    /// The manifest (or index) that `reference` (`repo:tag` or `repo@digest`) resolves to,
    /// exactly as the registry serves it (`skopeo inspect --raw`).
    pub fn manifest(&self, reference: &str) -> Vec<u8> {
        let image = format!("docker://{}/{reference}", self.host());
        let creds = self.creds_flag("--creds");
        let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
        args.extend(creds.iter().map(String::as_str));
        args.push(&image);
        self.skopeo_ok(&args)
    }

    /// Copies `reference` (`repo:tag`) out of the registry into the OCI layout `layout` as
    /// `ref_name`, with skopeo: the check that an image pushed by the code under test is one
    /// another client can pull.
    pub fn export(&self, reference: &str, layout: &Path, ref_name: &str) {
        let source = format!("docker://{}/{reference}", self.host());
        let target = format!("oci:{}:{ref_name}", layout.display());
        let creds = self.creds_flag("--src-creds");
        let mut args = vec!["copy", "--quiet", "--src-tls-verify=false"];
        args.extend(creds.iter().map(String::as_str));
        args.push(&source);
        args.push(&target);
        self.skopeo_ok(&args);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
        // A test that failed while the registry ran gets its log, which says why it refused
        // a token or a manifest.
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_ON_PANIC)..];
            eprintln!(
                "--- last {} lines of the log of docker-registry on {} ---\n{}",
                tail.len(),
                self.host(),
                tail.join("\n")
            );
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1 (bound to port 0, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding a free port on 127.0.0.1")
        .port()
}

fn auth_yaml(auth: &Auth<'_>) -> String {
    match auth {
        Auth::None => String::new(),
        Auth::Token(issuer) => {
            let policy = issuer.policy();
            format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                 rootcertbundle: {}\n",
                issuer.realm(),
                policy.service,
                policy.issuer,
                issuer.certificate().display()
            )
        }
        Auth::Htpasswd(path) => format!(
            "auth:\n  htpasswd:\n    realm: berth-registry\n    path: {}\n",
            path.display()
        ),
    }
}

fn config_yaml(port: u16, storage: &Path, auth_yaml: &str) -> String {
    format!(
        "# Written by berth-tests for one test run.\n\
         version: 0.1\n\
         log:\n  level: info\n  formatter: text\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
         redirect:\n    disable: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: berth-tests-not-a-secret\n\
         {auth_yaml}",
        storage.display()
    )
}
