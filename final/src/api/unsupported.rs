//! What we do not serve yet, answered clearly instead of with a bare 404.
//!
//! * `POST /build`: the build chapter is not written yet. The CLI reaches this endpoint only
//!   with the legacy builder (no buildx, or `DOCKER_BUILDKIT=0`); the answer names the reason.
//! * `POST /session` and `POST /grpc`: BuildKit, which buildx reaches by hijacking them with
//!   `Upgrade: h2c`. A JSON 404 makes buildx report that the daemon has no BuildKit.
//! * the other endpoints the docker CLI and docker-py use that berthd does not serve yet
//!   ([`NOT_YET`]): a 501 that names the command. Without a route of their own, some would
//!   match a route of another method (`POST /images/load` matches `DELETE /images/{name*}`)
//!   and get a misleading `405 Method Not Allowed`, the others moby's bare 404.

use berth_daemon::http::{HttpError, Request, Response, Router};

/// The status for "this daemon cannot do that yet".
const NOT_IMPLEMENTED: u16 = 501;

// ANCHOR: not_yet
/// Endpoints of Docker's clients that berthd does not serve yet: method, path, the command.
pub const NOT_YET: &[(&str, &str, &str)] = &[
    ("GET", "/images/search", "docker search"),
    ("POST", "/commit", "docker commit"),
];
// ANCHOR_END: not_yet

/// What the other routes of this module answer, for the generated status page: method,
/// path, answer. (`routes` below registers them.)
pub const REFUSED: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/build",
        "501 until the build chapter; 400 for BuildKit (version=2)",
    ),
    (
        "POST",
        "/session",
        "404: no BuildKit (build with DOCKER_BUILDKIT=0)",
    ),
    (
        "POST",
        "/grpc",
        "404: no BuildKit (build with DOCKER_BUILDKIT=0)",
    ),
];

/// Adds this module's routes.
pub fn routes(router: Router) -> Router {
    let router = NOT_YET
        .iter()
        .fold(router, |router, &(method, path, command)| {
            router.route(
                method,
                path,
                move |_: &mut Request| -> Result<Response, HttpError> {
                    Err(HttpError::new(
                        NOT_IMPLEMENTED,
                        format!("{command} is not supported by berthd yet"),
                    ))
                },
            )
        });
    router
        .post("/build", build)
        .post("/session", buildkit)
        .post("/grpc", buildkit)
}

/// `POST /build`: 400 for BuildKit (`version=2`), 501 for the legacy builder.
fn build(req: &mut Request) -> Result<Response, HttpError> {
    if req.query().get("version") == Some("2") {
        return Err(HttpError::bad_request(
            "BuildKit not supported by this daemon: build with DOCKER_BUILDKIT=0",
        ));
    }
    Err(HttpError::new(
        NOT_IMPLEMENTED,
        "docker build is not supported until the build chapter: berthd cannot build images yet",
    ))
}

/// BuildKit's endpoints: a JSON 404, as a daemon without BuildKit answers.
fn buildkit(_: &mut Request) -> Result<Response, HttpError> {
    Err(HttpError::not_found(
        "BuildKit is not available in berthd: build with DOCKER_BUILDKIT=0",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status page reads [`NOT_YET`] and [`REFUSED`]: every route of this module must be
    /// in one of them, or the page would call it served.
    #[test]
    fn every_route_here_is_described_for_the_status_page() {
        let described: Vec<(String, String)> = NOT_YET
            .iter()
            .chain(REFUSED)
            .map(|(m, p, _)| (m.to_string(), p.to_string()))
            .collect();
        let mut routes = routes(Router::new()).table();
        let mut expected = described.clone();
        routes.sort();
        expected.sort();
        assert_eq!(routes, expected);
    }
}
