//! # Chapter 2: images as layers
//!
//! A Docker image is a stack of read-only layers plus a config: each layer a tar of the files
//! it adds, changes or deletes, all of them named by the sha256 of their content. To run a
//! container, Docker unpacks each layer once into a directory of its own and mounts an
//! overlay filesystem of those directories, with one writable directory on top.
//!
//! This crate starts where the security lies:
//!
//! - [`digest`]: content addresses (`sha256:…`), computed while the bytes stream past, and
//!   verified before anything is trusted;
//! - [`unpack`]: one layer tar (gzip, zstd or plain) unpacked into its own directory, with
//!   whiteouts translated for overlayfs and nothing ever written outside it.
//!
//! The image store, `load` and `run` build on these two; [`pack`] is the way back (a tree as
//! a tar: `docker cp` and `docker export`), and [`changes`] lists what a container changed
//! (`docker diff`).

pub mod digest;
pub mod unpack;

pub mod changes;
pub mod cli;
pub mod container;
pub mod history;
pub mod load;
pub mod overlay;
pub mod pack;
pub mod reference;
pub mod save;
pub mod spec;
pub mod state;
pub mod store;
pub mod text;
pub mod users;

pub use digest::{Digest, DigestError};
pub use unpack::{Compression, Refusal, UnpackError, Unpacked, unpack_layer};
