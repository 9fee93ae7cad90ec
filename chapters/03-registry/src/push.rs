//! `push`: from the store to a registry, blobs first, the manifest last.
//!
//! ```text
//! HEAD /v2/R/blobs/<digest>                    already there? then skip it
//! POST /v2/R/blobs/uploads/?mount=D&from=R2    or borrow it from another repository
//! POST /v2/R/blobs/uploads/                    or upload it: 202 and a Location ...
//! PUT  <Location>&digest=<digest>              ... to send it to, in one piece
//! PUT  /v2/R/manifests/<tag>                   finally the manifest, which names them all
//! ```
//!
//! The order matters: a registry refuses a manifest whose blobs it does not have, so until the
//! manifest is in, the pushed blobs are invisible; a push that dies half-way changes no tag.

use berth_images::Digest;
use berth_images::reference::Reference;
use berth_images::spec::media_type;
use berth_images::store::{ImageRecord, Store};
use ureq::http::Method;

use crate::client::{Body, Registry, Request, read_error, resolve};
use crate::config::RegistryConfig;
use crate::error::RegistryError;
use crate::progress::{Event, LayerState, Progress};

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest's digest, by which the image can be pulled back.
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: usize,
}

// ANCHOR: push
/// Pushes the image named `reference` (with `latest` if it has no tag) to its registry.
pub fn push(
    store: &Store,
    config: &RegistryConfig,
    reference: &Reference,
    trace: bool,
    progress: &mut dyn Progress,
) -> Result<Pushed, RegistryError> {
    let reference = reference.clone().with_default_tag();
    let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
    let image = store
        .resolve(&reference.to_string())
        .map_err(|_| RegistryError::Invalid {
            what: format!("the image {}", reference.familiar()),
            reason: format!(
                "an image does not exist locally with the tag: {}",
                reference.familiar()
            ),
        })?;
    let registry = Registry::connect(config, &reference.domain, trace)?;
    let repository = &reference.path;
    progress.event(Event::Line(format!(
        "The push refers to repository [{}]",
        reference.repository()
    )));

    // Other repositories of the same registry that hold this image: blobs can be mounted
    // from them instead of uploaded again.
    let siblings: Vec<String> = store
        .names()?
        .iter()
        .filter(|(_, id)| **id == image.id)
        .filter_map(|(name, _)| Reference::parse(name).ok())
        .filter(|r| r.domain == reference.domain && r.path != *repository)
        .map(|r| r.path)
        .collect();

    let (manifest_type, manifest) = manifest_for(store, &image)?;
    let mut blobs: Vec<(Digest, u64)> = image.layers.iter().map(|l| (l.blob, l.size)).collect();
    blobs.push((
        image.id,
        std::fs::metadata(store.blob_path(&image.id)).map_or(0, |m| m.len()),
    ));
    for (digest, size) in blobs {
        let id = digest.short();
        progress.event(Event::Layer {
            id: id.clone(),
            state: LayerState::Preparing,
        });
        let state = push_blob(
            store,
            &registry,
            repository,
            &siblings,
            &digest,
            size,
            &mut *progress,
        )?;
        progress.event(Event::Layer { id, state });
    }

    let path = format!("/v2/{repository}/manifests/{tag}");
    let scopes = push_scopes(repository, &[]);
    let request = Request::new(Method::PUT, path.clone(), &scopes)
        .header("Content-Type", manifest_type)
        .body(Body::Bytes(manifest.clone()));
    let response = registry
        .send(&request)
        .map_err(|e| push_error(&registry, repository, e))?;
    expect(response, 201, "PUT", &registry, &path, repository)?;
    let digest = Digest::of(&manifest);
    progress.event(Event::Line(format!(
        "{tag}: digest: {digest} size: {}",
        manifest.len()
    )));
    Ok(Pushed {
        digest,
        size: manifest.len(),
    })
}
// ANCHOR_END: push

/// The scopes a push needs: push and pull on the target, pull on mount sources.
fn push_scopes(repository: &str, sources: &[String]) -> Vec<String> {
    let mut scopes = vec![format!("repository:{repository}:pull,push")];
    scopes.extend(sources.iter().map(|s| format!("repository:{s}:pull")));
    scopes
}

