//! Talking HTTP to one registry: the `/v2/` ping, the 401 dance, redirects, and a trace.
//!
//! Every exchange with a registry starts like Docker's:
//!
//! 1. `GET /v2/`: is this a registry, and how does it want to be authenticated? An insecure
//!    registry is tried over HTTPS first, then plain HTTP, as Docker does.
//! 2. Each request carries a token for the scope it needs. The first time, the `/v2/`
//!    challenge says where to get one; if a request is refused later with a challenge for a
//!    wider scope (a push after a pull), we fetch that token and retry once.
//! 3. Redirects are followed by hand, because a blob is often served from another host (a
//!    CDN) and our `Authorization` header must not go there with it.
//!
//! `--trace` prints every request and answer, so a learner can count them.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{self, Response};

use crate::auth::{Challenge, Credentials, Secret, TokenCache, credentials_key, token};
use crate::config::{DOCKER_HUB, DOCKER_HUB_API, RegistryConfig};
use crate::error::{RegistryError, registry_message};

/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// A request body that can be sent again (after a 401, the request is replayed).
#[derive(Clone, Debug)]
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    File { path: PathBuf, len: u64 },
}

/// One request to the registry.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: http::Method,
    /// A path such as `/v2/library/busybox/manifests/latest`, or a full URL (a `Location`).
    pub target: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    /// The token scopes this request needs, e.g. `repository:library/busybox:pull`.
    pub scopes: Vec<String>,
}

