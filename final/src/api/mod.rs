//! The Docker Engine API, as `berthd` serves it to the docker CLI and docker-py.
//!
//! Chapter 4 taught the mechanics: an HTTP/1.1 server over a UNIX socket, a router, streamed
//! bodies and the hijack. This module is the *contract*: the routes, fields and status codes
//! that the real `docker` 28 and the docker Python SDK 7.1 send and read (`docker-api.md` in the
//! project notes records them). Each file is one group of endpoints:
//!
//! | module          | endpoints                                                          |
//! |-----------------|--------------------------------------------------------------------|
//! | [`system`]      | `/_ping`, `/version`, `/info`, `/auth`                             |
//! | [`containers`]  | `/containers/...`: create, start, stop, kill, wait, rm, ps, inspect, attach, resize, logs |
//! | [`host_config`] | every `HostConfig` field and its status (one table)                |
//! | [`create`]      | decoding Docker's create body, refusing the flags we cannot honour |
//! | [`archive`]     | `/containers/{id}/archive` (`docker cp`), `/export`, `/changes` (`docker diff`) |
//! | [`exec`]        | `/containers/{id}/exec`, `/exec/{id}/...`                          |
//! | [`events`]      | `/events`: the engine's events as Docker's JSON stream             |
//! | [`live`]        | stats, pause, unpause, update, top: a running container's cgroup (chapter 5) |
//! | [`images`]      | `/images/...`: pull, list, inspect, tag, rmi, push                 |
//! | [`archives`]    | `/images/get`, `/images/load`: save and load                       |
//! | [`df`]          | `/system/df`                                                       |
//! | [`prune`]       | `/containers/prune`, `/images/prune`                               |
//! | [`progress`]    | Docker's JSON progress stream, from chapter 3's progress events   |
//! | [`auth`]        | the `X-Registry-Auth` header                                        |
//! | [`filters`]     | the `filters` query parameter, in the CLI's and docker-py's forms  |
//! | [`errors`]      | engine, store and registry errors as HTTP statuses                 |
//! | [`volumes`]     | `/volumes/...`, and the mount fields of a create (chapter 8)       |
//! | [`networks`]    | `/networks/...`, and the network fields of create and inspect (chapter 7) |
//! | [`status`]      | the book's generated API status page                               |
//! | [`unsupported`] | `/build`, BuildKit's `/session` and `/grpc`                        |
//! | [`tls`]         | TLS with client certificates for `-H tcp://...`                    |
//!
//! **Version negotiation.** Every CLI invocation starts with `HEAD /_ping` and reads the
//! `Api-Version` header: the highest version we speak. The client then prefixes every path with
//! `/v<version>`. As moby does, we accept any version from [`MIN_API_VERSION`] to
//! [`API_VERSION`], answer a path without a prefix at the newest version, and refuse the others
//! with a 400 that says which versions would work. We advertise 1.50, the CLI's own version, so
//! that none of its code paths for old daemons runs.

pub mod archive;
pub mod archives;
pub mod auth;
pub mod containers;
pub mod create;
pub mod df;
pub mod errors;
pub mod events;
pub mod exec;
pub mod filters;
pub mod host_config;
pub mod images;
pub mod live;
pub mod networks;
pub mod progress;
pub mod prune;
pub mod status;
pub mod system;
pub mod tls;
pub mod unsupported;
pub mod volumes;

use std::path::PathBuf;
use std::sync::Arc;

use berth_daemon::http::{ApiVersion, Handler, Headers, HttpError, Request, Response, Router};
use berth_registry::RegistryConfig;

use crate::engine::Engine;

/// The newest API version we serve (and advertise in `Api-Version`).
pub const API_VERSION: ApiVersion = ApiVersion::new(1, 50);
/// The oldest API version we accept, as moby 28.
pub const MIN_API_VERSION: ApiVersion = ApiVersion::new(1, 24);

/// Berth's version, as `docker version` shows it.
pub const BERTH_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What every handler works with.
pub struct Daemon {
    /// The container runtime, and through it chapter 2's image store at the data root.
    pub engine: Arc<Engine>,
    /// How to reach registries: mirrors, insecure registries. Never the daemon user's stored
    /// credentials: those come with each request, in `X-Registry-Auth`.
    pub registries: RegistryConfig,
    /// `--data-root`, for `docker info`.
    pub data_root: PathBuf,
    /// Chapter 7's networks of the store (the same extension the engine runs).
    pub network: berth_network::engine::NetworkExtension,
    /// `userns-remap`, resolved: containers run remapped unless created with `--userns host`.
    pub userns_remap: Option<berth_security::userns::Remap>,
}

