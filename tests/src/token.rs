//! A token issuer for the registry's Bearer token auth, written for the tests.
//!
//! Docker Hub and most registries do not check passwords themselves: a `401` from the registry
//! names a *realm*, the client asks that token service for a token scoped to what it wants to
//! do (`repository:library/busybox:pull`), and sends the token back as `Authorization: Bearer`.
//! The reference registry checks the token's signature against a certificate it trusts, and
//! its claims: issuer, audience (the service), lifetime and the granted `access`.
//!
//! This is a real token service, not a mock: it listens on a loopback port, the real registry
//! is configured with its realm and trusts its certificate, and every token it issues is a JWT
//! signed ES256 with a key made by the `openssl` CLI. The registry accepts or refuses the token
//! exactly as it would one from Docker Hub's `auth.docker.io`. What the tests control is the
//! *policy* (which users exist, who may push, whether anonymous users may pull) and what they
//! can observe is every request ([`TokenIssuer::requests`]), so a test can assert that a client
//! asked for `pull`, then came back with credentials for `pull,push`.
//!
//! It serves `GET /token?service=…&scope=…&account=…` with optional `Authorization: Basic`, and
//! `POST /token` with the OAuth2 form Docker uses for `docker login` and refresh tokens
//! (`grant_type=password` or `grant_type=refresh_token`).

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::{self, Head, Incoming};
use crate::server::{Conn, Server};

/// What a user may do to any repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `pull` only.
    Pull,
    /// `pull`, `push` and `delete` (and `*`), and the catalog.
    PullPush,
}

/// One account of the token issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUser {
    /// The user name, as sent in `Authorization: Basic` and `account=`.
    pub name: String,
    /// The password.
    pub password: String,
    /// What the user may do.
    pub access: Access,
}

/// Who gets which token; built with [`TokenPolicy::new`] and its builder methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    /// The service name: the registry's `auth.token.service`, the `service=` parameter and the
    /// token's audience (`aud`).
    pub service: String,
    /// The issuer name: the registry's `auth.token.issuer` and the token's `iss`.
    pub issuer: String,
    /// The accounts.
    pub users: Vec<TokenUser>,
    /// Whether a request without credentials gets `pull` (as on Docker Hub's public images).
    pub anonymous_pull: bool,
    /// The token lifetime in seconds, sent as `expires_in` and used for the `exp` claim.
    pub expires_in: u64,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        TokenPolicy::new()
    }
}

impl TokenPolicy {
    /// No users, no anonymous pull, 300-second tokens, service `berth-registry`, issuer
    /// `berth-token-issuer`.
    pub fn new() -> TokenPolicy {
        TokenPolicy {
            service: "berth-registry".to_owned(),
            issuer: "berth-token-issuer".to_owned(),
            users: Vec::new(),
            anonymous_pull: false,
            expires_in: 300,
        }
    }

    /// Adds an account.
    pub fn user(mut self, name: &str, password: &str, access: Access) -> TokenPolicy {
        self.users.push(TokenUser {
            name: name.to_owned(),
            password: password.to_owned(),
            access,
        });
        self
    }

    /// Lets requests without credentials pull every repository (or not).
    pub fn anonymous_pull(mut self, allowed: bool) -> TokenPolicy {
        self.anonymous_pull = allowed;
        self
    }

    /// Sets the token lifetime in seconds (the registry refuses a token after it).
    pub fn expires_in(mut self, seconds: u64) -> TokenPolicy {
        self.expires_in = seconds;
        self
    }

    /// The first user who may push, who seeds the registry.
    pub fn pusher(&self) -> Option<&TokenUser> {
        self.users.iter().find(|u| u.access == Access::PullPush)
    }
}

/// One grant in a token's `access` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `repository` (or `registry` for the catalog).
    pub kind: String,
    /// The repository name, such as `library/busybox`.
    pub name: String,
    /// The granted actions, in the order requested: `pull`, `push`, …
    pub actions: Vec<String>,
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// One request the issuer answered, for tests to assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The `account=` parameter (or the form's `username`), if any.
    pub account: Option<String>,
    /// The user whose credentials checked out; `None` for anonymous (and refused) requests.
    pub user: Option<String>,
    /// Whether the request carried an `Authorization` header.
    pub authorization: bool,
    /// The `grant_type` of a `POST`.
    pub grant_type: Option<String>,
    /// The requested scopes, one per entry (several `scope=` parameters, or space-separated
    /// scopes in one, are split).
    pub scopes: Vec<String>,
    /// What the token grants (empty when nothing was granted or no token was issued).
    pub granted: Vec<Grant>,
    /// The status the issuer answered: 200 with a token, 401 for bad credentials, …
    pub status: u16,
}

