//! Chapter 8: data that outlives its container.
//!
//! A container's writable layer goes when the container goes (`docker rm`). Docker keeps
//! data apart from it in *volumes*: directories the daemon owns under its data root
//! (`/var/lib/docker/volumes/<name>/_data`), mounted into the container at a path of its
//! choosing, plus *bind mounts* of any host path and *tmpfs* mounts that live in memory. This
//! crate is that, in four steps:
//!
//! - [`volume`]: the store of named and anonymous volumes with the `local` driver (create,
//!   list with filters, inspect, remove, prune);
//! - [`spec`]: what the user typed (`-v`, `--mount`, `--tmpfs`) parsed into [`spec::MountSpec`]s,
//!   with errors that name the flag;
//! - [`inroot`]: the chapter 1 child step that makes one mount, its destination resolved
//!   *inside* the container's root with `openat2(RESOLVE_IN_ROOT)`, so a symlink in an image
//!   can never send a mount onto the host;
//! - [`attach`]: a container's mounts: volumes made or found, sources resolved on the host
//!   once, the steps added to its start, and which containers use which volume;
//! - [`copyup`]: a new volume filled once with the image's files at its destination;
//! - [`engine`]: all of it plugged into chapter 4's engine as an extension;
//! - [`outside`]: a container's files reached from the outside, resolved inside its root
//!   (`docker cp`, `docker export`).

pub mod attach;
pub mod copyup;
pub mod engine;
pub mod inroot;
pub mod outside;
pub mod spec;
pub mod volume;

pub use attach::{AttachError, Attached, ContainerMounts};
pub use engine::VolumeExtension;
pub use inroot::{InRootMount, MountSource, PrepareError};
pub use spec::{MountKind, MountSpec, SpecError};
pub use volume::{Volume, VolumeError, Volumes};
