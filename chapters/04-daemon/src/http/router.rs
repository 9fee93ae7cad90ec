//! Routing: which handler answers `GET /containers/{id}/json`.
//!
//! A route is a method and a path pattern. A pattern is made of segments: literals
//! (`containers`), parameters that match one non-empty segment (`{id}`), and at most one greedy
//! parameter (`{name*}`) that matches one or more segments joined with `/`. The greedy form
//! exists for image names, which contain slashes and colons (`localhost:5000/team/app:1`):
//! Docker's clients put them in the path unencoded, so `/images/localhost:5000/team/app:1/json`
//! has five segments after `images`, and only the *known suffix* (`/json`, `/push`, `/tag`)
//! says where the name ends. A greedy parameter may therefore be followed only by literals.
//!
//! Patterns match the request's decoded segments *after* the `/v1.NN` version prefix, which
//! handlers read from [`Request::api_version`]. Routes are tried in the order they were added;
//! the first whose pattern and method match wins. When the path matches but the method does
//! not, the answer is `405 Method Not Allowed` with an `Allow` header; when nothing matches, it
//! is moby's `404 {"message":"page not found"}`. A `HEAD` request falls back to the `GET`
//! route of the same path, and the connection sends the head without the body.

use super::request::Request;
use super::response::{IntoResponse, Response};

/// Something that answers requests: a closure `Fn(&mut Request) -> Response`, or a [`Router`].
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. Called on the connection's own thread; a panic here is caught and
    /// answered with a 500.
    fn handle(&self, request: &mut Request) -> Response;

    /// Where to write this request's body instead of memory, if it may be large (an image
    /// archive for `docker load`): a directory for a temporary file, which the request then
    /// carries as [`Request::take_spooled_body`]. `None` (the default) reads the body into
    /// memory, up to [`Limits::max_body`](super::Limits::max_body).
    fn spool_body(&self, _request: &Request) -> Option<std::path::PathBuf> {
        None
    }
}

/// A shared handler (one API served on several sockets) is a handler.
impl<H: Handler> Handler for std::sync::Arc<H> {
    fn handle(&self, request: &mut Request) -> Response {
        (**self).handle(request)
    }

    fn spool_body(&self, request: &Request) -> Option<std::path::PathBuf> {
        (**self).spool_body(request)
    }
}

impl<F> Handler for F
where
    F: Fn(&mut Request) -> Response + Send + Sync + 'static,
{
    fn handle(&self, request: &mut Request) -> Response {
        self(request)
    }
}

/// One piece of a pattern before the greedy parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Param(String),
}

/// A parsed path pattern: `prefix` pieces, then optionally a greedy parameter followed by
/// literal `suffix` segments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    prefix: Vec<Piece>,
    rest: Option<String>,
    suffix: Vec<String>,
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let body = text
            .strip_prefix('/')
            .ok_or_else(|| format!("route pattern {text:?} must start with '/'"))?;
        let mut pattern = Pattern {
            prefix: Vec::new(),
            rest: None,
            suffix: Vec::new(),
        };
        for segment in body.split('/').filter(|s| !s.is_empty()) {
            let param = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
            match (param, &pattern.rest) {
                (Some(name), None) if name.ends_with('*') => {
                    pattern.rest = Some(name.trim_end_matches('*').to_owned());
                }
                (Some(name), None) => pattern.prefix.push(Piece::Param(name.to_owned())),
                (None, None) if !segment.contains(['{', '}']) => {
                    pattern.prefix.push(Piece::Literal(segment.to_owned()));
                }
                (None, Some(_)) if !segment.contains(['{', '}']) => {
                    pattern.suffix.push(segment.to_owned());
                }
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "route pattern {text:?}: only literals may follow a greedy parameter"
                    ));
                }
                (None, _) => {
                    return Err(format!(
                        "route pattern {text:?}: a parameter must be a whole segment"
                    ));
                }
            }
        }
        Ok(pattern)
    }

    // ANCHOR: greedy
    /// The parameters if `segments` match.
    // EXERCISE: literals must be equal and params non-empty; a greedy {name:.*} takes every segment between the prefix and the fixed suffix, joined with '/'
    fn matches(&self, segments: &[String]) -> Option<Vec<(String, String)>> {
        let fixed = self.prefix.len() + self.suffix.len();
        match self.rest {
            None if segments.len() != fixed => return None,
            Some(_) if segments.len() <= fixed => return None, // the greedy part needs one
            _ => {}
        }
        let mut params = Vec::new();
        for (piece, segment) in self.prefix.iter().zip(segments) {
            match piece {
                Piece::Literal(literal) if literal == segment => {}
                Piece::Param(name) if !segment.is_empty() => {
                    params.push((name.clone(), segment.clone()));
                }
                _ => return None,
            }
        }
        if let Some(name) = &self.rest {
            let tail = &segments[segments.len() - self.suffix.len()..];
            if tail != self.suffix.as_slice() {
                return None;
            }
            let middle = &segments[self.prefix.len()..segments.len() - self.suffix.len()];
            if middle.iter().any(String::is_empty) {
                return None;
            }
            params.push((name.clone(), middle.join("/")));
        }
        Some(params)
    }
    // ANCHOR_END: greedy
}

/// A route: method, pattern, handler.
struct Route {
    method: String,
    /// The pattern as written (`/images/{name*}/json`), for [`Router::table`].
    text: String,
    pattern: Pattern,
    handler: Box<dyn Handler>,
}

