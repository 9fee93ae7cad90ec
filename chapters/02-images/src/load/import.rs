//! `docker import`: an image of one layer, made from a tar of a root filesystem.
//!
//! `docker export` writes a container's files as one tar; `docker import` makes that tar the
//! single layer of a new image, with a config written on the spot: the host's platform, no
//! command unless `--change` gives one, a history entry that says where it came from. The
//! `--change` lines are Dockerfile instructions (`CMD ["sh"]`, `ENV A=1`, `WORKDIR /app`), of
//! which Docker takes the ones that only change the config; so do we, and refuse the others
//! by name.
//!
//! The layer goes through the same staging as a pulled or loaded one (hashed, unpacked
//! under `tmp/`, checked, then committed), so a tar that escapes or is damaged is refused
//! before anything is visible.

use serde_json::{Map, Value, json};

use super::LoadError;
use crate::digest::Digest;
use crate::reference::Reference;
use crate::spec::media_type;
use crate::store::{ImageRecord, NewImage, Store};

/// Why a `--change` line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChangeError {
    #[error("--change {0:?}: {1}")]
    Invalid(String, &'static str),
    #[error(
        "--change {0:?}: {1} is not supported here: use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, \
         ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR"
    )]
    Unsupported(String, String),
}

// ANCHOR: changes
/// Applies Dockerfile-style `changes` to `config` (the image config's `config` object).
pub fn apply_changes(
    config: &mut Map<String, Value>,
    changes: &[String],
) -> Result<(), ChangeError> {
    for line in changes {
        let line_trimmed = line.trim();
        if line_trimmed.is_empty() {
            continue;
        }
        let (instruction, rest) = line_trimmed
            .split_once(char::is_whitespace)
            .map_or((line_trimmed, ""), |(i, r)| (i, r.trim()));
        let invalid = |why| ChangeError::Invalid(line.clone(), why);
        match instruction.to_ascii_uppercase().as_str() {
            "CMD" => {
                config.insert("Cmd".into(), json!(command(rest, true)));
            }
            "ENTRYPOINT" => {
                config.insert("Entrypoint".into(), json!(command(rest, true)));
            }
            "ENV" => {
                let mut env: Vec<String> = config
                    .get("Env")
                    .and_then(|e| serde_json::from_value(e.clone()).ok())
                    .unwrap_or_default();
                for (key, value) in pairs(rest).ok_or_else(|| invalid("expected KEY=VALUE"))? {
                    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
                    env.push(format!("{key}={value}"));
                }
                config.insert("Env".into(), json!(env));
            }
            "LABEL" => {
                let labels = config
                    .entry("Labels")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .ok_or_else(|| invalid("the labels are not an object"))?;
                for (key, value) in pairs(rest).ok_or_else(|| invalid("expected KEY=VALUE"))? {
                    labels.insert(key, json!(value));
                }
            }
            "WORKDIR" | "USER" | "STOPSIGNAL" => {
                if rest.is_empty() {
                    return Err(invalid("a value is required"));
                }
                let key = match instruction.to_ascii_uppercase().as_str() {
                    "WORKDIR" => "WorkingDir",
                    "USER" => "User",
                    _ => "StopSignal",
                };
                config.insert(key.into(), json!(rest));
            }
            "EXPOSE" | "VOLUME" => {
                let key = if instruction.eq_ignore_ascii_case("EXPOSE") {
                    "ExposedPorts"
                } else {
                    "Volumes"
                };
                let set = config
                    .entry(key)
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .ok_or_else(|| invalid("not an object"))?;
                for item in command(rest, false) {
                    let item = if key == "ExposedPorts" && !item.contains('/') {
                        format!("{item}/tcp")
                    } else {
                        item
                    };
                    set.insert(item, json!({}));
                }
            }
            "ONBUILD" => {
                let mut onbuild: Vec<String> = config
                    .get("OnBuild")
                    .and_then(|e| serde_json::from_value(e.clone()).ok())
                    .unwrap_or_default();
                onbuild.push(rest.to_owned());
                config.insert("OnBuild".into(), json!(onbuild));
            }
            other => return Err(ChangeError::Unsupported(line.clone(), other.to_owned())),
        }
    }
    Ok(())
}
// ANCHOR_END: changes