/// The running token issuer; stops when dropped. See the module documentation.
pub struct TokenIssuer {
    server: Server,
    state: Arc<State>,
}

struct State {
    policy: TokenPolicy,
    key: PathBuf,
    /// The certificate, DER, standard base64: the JWT header's `x5c`.
    certificate_der_base64: String,
    requests: Mutex<Vec<TokenRequest>>,
    /// Refresh tokens handed out by `grant_type=password` with `access_type=offline`.
    refresh_tokens: Mutex<HashMap<String, String>>,
    serial: AtomicU64,
}

impl State {
    fn requests(&self) -> MutexGuard<'_, Vec<TokenRequest>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenIssuer {
    /// Makes an EC P-256 key and a self-signed certificate for it in `dir` (with `openssl`)
    /// and starts answering on a free loopback port.
    ///
    /// `dir` must outlive the issuer; [`crate::registry::Registry::token_auth`] uses its own
    /// temporary directory.
    pub fn start(policy: TokenPolicy, dir: &Path) -> TokenIssuer {
        let key = dir.join("token-key.pem");
        let certificate = dir.join("token-cert.pem");
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={}", policy.issuer),
                "-keyout",
                path_str(&key),
                "-out",
                path_str(&certificate),
            ],
            None,
        );
        let der = openssl(
            &["x509", "-in", path_str(&certificate), "-outform", "DER"],
            None,
        );
        let state = Arc::new(State {
            policy,
            key,
            certificate_der_base64: http::base64_encode(&der, http::STANDARD),
            requests: Mutex::new(Vec::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            serial: AtomicU64::new(0),
        });
        let handler_state = Arc::clone(&state);
        let server = Server::start("token-issuer", move |stream, conn| {
            handle(&handler_state, stream, conn)
        })
        .expect("starting the token issuer on a loopback port");
        TokenIssuer { server, state }
    }

    /// The realm to configure in the registry: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.server.address())
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.server.address().to_string()
    }

    /// The policy it was started with.
    pub fn policy(&self) -> &TokenPolicy {
        &self.state.policy
    }

    /// The PEM file of the certificate that signs the tokens: the registry's
    /// `auth.token.rootcertbundle`.
    pub fn certificate(&self) -> PathBuf {
        self.state.key.with_file_name("token-cert.pem")
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.requests().clone()
    }

    /// Forgets the requests answered so far, so a test can look at one step at a time.
    pub fn clear_requests(&self) {
        self.state.requests().clear();
    }

    /// Issues a token directly, as a request by `user` (`None`: anonymous) for `scopes` would
    /// get it: for tests that talk to the registry with a raw client.
    pub fn token_for(&self, user: Option<&str>, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let user = user.and_then(|name| self.state.policy.users.iter().find(|u| u.name == name));
        let granted = grants(&self.state.policy, user, &scopes);
        sign_token(&self.state, user.map(|u| u.name.as_str()), &granted).0
    }

    /// Issues a refresh token for `user`, as a `POST /token` with `grant_type=password` and
    /// `access_type=offline` would: what Docker stores as an `identitytoken`, for tests that
    /// hold one as a client would after its login. Panics if the policy has no such user.
    pub fn refresh_token_for(&self, user: &str) -> String {
        assert!(
            self.state.policy.users.iter().any(|u| u.name == user),
            "the token policy has no user {user:?}"
        );
        new_refresh_token(&self.state, user)
    }
}

/// Makes a refresh token for `user` and remembers it, so `grant_type=refresh_token` accepts it.
fn new_refresh_token(state: &State, user: &str) -> String {
    let serial = state.serial.fetch_add(1, Ordering::Relaxed);
    let token = format!("berth-refresh-{}-{serial}", unix_now());
    state
        .refresh_tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(token.clone(), user.to_owned());
    token
}