/// The headers moby puts on every response: the client reads `Api-Version` from any of them.
pub fn default_headers() -> Headers {
    let mut headers = Headers::new();
    headers.push("Api-Version", API_VERSION.to_string());
    headers.push("Ostype", "linux");
    headers.push("Server", format!("Berth/{BERTH_VERSION} (linux)"));
    headers.push("Docker-Experimental", "false");
    headers
}

/// The whole API: version negotiation in front of the routes.
pub struct Api {
    router: Router,
    /// Where large request bodies (`docker load`) are written: the store's `tmp/`.
    tmp: PathBuf,
}

impl Api {
    /// The API served with `daemon`.
    pub fn new(daemon: Arc<Daemon>) -> Api {
        Api {
            tmp: daemon.engine.store().root().join("tmp"),
            router: routes(daemon),
        }
    }
}

impl Handler for Api {
    fn handle(&self, request: &mut Request) -> Response {
        if let Some(refusal) = check_version(request.api_version()) {
            return refusal;
        }
        self.router.handle(request)
    }

    fn spool_body(&self, request: &Request) -> Option<PathBuf> {
        // The store's tmp/: on the same disk as the layers it will become.
        archives::spools_body(request).then(|| self.tmp.clone())
    }
}

// ANCHOR: negotiation
/// `None` if the version prefix is one we serve (or absent), else moby's 400.
pub fn check_version(version: Option<ApiVersion>) -> Option<Response> {
    let version = version?;
    if version > API_VERSION {
        return Some(Response::error(
            400,
            format!(
                "client version {version} is too new. Maximum supported API version is \
                 {API_VERSION}"
            ),
        ));
    }
    if version < MIN_API_VERSION {
        return Some(Response::error(
            400,
            format!(
                "client version {version} is too old. Minimum supported API version is \
                 {MIN_API_VERSION}, please upgrade your client to a newer version"
            ),
        ));
    }
    None
}
// ANCHOR_END: negotiation

/// Every route, in matching order (literal routes before the greedy image-name ones).
fn routes(daemon: Arc<Daemon>) -> Router {
    let router = Router::new();
    let router = system::routes(router, &daemon);
    let router = prune::routes(router, &daemon);
    let router = df::routes(router, &daemon);
    let router = containers::routes(router, &daemon);
    let router = archive::routes(router, &daemon);
    let router = exec::routes(router, &daemon);
    let router = live::routes(router, &daemon);
    let router = events::routes(router, &daemon);
    let router = images::routes(router, &daemon);
    let router = volumes::routes(router, &daemon);
    let router = networks::routes(router, &daemon);
    unsupported::routes(router)
}

/// A route of this API: a function of the daemon and the request.
pub(crate) type Route = fn(&Arc<Daemon>, &mut Request) -> Result<Response, HttpError>;

/// Every route of the API as (method, pattern), for the generated status page.
pub fn route_table(daemon: Arc<Daemon>) -> Vec<(String, String)> {
    routes(daemon).table()
}

/// A [`Route`] bound to the daemon, as the router takes it.
pub(crate) fn with_daemon(
    daemon: &Arc<Daemon>,
    handler: Route,
) -> impl Fn(&mut Request) -> Result<Response, HttpError> + Send + Sync + 'static {
    let daemon = Arc::clone(daemon);
    move |req: &mut Request| handler(&daemon, req)
}

/// The value of a route parameter (the router only calls a handler when it matched).
pub(crate) fn param(request: &Request, name: &str) -> String {
    request.param(name).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_outside_the_range_are_refused_as_moby_does() {
        assert!(check_version(None).is_none());
        assert!(check_version(Some(ApiVersion::new(1, 50))).is_none());
        assert!(check_version(Some(ApiVersion::new(1, 24))).is_none());
        let too_new = check_version(Some(ApiVersion::new(1, 51))).unwrap();
        assert_eq!(too_new.status(), 400);
        assert_eq!(
            String::from_utf8_lossy(too_new.body().unwrap()),
            r#"{"message":"client version 1.51 is too new. Maximum supported API version is 1.50"}"#
        );
        let too_old = check_version(Some(ApiVersion::new(1, 23))).unwrap();
        assert_eq!(too_old.status(), 400);
        assert!(
            String::from_utf8_lossy(too_old.body().unwrap())
                .contains("Minimum supported API version is 1.24")
        );
    }
}
