//! `pull`: from a tag to an image in the store.
//!
//! ```text
//! GET /v2/                              ping: how do you want to be authenticated?
//! GET <realm>?scope=repository:R:pull   a token (Bearer registries)
//! GET /v2/R/manifests/<tag>             an index (multi-platform) or an image manifest
//! GET /v2/R/manifests/<digest>          the manifest for our platform, from the index
//! GET /v2/R/blobs/<config digest>       the config: how to run it, and the layers' diff ids
//! GET /v2/R/blobs/<layer digest>  x N   the layers, in parallel, often redirected to a CDN
//! ```
//!
//! Each layer streams from the socket through chapter 2's [`Store::stage_layer`]: hashed,
//! decompressed, hashed again and unpacked in one pass, never written whole to disk first.
//! Layers the store has are skipped ("Already exists"). Only when every layer has passed its
//! checks do the layers, the config, the image record and the tag become visible, so a failed
//! or killed pull leaves the store as it was, and running it again starts cleanly.

use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use berth_images::Digest;
use berth_images::reference::Reference;
use berth_images::spec::{self, ImageConfig, Manifest};
use berth_images::store::{Added, NewImage, StagedLayer, Store};
use ureq::http::Method;

use crate::client::{Registry, Request, read_error};
use crate::config::RegistryConfig;
use crate::error::RegistryError;
use crate::manifests::{self, Platform};
use crate::progress::{Event, LayerState, Progress};

/// How many layers download at once: Docker's default (`max-concurrent-downloads`).
const PARALLEL_DOWNLOADS: usize = 3;
/// How many times a download is tried before giving up: Docker's `max-download-attempts`
/// default. (Docker waits 5, 10, 15... seconds between tries; we wait a fifth of a second
/// more each time: our registries are near.)
const ATTEMPTS: u32 = 5;

/// How to pull.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// The platform to pick from a multi-platform image; the host's by default.
    pub platform: Platform,
    /// Print every HTTP request to stderr.
    pub trace: bool,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: Platform::host(),
            trace: false,
        }
    }
}

/// What a pull did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pulled {
    /// The image id (config digest).
    pub id: Digest,
    /// The digest the tag resolved to (the index's, for a multi-platform image).
    pub digest: Digest,
    /// Whether anything new was stored (false: "Image is up to date").
    pub updated: bool,
}