fn handle(state: &State, mut stream: TcpStream, _conn: &mut Conn) {
    let (head, rest) = match http::read_head(&mut stream) {
        Ok(Incoming::Head(head, rest)) => (head, rest),
        Ok(Incoming::Tls) => {
            let _ = http::write_response(&mut stream, 400, &[], b"this is plain HTTP\n");
            return;
        }
        _ => return,
    };
    let Some((method, target, _)) = head.request_line() else {
        let _ = http::write_response(&mut stream, 400, &[], b"bad request line\n");
        return;
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if path != "/token" {
        let body = error_body("NOT_FOUND", "this token issuer only serves /token");
        let _ = send_json(&mut stream, 404, &body);
        return;
    }
    let answer = match method.as_str() {
        "GET" => answer_get(state, &head, query),
        "POST" => match http::read_request_body(&head, rest, &mut stream) {
            Ok(body) => answer_post(state, &head, &String::from_utf8_lossy(&body)),
            Err(_) => return,
        },
        _ => {
            let body = error_body("UNSUPPORTED", "the token issuer answers GET and POST only");
            let _ = send_json(&mut stream, 405, &body);
            return;
        }
    };
    state.requests().push(answer.record);
    let mut headers = vec![("Content-Type", "application/json")];
    if answer.status == 401 {
        headers.push(("WWW-Authenticate", "Basic realm=\"berth-token-issuer\""));
    }
    let _ = http::write_response(&mut stream, answer.status, &headers, answer.body.as_bytes());
}

/// The issuer's answer to one request, and the record of it.
struct Answer {
    status: u16,
    body: String,
    record: TokenRequest,
}

fn answer_get(state: &State, head: &Head, query: &str) -> Answer {
    let params = http::parse_query(query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let scopes = split_scopes(params.iter().filter(|(n, _)| n == "scope").map(|(_, v)| v));
    let mut record = TokenRequest {
        method: "GET".to_owned(),
        account: param("account"),
        user: None,
        authorization: head.header("authorization").is_some(),
        grant_type: None,
        scopes,
        granted: Vec::new(),
        status: 200,
    };
    if let Some(service) = param("service")
        && service != state.policy.service
    {
        return refuse(
            record,
            400,
            "UNSUPPORTED",
            &format!("unknown service {service}"),
        );
    }
    let user = match head.header("authorization") {
        None => None,
        Some(value) => match basic_credentials(value).and_then(|(name, password)| {
            state
                .policy
                .users
                .iter()
                .find(|u| u.name == name && u.password == password)
        }) {
            Some(user) => Some(user),
            None => {
                return refuse(record, 401, "UNAUTHORIZED", "invalid username or password");
            }
        },
    };
    record.user = user.map(|u| u.name.clone());
    record.granted = grants(&state.policy, user, &record.scopes);
    let (token, issued_at) = sign_token(state, user.map(|u| u.name.as_str()), &record.granted);
    let body = token_body(&token, state.policy.expires_in, &issued_at, None);
    Answer {
        status: 200,
        body,
        record,
    }
}

fn answer_post(state: &State, head: &Head, form: &str) -> Answer {
    let params = http::parse_query(form);
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let scopes = split_scopes(params.iter().filter(|(n, _)| n == "scope").map(|(_, v)| v));
    let mut record = TokenRequest {
        method: "POST".to_owned(),
        account: param("username"),
        user: None,
        authorization: head.header("authorization").is_some(),
        grant_type: param("grant_type"),
        scopes,
        granted: Vec::new(),
        status: 200,
    };
    let mut refresh_token = None;
    let user = match record.grant_type.as_deref() {
        Some("password") => {
            let found = state.policy.users.iter().find(|u| {
                Some(&u.name) == param("username").as_ref()
                    && Some(&u.password) == param("password").as_ref()
            });
            let Some(user) = found else {
                return refuse(record, 401, "UNAUTHORIZED", "invalid username or password");
            };
            if param("access_type").as_deref() == Some("offline") {
                refresh_token = Some(new_refresh_token(state, &user.name));
            }
            user
        }
        Some("refresh_token") => {
            let name = param("refresh_token").and_then(|token| {
                state
                    .refresh_tokens
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&token)
                    .cloned()
            });
            match name.and_then(|name| state.policy.users.iter().find(|u| u.name == name)) {
                Some(user) => user,
                None => return refuse(record, 401, "UNAUTHORIZED", "unknown refresh token"),
            }
        }
        other => {
            let message =
                format!("unsupported grant_type {other:?}: use password or refresh_token");
            return refuse(record, 400, "UNSUPPORTED", &message);
        }
    };
    record.user = Some(user.name.clone());
    record.granted = grants(&state.policy, Some(user), &record.scopes);
    let (token, issued_at) = sign_token(state, Some(&user.name), &record.granted);
    let body = token_body(
        &token,
        state.policy.expires_in,
        &issued_at,
        refresh_token.as_deref(),
    );
    Answer {
        status: 200,
        body,
        record,
    }
}

fn refuse(mut record: TokenRequest, status: u16, code: &str, message: &str) -> Answer {
    record.status = status;
    Answer {
        status,
        body: error_body(code, message),
        record,
    }
}

fn token_body(token: &str, expires_in: u64, issued_at: &str, refresh: Option<&str>) -> String {
    let token = http::json_string(token);
    let refresh = refresh
        .map(|r| format!(",\"refresh_token\":{}", http::json_string(r)))
        .unwrap_or_default();
    format!(
        "{{\"token\":{token},\"access_token\":{token},\"expires_in\":{expires_in},\
         \"issued_at\":\"{issued_at}\"{refresh}}}"
    )
}

/// A registry-style error body.
pub(crate) fn error_body(code: &str, message: &str) -> String {
    format!(
        "{{\"errors\":[{{\"code\":{},\"message\":{}}}]}}",
        http::json_string(code),
        http::json_string(message)
    )
}

fn send_json(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    http::write_response(
        stream,
        status,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// The user name and password of an `Authorization: Basic` value.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(http::base64_decode(encoded)?).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

/// Splits scope parameters that may each hold several space-separated scopes.
fn split_scopes<'a>(values: impl Iterator<Item = &'a String>) -> Vec<String> {
    values
        .flat_map(|v| v.split_whitespace().map(str::to_owned))
        .collect()
}

/// What `user` (`None`: anonymous) gets of each requested scope under `policy`.
fn grants(policy: &TokenPolicy, user: Option<&TokenUser>, scopes: &[String]) -> Vec<Grant> {
    let mut out = Vec::new();
    for scope in scopes {
        // type:name:actions, where the name itself may hold colons (host:port/name).
        let Some((kind, rest)) = scope.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let allowed: &[&str] = match (kind, user.map(|u| u.access)) {
            ("repository", Some(Access::PullPush)) => &["pull", "push", "delete", "*"],
            ("repository", Some(Access::Pull)) => &["pull"],
            ("repository", None) if policy.anonymous_pull => &["pull"],
            ("registry", Some(Access::PullPush)) if name == "catalog" => &["*"],
            _ => &[],
        };
        let actions: Vec<String> = actions
            .split(',')
            .filter(|a| allowed.contains(a))
            .map(str::to_owned)
            .collect();
        if !actions.is_empty() {
            out.push(Grant {
                kind: kind.to_owned(),
                name: name.to_owned(),
                actions,
            });
        }
    }
    out
}

/// Signs a JWT for `subject` with `granted` access; returns it and its issue time (RFC 3339).
fn sign_token(state: &State, subject: Option<&str>, granted: &[Grant]) -> (String, String) {
    let now = unix_now();
    let header = format!(
        "{{\"typ\":\"JWT\",\"alg\":\"ES256\",\"x5c\":[\"{}\"]}}",
        state.certificate_der_base64
    );
    let access: Vec<String> = granted
        .iter()
        .map(|g| {
            let actions: Vec<String> = g.actions.iter().map(|a| http::json_string(a)).collect();
            format!(
                "{{\"type\":{},\"name\":{},\"actions\":[{}]}}",
                http::json_string(&g.kind),
                http::json_string(&g.name),
                actions.join(",")
            )
        })
        .collect();
    let serial = state.serial.fetch_add(1, Ordering::Relaxed);
    // `aud` is one string: the registry 2.8 refuses a list.
    let claims = format!(
        "{{\"iss\":{},\"sub\":{},\"aud\":{},\"exp\":{},\"nbf\":{},\"iat\":{now},\
         \"jti\":\"berth-{now}-{serial}\",\"access\":[{}]}}",
        http::json_string(&state.policy.issuer),
        http::json_string(subject.unwrap_or("")),
        http::json_string(&state.policy.service),
        now + state.policy.expires_in,
        now.saturating_sub(10),
        access.join(",")
    );
    let signing_input = format!(
        "{}.{}",
        http::base64_encode(header.as_bytes(), http::URL_SAFE),
        http::base64_encode(claims.as_bytes(), http::URL_SAFE)
    );
    let der = openssl(
        &["dgst", "-sha256", "-sign", path_str(&state.key)],
        Some(signing_input.as_bytes()),
    );
    let signature = jose_signature(&der)
        .unwrap_or_else(|| panic!("openssl printed an ECDSA signature that is not DER: {der:?}"));
    let token = format!(
        "{signing_input}.{}",
        http::base64_encode(&signature, http::URL_SAFE)
    );
    (token, rfc3339(now))
}

/// Converts an ECDSA P-256 signature from DER (`SEQUENCE { INTEGER r, INTEGER s }`, as
/// openssl prints it) to the fixed 64 bytes `r || s` that JOSE (RFC 7518 §3.4) wants.
fn jose_signature(der: &[u8]) -> Option<Vec<u8>> {
    let (&0x30, rest) = der.split_first()? else {
        return None;
    };
    let (&length, mut rest) = rest.split_first()?;
    if usize::from(length) != rest.len() {
        return None;
    }
    let mut out = Vec::with_capacity(64);
    for _ in 0..2 {
        let (&0x02, after_tag) = rest.split_first()? else {
            return None;
        };
        let (&length, after_length) = after_tag.split_first()?;
        let (integer, after) = after_length.split_at_checked(usize::from(length))?;
        // DER integers are signed: strip the sign byte, then left-pad to 32 bytes.
        let integer = &integer[integer
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(integer.len())..];
        if integer.len() > 32 {
            return None;
        }
        out.extend(std::iter::repeat_n(0, 32 - integer.len()));
        out.extend_from_slice(integer);
        rest = after;
    }
    rest.is_empty().then_some(out)
}

/// Runs `openssl ARGS` (feeding `input` on stdin) and returns its stdout; panics with its
/// stderr when it fails, because then no token can be made.
fn openssl(args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running openssl (Debian package openssl; run scripts/install-deps.sh)");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("openssl's stdin is piped");
        stdin
            .write_all(input)
            .expect("writing the data to sign to openssl");
    }
    let output = child.wait_with_output().expect("waiting for openssl");
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .expect("temporary directories have UTF-8 paths")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// Formats seconds since the epoch as RFC 3339 in UTC (`2024-01-01T00:00:00Z`).
fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3_723), "2000-02-29T01:02:03Z");
    }

    #[test]
    fn der_signatures_become_64_bytes() {
        // r with a sign byte (33 bytes), s short (31 bytes).
        let mut der = vec![0x30, 68, 0x02, 33, 0x00];
        der.extend([0xff; 32]);
        der.extend([0x02, 31]);
        der.extend([0x11; 31]);
        let raw = jose_signature(&der).unwrap();
        assert_eq!(raw.len(), 64);
        assert_eq!(&raw[..32], &[0xff; 32]);
        assert_eq!(raw[32], 0);
        assert_eq!(&raw[33..], &[0x11; 31]);
    }

    #[test]
    fn grants_follow_the_policy() {
        let policy = TokenPolicy::new()
            .user("alice", "a", Access::PullPush)
            .user("bob", "b", Access::Pull);
        let scopes = vec![
            "repository:library/busybox:pull,push".to_owned(),
            "repository:127.0.0.1:5000/x:pull".to_owned(),
        ];
        let alice = grants(&policy, Some(&policy.users[0]), &scopes);
        assert_eq!(alice[0].to_string(), "repository:library/busybox:pull,push");
        assert_eq!(alice[1].name, "127.0.0.1:5000/x");
        let bob = grants(&policy, Some(&policy.users[1]), &scopes);
        assert_eq!(bob[0].actions, ["pull"]);
        assert!(grants(&policy, None, &scopes).is_empty());
        let open = policy.anonymous_pull(true);
        assert_eq!(grants(&open, None, &scopes)[0].actions, ["pull"]);
    }
}