// ANCHOR: push_blob
/// Makes sure the registry has one blob; says how.
fn push_blob(
    store: &Store,
    registry: &Registry,
    repository: &str,
    siblings: &[String],
    digest: &Digest,
    size: u64,
    progress: &mut dyn Progress,
) -> Result<LayerState, RegistryError> {
    let scopes = push_scopes(repository, &[]);
    let head = format!("/v2/{repository}/blobs/{digest}");
    let response = registry
        .send(&Request::new(Method::HEAD, head, &scopes))
        .map_err(|e| push_error(registry, repository, e))?;
    if response.status().as_u16() == 200 {
        return Ok(LayerState::LayerAlreadyExists);
    }

    // Borrow it from a repository that has it; a 202 means "no, but here is an upload".
    let mut location = None;
    for sibling in siblings {
        let path = format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={sibling}");
        let scopes = push_scopes(repository, std::slice::from_ref(sibling));
        let response = registry
            .send(&Request::new(Method::POST, path, &scopes).body(Body::Bytes(Vec::new())))
            .map_err(|e| push_error(registry, repository, e))?;
        match response.status().as_u16() {
            201 => return Ok(LayerState::MountedFrom(sibling.clone())),
            202 => {
                location = header(&response, "location");
                break;
            }
            _ => {}
        }
    }

    let upload = match location {
        Some(location) => location,
        None => {
            let path = format!("/v2/{repository}/blobs/uploads/");
            let response = registry
                .send(
                    &Request::new(Method::POST, path.clone(), &scopes)
                        .body(Body::Bytes(Vec::new())),
                )
                .map_err(|e| push_error(registry, repository, e))?;
            let location = header(&response, "location");
            expect(response, 202, "POST", registry, &path, repository)?;
            location.ok_or_else(|| RegistryError::Invalid {
                what: format!("the answer to POST {path}"),
                reason: "it has no Location to upload to".into(),
            })?
        }
    };
    // The Location may be relative and may carry state in its query (`_state=...`), which
    // must be kept: append the digest to it rather than replace it.
    let base = format!("{}/v2/{repository}/blobs/uploads/", registry.base());
    let mut url = resolve(&base, &upload);
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!("digest={digest}"));
    progress.event(Event::Layer {
        id: digest.short(),
        state: LayerState::Pushing,
    });
    let body = Body::File {
        path: store.blob_path(digest),
        len: size,
    };
    let response = registry
        .send(
            &Request::new(Method::PUT, url.clone(), &scopes)
                .header("Content-Type", "application/octet-stream")
                .body(body),
        )
        .map_err(|e| push_error(registry, repository, e))?;
    expect(response, 201, "PUT", registry, &url, repository)?;
    Ok(LayerState::Pushed)
}
// ANCHOR_END: push_blob

/// The manifest to push: the one the image came with, or one written now for an image that
/// came without (from a `docker save` archive), in Docker's schema 2, as `docker push` does.
fn manifest_for(store: &Store, image: &ImageRecord) -> Result<(String, Vec<u8>), RegistryError> {
    if let Some(digest) = &image.manifest {
        let bytes = store.read_blob(digest)?;
        let kind = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_owned))
            .unwrap_or_else(|| media_type::OCI_MANIFEST.to_owned());
        return Ok((kind, bytes));
    }
    let config_size = store.read_blob(&image.id)?.len();
    let layers: Vec<serde_json::Value> = image
        .layers
        .iter()
        .map(|layer| {
            serde_json::json!({
                "mediaType": match layer.media_type.as_str() {
                    media_type::OCI_LAYER => media_type::DOCKER_LAYER,
                    media_type::OCI_LAYER_GZIP => media_type::DOCKER_LAYER_GZIP,
                    other => other,
                },
                "size": layer.size,
                "digest": layer.blob.to_string(),
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::DOCKER_MANIFEST,
        "config": {
            "mediaType": media_type::DOCKER_CONFIG,
            "size": config_size,
            "digest": image.id.to_string(),
        },
        "layers": layers,
    });
    let bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest always serialises");
    Ok((media_type::DOCKER_MANIFEST.to_owned(), bytes))
}

fn header(response: &crate::client::HttpResponse, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn expect(
    response: crate::client::HttpResponse,
    status: u16,
    method: &str,
    registry: &Registry,
    path: &str,
    repository: &str,
) -> Result<(), RegistryError> {
    let got = response.status().as_u16();
    if got == status {
        return Ok(());
    }
    let (code, message) = read_error(response);
    if got == 403 || code == "DENIED" {
        return Err(RegistryError::PushDenied {
            registry: registry.name.clone(),
            repository: repository.to_owned(),
            message,
        });
    }
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        format!("{}{path}", registry.base())
    };
    Err(RegistryError::Status {
        method: method.into(),
        url,
        status: got,
        message: if code.is_empty() {
            message
        } else {
            format!("{code}: {message}")
        },
    })
}

/// A refusal during a push: no credentials, or ones that do not allow pushing there (the
/// token server then grants `pull` only, and the registry still says 401).
fn push_error(registry: &Registry, repository: &str, error: RegistryError) -> RegistryError {
    match error {
        RegistryError::Unauthorized { message, .. } => RegistryError::PushDenied {
            registry: registry.name.clone(),
            repository: repository.to_owned(),
            message,
        },
        other => other,
    }
}