impl Request {
    /// A request without a body.
    pub fn new(method: http::Method, target: impl Into<String>, scopes: &[String]) -> Request {
        Request {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: Body::Empty,
            scopes: scopes.to_vec(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Body) -> Request {
        self.body = body;
        self
    }
}

/// A connection to one registry (or one mirror of Docker Hub).
pub struct Registry {
    agent: ureq::Agent,
    /// `http://127.0.0.1:5000` or `https://registry-1.docker.io`: where requests go.
    base: String,
    /// The registry as references name it (`docker.io`, `127.0.0.1:5000`), for messages.
    pub name: String,
    credentials: Option<Credentials>,
    /// How the registry asked to be authenticated at `/v2/`, if it did.
    challenge: Mutex<Option<Challenge>>,
    tokens: TokenCache,
    trace: bool,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("base", &self.base)
            .finish()
    }
}

/// A response with its body still to be read.
pub type HttpResponse = Response<ureq::Body>;

impl Registry {
    // ANCHOR: endpoints
    /// The registries to try for images of `domain`, in order: for Docker Hub, the mirrors
    /// first, then Hub itself. Each is pinged; ones that cannot be reached come back as errors,
    /// so a caller can fall back to the next and still report why.
    pub fn endpoints<'a>(
        config: &'a RegistryConfig,
        domain: &'a str,
        trace: bool,
    ) -> impl Iterator<Item = Result<Registry, RegistryError>> + 'a {
        // Lazily: Docker Hub itself is asked only if every mirror failed.
        let mirrors: &[String] = if domain == DOCKER_HUB {
            &config.mirrors
        } else {
            &[]
        };
        let via_mirrors = mirrors.iter().map(move |mirror| {
            let host = mirror
                .split("://")
                .nth(1)
                .unwrap_or(mirror)
                .trim_end_matches('/');
            let base = mirror.trim_end_matches('/').to_owned();
            // A mirror gets its own credentials, if any: never the ones lent for Hub.
            let credentials = config.credentials.lookup(host)?;
            Registry::ping(host, vec![base], credentials, trace)
        });
        via_mirrors.chain(std::iter::once_with(move || {
            Registry::connect(config, domain, trace)
        }))
    }
    // ANCHOR_END: endpoints

    /// Connects to the registry that references call `domain`, with the credentials
    /// `config.credentials` has for it.
    pub fn connect(
        config: &RegistryConfig,
        domain: &str,
        trace: bool,
    ) -> Result<Registry, RegistryError> {
        let credentials = config.credentials.lookup(domain)?;
        Registry::connect_as(config, domain, credentials, trace)
    }

    // ANCHOR: connect_as
    /// Connects with the given credentials, or none (`login` checks new ones this way).
    pub fn connect_as(
        config: &RegistryConfig,
        domain: &str,
        credentials: Option<Credentials>,
        trace: bool,
    ) -> Result<Registry, RegistryError> {
        let api_host = if domain == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            domain
        };
        let mut bases = vec![format!("https://{api_host}")];
        if config.is_insecure(api_host) {
            bases.push(format!("http://{api_host}"));
        }
        Registry::ping(domain, bases, credentials, trace)
    }
    // ANCHOR_END: connect_as

    /// Pings `/v2/` at each base URL in turn and keeps the first that answers like a registry.
    fn ping(
        name: &str,
        bases: Vec<String>,
        credentials: Option<Credentials>,
        trace: bool,
    ) -> Result<Registry, RegistryError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut last_error = None;
        for base in bases {
            let registry = Registry {
                agent: agent.clone(),
                base: base.clone(),
                name: name.to_owned(),
                credentials: credentials.clone(),
                challenge: Mutex::new(None),
                tokens: TokenCache::default(),
                trace,
            };
            let url = format!("{base}/v2/");
            match registry.raw(&http::Method::GET, &url, &[], &Body::Empty) {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status == 401 {
                        *registry.challenge.lock().expect("not poisoned") = challenge_of(&response);
                    } else if !(200..300).contains(&status) {
                        last_error = Some(RegistryError::Status {
                            method: "GET".into(),
                            url,
                            status,
                            message: "this does not answer like a registry (API v2)".into(),
                        });
                        continue;
                    }
                    return Ok(registry);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one base URL is tried"))
    }

    // ANCHOR: login
    /// Checks the credentials the way `docker login` does: a token with no scope from a
    /// Bearer registry, or `/v2/` with Basic auth (or a registry token). A wrong password is
    /// `Unauthorized`.
    pub fn check_login(&self) -> Result<(), RegistryError> {
        let challenge = self.challenge.lock().expect("not poisoned").clone();
        let registry_token = self
            .credentials
            .as_ref()
            .is_some_and(|c| matches!(c.secret, Secret::RegistryToken(_)));
        match challenge {
            Some(Challenge::Bearer { realm, service, .. }) if !registry_token => token::fetch(
                &self.agent,
                &realm,
                &service,
                &[],
                self.credentials.as_ref(),
                self.trace,
            )
            .map(|_| ())
            .map_err(|e| match e {
                token::TokenError::Refused(message) => RegistryError::Unauthorized {
                    registry: self.name.clone(),
                    message,
                },
                token::TokenError::Failed(reason) => {
                    RegistryError::Unreachable { url: realm, reason }
                }
            }),
            // Basic, or a registry token: /v2/ must now answer 200 (`send` turns a 401 into
            // Unauthorized).
            Some(_) => self
                .send(&Request::new(http::Method::GET, "/v2/", &[]))
                .map(|_| ()),
            // A registry that asks for nothing accepts anyone.
            None => Ok(()),
        }
    }
    // ANCHOR_END: login

    /// The key credentials for this registry are filed under.
    pub fn credentials_key(&self) -> String {
        credentials_key(&self.name)
    }

    /// Whether requests carry credentials (for messages: denied vs. needs login).
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        &self.base
    }

    // ANCHOR: send
    /// Sends a request, authenticating as the registry asks, following redirects. Returns the
    /// final response whatever its status, except that a 401 that survives a fresh token
    /// becomes [`RegistryError::Unauthorized`] and a 429 [`RegistryError::TooManyRequests`].
    pub fn send(&self, request: &Request) -> Result<HttpResponse, RegistryError> {
        let mut retried_auth = false;
        loop {
            let authorization = self.authorization(&request.scopes)?;
            let response = self.follow(request, authorization)?;
            match response.status().as_u16() {
                401 if !retried_auth => {
                    // A challenge for a scope we have no token for: get one, try once more.
                    let challenge = challenge_of(&response);
                    if challenge.is_none() {
                        return Err(self.unauthorized(response));
                    }
                    *self.challenge.lock().expect("not poisoned") = challenge;
                    self.tokens.clear();
                    retried_auth = true;
                }
                401 => return Err(self.unauthorized(response)),
                429 => {
                    let (_, message) = read_error(response);
                    return Err(RegistryError::TooManyRequests {
                        registry: self.name.clone(),
                        message,
                    });
                }
                _ => return Ok(response),
            }
        }
    }
    // ANCHOR_END: send

    fn unauthorized(&self, response: HttpResponse) -> RegistryError {
        // A HEAD has no body to explain itself: the challenge's `error` then says why.
        let reason = challenge_error(&response);
        let (_, mut message) = read_error(response);
        if message == "(no message)" {
            message = reason.unwrap_or_else(|| "authentication required".into());
        }
        RegistryError::Unauthorized {
            registry: self.name.clone(),
            message,
        }
    }

    // ANCHOR: authorization
    /// The `Authorization` value for a request needing `scopes`, fetching a token if needed.
    fn authorization(&self, scopes: &[String]) -> Result<Option<String>, RegistryError> {
        if let Some(Credentials {
            secret: Secret::RegistryToken(token),
            ..
        }) = &self.credentials
        {
            // A token for the registry itself: no token server to ask.
            return Ok(Some(format!("Bearer {token}")));
        }
        let challenge = self.challenge.lock().expect("not poisoned").clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic { .. }) => match &self.credentials {
                None => Ok(None),
                Some(credentials) => credentials.basic_header().map(Some).ok_or_else(|| {
                    // An identity token is for a token server; this registry has none.
                    RegistryError::Unauthorized {
                        registry: self.name.clone(),
                        message: "it asks for a password (Basic auth), and the credentials \
                                  hold an identity token: log in with a password"
                            .into(),
                    }
                }),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scopes: asked,
            }) => {
                // The scopes the registry named in its last challenge, and the ones we need.
                let mut wanted: Vec<String> = scopes.to_vec();
                for scope in asked {
                    if !wanted.contains(&scope) {
                        wanted.push(scope);
                    }
                }
                if let Some(token) = self.tokens.get(&realm, &service, &wanted) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let (token, lifetime) = token::fetch(
                    &self.agent,
                    &realm,
                    &service,
                    &wanted,
                    self.credentials.as_ref(),
                    self.trace,
                )
                .map_err(|e| match e {
                    token::TokenError::Refused(message) => RegistryError::Unauthorized {
                        registry: self.name.clone(),
                        message,
                    },
                    token::TokenError::Failed(reason) => RegistryError::Unreachable {
                        url: realm.clone(),
                        reason,
                    },
                })?;
                self.tokens
                    .insert(&realm, &service, &wanted, &token, lifetime);
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }
    // ANCHOR_END: authorization

    // ANCHOR: follow
    /// Sends the request and follows redirects, dropping `Authorization` on a host change.
    fn follow(
        &self,
        request: &Request,
        authorization: Option<String>,
    ) -> Result<HttpResponse, RegistryError> {
        let mut url =
            if request.target.starts_with("http://") || request.target.starts_with("https://") {
                request.target.clone()
            } else {
                format!("{}{}", self.base, request.target)
            };
        let origin = authority(&url);
        for _ in 0..=MAX_REDIRECTS {
            let mut headers: Vec<(&str, String)> = request.headers.clone();
            if let Some(value) = &authorization
                && authority(&url) == origin
            {
                headers.push(("Authorization", value.clone()));
            }
            let response = self.raw(&request.method, &url, &headers, &request.body)?;
            let status = response.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok(response);
            }
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| RegistryError::Invalid {
                    what: format!("a {status} redirect"),
                    reason: "it has no Location header".into(),
                })?;
            url = resolve(&url, location);
        }
        Err(RegistryError::Unreachable {
            url,
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }
    // ANCHOR_END: follow

    /// One HTTP exchange, traced if asked.
    fn raw(
        &self,
        method: &http::Method,
        url: &str,
        headers: &[(&str, String)],
        body: &Body,
    ) -> Result<HttpResponse, RegistryError> {
        if self.trace {
            let auth = headers
                .iter()
                .find(|(name, _)| *name == "Authorization")
                .map_or("", |(_, v)| {
                    if v.starts_with("Bearer") {
                        " [bearer]"
                    } else {
                        " [basic]"
                    }
                });
            eprintln!("--> {method} {url}{auth}");
        }
        let mut builder = http::Request::builder().method(method.clone()).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let invalid = |e: http::Error| RegistryError::Invalid {
            what: format!("the request {method} {url}"),
            reason: e.to_string(),
        };
        let result = match body {
            Body::Empty => self.agent.run(builder.body(()).map_err(invalid)?),
            Body::Bytes(bytes) => self.agent.run(
                builder
                    .header("Content-Length", bytes.len())
                    .body(bytes.as_slice())
                    .map_err(invalid)?,
            ),
            Body::File { path, len } => {
                let file = std::fs::File::open(path).map_err(|e| RegistryError::Invalid {
                    what: format!("blob file {}", path.display()),
                    reason: e.to_string(),
                })?;
                let request = builder
                    .header("Content-Length", *len)
                    .body(ureq::SendBody::from_owned_reader(file))
                    .map_err(invalid)?;
                self.agent.run(request)
            }
        };
        let response = result.map_err(|e| {
            let error = transport_error(url, e);
            if self.trace {
                eprintln!("<-- failed {method} {url}: {error}");
            }
            error
        })?;
        if self.trace {
            eprintln!("<-- {} {method} {url}", response.status().as_u16());
        }
        Ok(response)
    }
}