/// A table of routes; itself a [`Handler`], so the server takes it directly.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// An empty table (everything is a 404).
    pub fn new() -> Self {
        Router::default()
    }

    /// Adds a route. The handler may return anything [`IntoResponse`], such as
    /// `Result<Response, HttpError>`.
    ///
    /// # Panics
    ///
    /// If `pattern` is malformed: a route table is code, and a typo in it should stop the
    /// daemon at startup, not answer 404 forever.
    pub fn route<F, R>(mut self, method: &str, pattern: &str, handler: F) -> Self
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        let text = pattern.to_owned();
        let pattern = match Pattern::parse(pattern) {
            Ok(pattern) => pattern,
            Err(message) => panic!("{message}"),
        };
        self.routes.push(Route {
            method: method.to_owned(),
            text,
            pattern,
            handler: Box::new(move |request: &mut Request| handler(request).into_response()),
        });
        self
    }

    /// Every route as (method, pattern), in matching order: what a generated list of the
    /// endpoints a server answers is made from.
    pub fn table(&self) -> Vec<(String, String)> {
        self.routes
            .iter()
            .map(|r| (r.method.clone(), r.text.clone()))
            .collect()
    }

    /// A `GET` route (also answers `HEAD` unless a `HEAD` route matches first).
    pub fn get<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route("GET", pattern, handler)
    }

    /// A `HEAD` route.
    pub fn head<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route("HEAD", pattern, handler)
    }

    /// A `POST` route.
    pub fn post<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route("POST", pattern, handler)
    }

    /// A `PUT` route.
    pub fn put<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route("PUT", pattern, handler)
    }

    /// A `DELETE` route.
    pub fn delete<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&mut Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route("DELETE", pattern, handler)
    }
}

impl Handler for Router {
    fn handle(&self, request: &mut Request) -> Response {
        let mut allowed: Vec<&str> = Vec::new();
        let mut head_as_get = None;
        for route in &self.routes {
            let Some(params) = route.pattern.matches(request.segments()) else {
                continue;
            };
            if route.method == request.method() {
                request.set_params(params);
                return route.handler.handle(request);
            }
            if request.method() == "HEAD" && route.method == "GET" && head_as_get.is_none() {
                head_as_get = Some((route, params));
            }
            allowed.push(&route.method);
        }
        if let Some((route, params)) = head_as_get {
            request.set_params(params);
            return route.handler.handle(request);
        }
        if allowed.is_empty() {
            return Response::error(404, "page not found");
        }
        if allowed.contains(&"GET") && !allowed.contains(&"HEAD") {
            allowed.push("HEAD");
        }
        allowed.sort_unstable();
        allowed.dedup();
        Response::error(
            405,
            format!(
                "method {} not allowed for {} (allowed: {})",
                request.method(),
                request.path(),
                allowed.join(", ")
            ),
        )
        .header("Allow", allowed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::headers::Headers;

    fn call(router: &Router, method: &str, target: &str) -> (u16, String) {
        let mut req = Request::new(method, target, Headers::new(), Vec::new()).unwrap();
        let resp = router.handle(&mut req);
        let body = String::from_utf8_lossy(resp.body().unwrap_or_default()).into_owned();
        (resp.status(), body)
    }

    fn echo_params(req: &mut Request) -> Response {
        let text: Vec<String> = req
            .params()
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        Response::text(200, text.join(" "))
    }

    fn images() -> Router {
        Router::new()
            .get("/images/json", |_: &mut Request| {
                Response::text(200, "list")
            })
            .post("/images/create", echo_params)
            .get("/images/{name*}/json", echo_params)
            .post("/images/{name*}/push", echo_params)
            .post("/images/{name*}/tag", echo_params)
            .delete("/images/{name*}", echo_params)
            .get("/containers/{id}/json", echo_params)
            .post("/containers/{id}/exec", echo_params)
    }

    #[test]
    fn the_table_lists_routes_as_written_in_order() {
        let table = images().table();
        assert_eq!(table.len(), 8);
        assert_eq!(table[0], ("GET".to_owned(), "/images/json".to_owned()));
        assert_eq!(
            table[2],
            ("GET".to_owned(), "/images/{name*}/json".to_owned())
        );
    }

    #[test]
    fn greedy_names_stop_at_known_suffixes() {
        let r = images();
        assert_eq!(call(&r, "GET", "/images/json"), (200, "list".into()));
        assert_eq!(
            call(&r, "GET", "/v1.50/images/localhost:5000/a/b:1/json"),
            (200, "name=localhost:5000/a/b:1".into())
        );
        assert_eq!(
            call(&r, "POST", "/images/docker.io/alice/img/push?tag=1"),
            (200, "name=docker.io/alice/img".into())
        );
        assert_eq!(
            call(&r, "DELETE", "/images/busybox:latest"),
            (200, "name=busybox:latest".into())
        );
        // An image called "json" still works: the greedy part needs one segment.
        assert_eq!(
            call(&r, "GET", "/images/json/json"),
            (200, "name=json".into())
        );
        assert_eq!(
            call(&r, "GET", "/containers/web/json"),
            (200, "id=web".into())
        );
    }

    #[test]
    fn not_found_and_method_not_allowed() {
        let r = images();
        assert_eq!(
            call(&r, "GET", "/nope"),
            (404, r#"{"message":"page not found"}"#.into())
        );
        // Empty segments never match a parameter.
        assert_eq!(call(&r, "GET", "/containers//json").0, 404);
        let mut req = Request::new("PUT", "/containers/web/json", Headers::new(), vec![]).unwrap();
        let resp = r.handle(&mut req);
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers().get("allow"), Some("GET, HEAD"));
        // HEAD falls back to GET.
        assert_eq!(call(&r, "HEAD", "/containers/web/json").0, 200);
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(Pattern::parse("images").is_err());
        assert!(Pattern::parse("/images/{a*}/{b}").is_err());
        assert!(Pattern::parse("/images/x{a}").is_err());
        assert!(Pattern::parse("/images/{a*}/json").is_ok());
    }
}