// ANCHOR: pull
/// Pulls `reference` into `store`, trying Docker Hub's mirrors first for `docker.io` images.
pub fn pull(
    store: &Store,
    config: &RegistryConfig,
    reference: &Reference,
    options: &PullOptions,
    progress: &mut dyn Progress,
) -> Result<Pulled, RegistryError> {
    let reference = reference.clone().with_default_tag();
    let mut last_error = None;
    for endpoint in Registry::endpoints(config, &reference.domain, options.trace) {
        let attempt = endpoint
            .and_then(|registry| pull_from(store, &registry, &reference, options, progress));
        match attempt {
            Ok(pulled) => return Ok(pulled),
            // A mirror that fails is skipped; the last endpoint's error is the one reported.
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.expect("there is always at least one endpoint"))
}
// ANCHOR_END: pull

// ANCHOR: pull_from
/// Pulls from one registry.
fn pull_from(
    store: &Store,
    registry: &Registry,
    reference: &Reference,
    options: &PullOptions,
    progress: &mut dyn Progress,
) -> Result<Pulled, RegistryError> {
    let repository = &reference.path;
    let scopes = vec![format!("repository:{repository}:pull")];
    let display = reference.familiar();
    let tag_or_digest = match (&reference.digest, &reference.tag) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.clone(),
        (None, None) => "latest".into(),
    };

    // 1. The manifest the tag names; 2. for an index, the one for our platform.
    let top =
        retrying(|| manifests::fetch(registry, repository, &tag_or_digest, &display, &scopes))?;
    let short = reference.tag.clone().unwrap_or_else(|| top.digest.short());
    progress.event(Event::Line(format!(
        "{short}: Pulling from {}",
        reference_path_for_display(reference)
    )));
    let image = if top.is_index() {
        let entry = manifests::pick(&top, &options.platform, &display)?;
        manifests::fetch(
            registry,
            repository,
            &entry.digest.to_string(),
            &display,
            &scopes,
        )?
    } else {
        top.clone()
    };
    let manifest: Manifest = spec::parse("the image manifest", &image.bytes).map_err(|reason| {
        RegistryError::Invalid {
            what: format!("the manifest of {display}"),
            reason,
        }
    })?;

    // 3. The config, verified against the manifest.
    let config_bytes =
        retrying(|| fetch_blob_bytes(registry, repository, &manifest.config.digest, &scopes))?;
    let config: ImageConfig = spec::parse("the image config", &config_bytes).map_err(|reason| {
        RegistryError::Invalid {
            what: format!("the config of {display}"),
            reason,
        }
    })?;
    let diff_ids = config.rootfs.diff_ids.clone();
    if diff_ids.len() != manifest.layers.len() {
        return Err(RegistryError::Invalid {
            what: format!("the image {display}"),
            reason: format!(
                "its config lists {} layers, its manifest {}",
                diff_ids.len(),
                manifest.layers.len()
            ),
        });
    }
    let up_to_date = store.image(&manifest.config.digest)?.is_some()
        && store.resolve(&reference.to_string()).map(|r| r.id).ok() == Some(manifest.config.digest);

    // 4. The layers, staged in parallel while holding the locks that keep `rmi` away.
    let _shared = store.shared_lock()?;
    let _layer_locks = store.lock_layers(&diff_ids)?;
    let staged = stage_layers(
        store, registry, repository, &manifest, &diff_ids, &scopes, progress,
    )?;
    let updated = !up_to_date || staged.iter().any(|s| s.added == Added::Unpacked);

    // 5. Everything passed: make it visible, layers first, the name last.
    let layers = diff_ids
        .iter()
        .zip(&manifest.layers)
        .zip(staged)
        .map(|((diff_id, descriptor), staged)| (*diff_id, descriptor.media_type.clone(), staged))
        .collect();
    let record = store.commit_image(NewImage {
        config: config_bytes,
        config_digest: manifest.config.digest,
        created: config.created.clone(),
        manifest: Some((image.digest, image.bytes.clone())),
        layers,
        names: vec![reference.clone()],
        repo_digest: Some(format!("{}@{}", reference.repository(), top.digest)),
    })?;
    progress.event(Event::Line(format!("Digest: {}", top.digest)));
    progress.event(Event::Line(if updated {
        format!("Status: Downloaded newer image for {display}")
    } else {
        format!("Status: Image is up to date for {display}")
    }));
    Ok(Pulled {
        id: record.id,
        digest: top.digest,
        updated,
    })
}
// ANCHOR_END: pull_from

/// Tries `fetch` again after a transient failure (a 429, a dropped connection), up to
/// [`ATTEMPTS`] times.
fn retrying<T>(mut fetch: impl FnMut() -> Result<T, RegistryError>) -> Result<T, RegistryError> {
    let mut attempt = 1;
    loop {
        match fetch() {
            Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// `library/busybox` as `docker pull` prints it after "Pulling from".
fn reference_path_for_display(reference: &Reference) -> String {
    if reference.domain == crate::config::DOCKER_HUB {
        reference.path.clone()
    } else {
        reference.repository()
    }
}

// ANCHOR: stage_layers
/// Downloads and stages every layer the store lacks, a few at a time, retrying transient
/// failures. Events come back to this thread through a channel, to be shown in order.
fn stage_layers(
    store: &Store,
    registry: &Registry,
    repository: &str,
    manifest: &Manifest,
    diff_ids: &[Digest],
    scopes: &[String],
    progress: &mut dyn Progress,
) -> Result<Vec<StagedLayer>, RegistryError> {
    let count = manifest.layers.len();
    for (descriptor, diff_id) in manifest.layers.iter().zip(diff_ids) {
        // Layers the store has get just "Already exists", from their worker.
        if !(store.has_layer(diff_id) && store.has_blob(&descriptor.digest)) {
            progress.event(Event::Layer {
                id: descriptor.digest.short(),
                state: LayerState::Waiting,
            });
        }
    }
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<StagedLayer, RegistryError>>>> =
        (0..count).map(|_| Mutex::new(None)).collect();
    let (events, received) = mpsc::channel::<Event>();
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_DOWNLOADS.min(count) {
            let events = events.clone();
            let (next, results) = (&next, &results);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(descriptor) = manifest.layers.get(i) else {
                        break;
                    };
                    let result = stage_one(
                        store,
                        registry,
                        repository,
                        descriptor,
                        &diff_ids[i],
                        scopes,
                        &events,
                    );
                    *results[i].lock().expect("no worker panics holding it") = Some(result);
                }
            });
        }
        drop(events);
        for event in received {
            progress.event(event);
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("no worker panics holding it")
                .expect("every layer was tried")
        })
        .collect()
}
// ANCHOR_END: stage_layers