/// A command in JSON form (`["sh", "-c", "x"]`), else in shell form: `/bin/sh -c TEXT` when
/// `shell` (CMD, ENTRYPOINT), else split on whitespace (EXPOSE, VOLUME).
fn command(text: &str, shell: bool) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(text) {
        return list;
    }
    if shell {
        vec!["/bin/sh".into(), "-c".into(), text.to_owned()]
    } else {
        text.split_whitespace().map(str::to_owned).collect()
    }
}

/// `KEY=VALUE KEY2="two words"`, or the old `KEY VALUE` form; `None` if neither.
fn pairs(text: &str) -> Option<Vec<(String, String)>> {
    if !text.contains('=') {
        let (key, value) = text.split_once(char::is_whitespace)?;
        return Some(vec![(key.to_owned(), value.trim().to_owned())]);
    }
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        pairs.push((key.to_owned(), value));
        rest = after.trim_start();
    }
    Some(pairs)
}

/// What `docker import` was asked for, beside the tar.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The `--change` lines.
    pub changes: Vec<String>,
    /// `--message`: the history entry's comment.
    pub message: Option<String>,
    /// The name to give it (`repo:tag`), if any: an import without one is an untagged image.
    pub name: Option<Reference>,
    /// The platform's architecture (the host's unless `--platform` said otherwise).
    pub architecture: String,
    /// When it is made, RFC 3339.
    pub created: String,
}

// ANCHOR: import
/// Makes an image of `tar` (plain or compressed, held in memory: the API's body) as its one
/// layer, with a config from `options`, and adds it to `store`.
pub fn import(
    store: &Store,
    tar: &[u8],
    options: &ImportOptions,
) -> Result<ImageRecord, LoadError> {
    let document = |reason: String| LoadError::Document {
        archive: "the imported tar".into(),
        name: "its config".into(),
        reason,
    };
    let diff_id = crate::unpack::diff_id_of(tar).map_err(|source| {
        LoadError::Layer(crate::store::LayerError::Unpack {
            blob: Digest::of(tar),
            source,
        })
    })?;
    let mut run = Map::new();
    apply_changes(&mut run, &options.changes).map_err(|e| document(e.to_string()))?;
    let comment = options
        .message
        .clone()
        .unwrap_or_else(|| "Imported from -".into());
    let config = json!({
        "architecture": options.architecture,
        "os": "linux",
        "created": options.created,
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created": options.created, "comment": comment}],
    });
    let config = serde_json::to_vec(&config).map_err(|e| document(e.to_string()))?;
    let gzip = tar.starts_with(&[0x1f, 0x8b]);
    let media = if gzip {
        media_type::DOCKER_LAYER_GZIP
    } else {
        media_type::DOCKER_LAYER
    };
    let _shared = store.shared_lock()?;
    let _layer_lock = store.lock_layers([&diff_id])?;
    let staged = store.stage_layer(None, &diff_id, tar)?;
    Ok(store.commit_image(NewImage {
        config_digest: Digest::of(&config),
        config,
        created: Some(options.created.clone()),
        manifest: None,
        layers: vec![(diff_id, media.to_owned(), staged)],
        names: options.name.clone().into_iter().collect(),
        repo_digest: None,
    })?)
}
// ANCHOR_END: import

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_become_config_fields() {
        let mut config = Map::new();
        let changes = [
            r#"CMD ["sh"]"#,
            "ENV A=1 B=\"two words\"",
            "ENV A 3",
            "WORKDIR /app",
            "ENTRYPOINT echo hi",
            "EXPOSE 80 53/udp",
        ]
        .map(String::from);
        apply_changes(&mut config, &changes).unwrap();
        assert_eq!(
            Value::Object(config),
            json!({
                "Cmd": ["sh"],
                "Env": ["B=two words", "A=3"],
                "WorkingDir": "/app",
                "Entrypoint": ["/bin/sh", "-c", "echo hi"],
                "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
            })
        );
        let refused = apply_changes(&mut Map::new(), &["RUN rm -rf /".into()]).unwrap_err();
        assert!(
            refused.to_string().contains("RUN is not supported"),
            "{refused}"
        );
    }
}
