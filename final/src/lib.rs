//! # The Berth engine
//!
//! `berthd` (the daemon) and `berth` (the client), assembled from the chapter libraries:
//!
//! | module     | what it does                                                       | built on |
//! |------------|--------------------------------------------------------------------|----------|
//! | [`engine`] | chapter 4's engine, with a zygote that forks its monitors           | ch04's engine |
//! | [`api`]    | the Docker Engine API (v1.50 subset) the docker CLI and docker-py use | ch04's HTTP server |
//! | [`config`] | the daemon's settings: flags and `/etc/berth/daemon.json`           | |
//! | [`client`] | the `berth` command line: Docker's verbs over the same API          | ch04's HTTP client |
//! | [`detach`] | the Ctrl-P Ctrl-Q detach keys, for the engine and the client        | |
//! | [`doctor`] | checks that this host can run everything in the book               | ch01's namespace table, ch04's HTTP client |
//!
//! Pulling and pushing are chapter 3's ([`berth_registry`]), the image store is chapter 2's
//! ([`berth_images`]), the container runtime is chapter 1's ([`berth_namespaces`]).

pub mod api;
pub mod client;
pub mod config;
pub mod doctor;
pub mod engine;

/// Docker's detach keys: chapter 4's, shared by the engine's attach sessions and the client.
pub use berth_daemon::engine::detach;
