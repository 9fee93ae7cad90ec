//! # Chapter 3: pulling from and pushing to a registry
//!
//! Docker's "ship" step. A registry is an HTTP server that stores blobs by digest and
//! manifests by tag or digest (the distribution API v2, which the OCI distribution spec
//! standardises). `docker pull` is a handful of GET requests: the manifest a tag names, the
//! config and the layers it names, all checked against their digests, streamed into chapter 2's
//! store. `docker push` is the same in reverse.
//!
//! Read the modules in this order: `config` (which registry, mirrors, insecure ones), `auth`
//! (credentials, challenges, tokens), `client` (one registry over HTTP), `manifests`, `pull`,
//! `push`, `progress`, `error`.

pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod manifests;
pub mod progress;
pub mod pull;
pub mod push;

pub use config::RegistryConfig;
pub use error::RegistryError;
pub use manifests::Platform;
pub use pull::{PullOptions, Pulled, pull};
pub use push::{Pushed, push};