// ANCHOR: stage_one
/// Stages one layer, trying up to [`ATTEMPTS`] times.
fn stage_one(
    store: &Store,
    registry: &Registry,
    repository: &str,
    descriptor: &spec::Descriptor,
    diff_id: &Digest,
    scopes: &[String],
    events: &mpsc::Sender<Event>,
) -> Result<StagedLayer, RegistryError> {
    let id = descriptor.digest.short();
    let send = |state| {
        let _ = events.send(Event::Layer {
            id: id.clone(),
            state,
        });
    };
    if store.has_layer(diff_id) && store.has_blob(&descriptor.digest) {
        send(LayerState::AlreadyExists);
        return store
            .stage_layer(Some(&descriptor.digest), diff_id, std::io::empty())
            .map_err(RegistryError::from);
    }
    let mut attempt = 1;
    loop {
        let result = download(
            store, registry, repository, descriptor, diff_id, scopes, &send,
        );
        match result {
            Ok(staged) => {
                send(LayerState::PullComplete);
                return Ok(staged);
            }
            Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                send(LayerState::Retrying {
                    attempt: attempt + 1,
                    reason: error.to_string(),
                });
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}
// ANCHOR_END: stage_one

// ANCHOR: download
/// One download of a layer, streamed into the store.
fn download(
    store: &Store,
    registry: &Registry,
    repository: &str,
    descriptor: &spec::Descriptor,
    diff_id: &Digest,
    scopes: &[String],
    send: &dyn Fn(LayerState),
) -> Result<StagedLayer, RegistryError> {
    let response = blob_response(registry, repository, &descriptor.digest, scopes)?;
    let total = descriptor.size;
    let mut body = Counting {
        inner: response.into_body().into_reader(),
        read: 0,
        total,
        send,
        reported: 0,
    };
    let staged = store.stage_layer(Some(&descriptor.digest), diff_id, &mut body)?;
    send(LayerState::VerifyingChecksum);
    send(LayerState::DownloadComplete);
    Ok(staged)
}
// ANCHOR_END: download

/// Counts bytes as they stream by, reporting every 256 KiB.
struct Counting<'a, R> {
    inner: R,
    read: u64,
    total: u64,
    send: &'a dyn Fn(LayerState),
    reported: u64,
}

// ANCHOR: counting
impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        // The manifest says how big the blob is; a connection closed before that is a
        // transfer cut short (worth a retry), not a damaged blob.
        if n == 0 && !buf.is_empty() && self.read < self.total {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the registry closed the connection after {} of {} bytes",
                    self.read, self.total
                ),
            ));
        }
        self.read += n as u64;
        if self.read - self.reported >= 256 * 1024 || (n == 0 && self.read != self.reported) {
            self.reported = self.read;
            (self.send)(LayerState::Downloading {
                current: self.read,
                total: self.total,
            });
        }
        Ok(n)
    }
}
// ANCHOR_END: counting

/// `GET /v2/R/blobs/<digest>`, redirects followed, as a response with a 200.
fn blob_response(
    registry: &Registry,
    repository: &str,
    digest: &Digest,
    scopes: &[String],
) -> Result<crate::client::HttpResponse, RegistryError> {
    let path = format!("/v2/{repository}/blobs/{digest}");
    let response = registry
        .send(&Request::new(Method::GET, path.clone(), scopes))
        .map_err(|e| manifests::pull_error(registry, repository, e))?;
    let status = response.status().as_u16();
    if status == 200 {
        return Ok(response);
    }
    let (_, message) = read_error(response);
    Err(RegistryError::Status {
        method: "GET".into(),
        url: format!("{}{path}", registry.base()),
        status,
        message,
    })
}

/// Fetches a small blob (the config) whole and checks its digest.
fn fetch_blob_bytes(
    registry: &Registry,
    repository: &str,
    digest: &Digest,
    scopes: &[String],
) -> Result<Vec<u8>, RegistryError> {
    let response = blob_response(registry, repository, digest, scopes)?;
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(16 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Unreachable {
            url: format!("{}/v2/{repository}/blobs/{digest}", registry.base()),
            reason: e.to_string(),
        })?;
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(RegistryError::DigestMismatch {
            what: "config blob",
            digest: *digest,
            actual,
        });
    }
    Ok(bytes)
}