/// Turns a transport failure into what the user should hear.
fn transport_error(url: &str, error: ureq::Error) -> RegistryError {
    let text = error.to_string();
    let host = authority(url)
        .split_once("://")
        .map_or_else(|| url.to_owned(), |(_, host)| host.to_owned());
    // rustls reports a plain-HTTP answer to its ClientHello as a "corrupt message", wrapped
    // in an I/O error; certificate problems name the certificate.
    let tls = matches!(error, ureq::Error::Tls(_) | ureq::Error::Rustls(_))
        || ["tls", "TLS", "certificate", "corrupt message", "handshake"]
            .iter()
            .any(|needle| text.contains(needle));
    if tls && url.starts_with("https://") {
        return RegistryError::Tls { host, reason: text };
    }
    let reason = match &error {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused: is the registry running?".to_owned()
        }
        ureq::Error::HostNotFound => "the host name does not resolve".to_owned(),
        _ => text,
    };
    RegistryError::Unreachable {
        url: url.to_owned(),
        reason,
    }
}

/// The challenge of a 401 response.
pub fn challenge_of(response: &HttpResponse) -> Option<Challenge> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(Challenge::parse)
}

/// The `error="..."` parameter of a 401's challenge, such as `insufficient_scope`.
fn challenge_error(response: &HttpResponse) -> Option<String> {
    let header = response.headers().get("www-authenticate")?.to_str().ok()?;
    let start = header.find("error=\"")? + "error=\"".len();
    let end = header[start..].find('"')? + start;
    Some(header[start..end].replace('_', " "))
}

/// Reads a registry's error body: `(code, message)`.
pub fn read_error(response: HttpResponse) -> (String, String) {
    let mut body = Vec::new();
    let _ = response
        .into_body()
        .into_reader()
        .take(64 * 1024)
        .read_to_end(&mut body);
    registry_message(&body)
}

/// `scheme://host:port` of a URL, for comparing origins.
fn authority(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?']).next().unwrap_or("");
    format!("{scheme}://{host}")
}

/// Resolves a `Location` against the URL it came from.
pub fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else if location.starts_with('/') {
        format!("{}{location}", authority(base))
    } else {
        let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
        format!("{dir}/{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_locations() {
        let base = "http://127.0.0.1:5000/v2/a/blobs/uploads/";
        assert_eq!(
            resolve(base, "/v2/a/blobs/uploads/u?_state=x"),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u?_state=x"
        );
        assert_eq!(
            resolve(base, "https://cdn.example/x"),
            "https://cdn.example/x"
        );
        assert_eq!(
            authority("https://cdn.example:8443/x?y"),
            "https://cdn.example:8443"
        );
    }
}
