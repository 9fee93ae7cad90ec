//! # Chapter 4: the client/daemon split
//!
//! `docker run` does not run anything. It sends HTTP requests to `dockerd` over the UNIX socket
//! `/var/run/docker.sock`, and the daemon, which outlives every client, owns the image store and
//! the containers. "The Docker API" is plain HTTP/1.1: you can speak it with
//! `curl --unix-socket`. This chapter builds that split for Berth.
//!
//! The [`http`] module is the foundation: a small HTTP/1.1 server and client written by hand on
//! top of the `httparse` head parser, so that every byte that crosses the socket is visible in
//! code a learner can read, including the connection *hijack* Docker uses for `attach` and
//! `exec`, which most HTTP libraries cannot express.

pub mod api;
pub mod engine;
pub mod http;
pub mod lock;
pub mod log;
