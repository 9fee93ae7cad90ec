//! A reverse proxy in front of a registry that fails on purpose, and logs every request.
//!
//! A registry client meets broken networks and odd registries in the wild: a blob whose bytes
//! changed on the way, a connection that drops halfway through a layer, a `429 Too Many
//! Requests` from Docker Hub, a `307` that sends the blob download to a CDN on another host
//! (where the client must not send its registry credentials). Chapter 3 promises an answer to
//! each, so its tests need each to happen, on demand, to one request.
//!
//! [`FaultyProxy`] is a real HTTP proxy on loopback sockets in front of a real [`Registry`]:
//! every request goes to the registry and every answer comes from it, except where a
//! [`FaultRule`] says otherwise for requests whose path matches. It speaks HTTP/1.1 by hand
//! (see [`crate::http`]), one request per connection (`Connection: close`), and streams
//! bodies both ways, so pushes of large layers go through too. It keeps the client's `Host`
//! header, so upload `Location`s the registry hands out point back at the proxy.
//!
//! Redirects go to a second listener ([`FaultyProxy::redirect_host`]) that plays the CDN: it
//! serves the blob only for the signed URL the proxy handed out (a `berth-signature` query
//! parameter) and forwards it to the registry with the credentials the original request
//! carried, as a CDN's signed URL stands in for them. It records whether the client sent an
//! `Authorization` header to it anyway: crossing to another host:port, it must not.
//!
//! Every request to either listener is logged ([`FaultyProxy::requests`]) with its method,
//! target, whether it carried `Authorization`, the status sent and the fault applied; the
//! chapter's "count the requests" exercise reads this log.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::http::{self, Framing, Head, Incoming};
use crate::registry::Registry;
use crate::server::{Conn, Server};
use crate::token::error_body;

/// How long the proxy waits on the registry.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// The query parameter that "signs" a redirect URL.
const SIGNATURE_PARAM: &str = "berth-signature";

/// What goes wrong with a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward the registry's successful (200/206) answer, with the byte at `offset` of the
    /// body inverted; `Content-Length` is unchanged, so only a digest check can notice. An
    /// offset past the end inverts the last byte.
    Corrupt {
        /// Which byte of the body, from 0.
        offset: u64,
    },
    /// Forward only the first `keep` bytes of a successful answer's body, then close the
    /// connection; `Content-Length` still announces the whole body.
    Truncate {
        /// How many bytes of the body get through.
        keep: u64,
    },
    /// Answer `429 Too Many Requests` with a registry-style `TOOMANYREQUESTS` error body,
    /// without asking the registry.
    TooManyRequests,
    /// Answer a successful request (so after the registry checked its credentials, as a real
    /// registry in front of a CDN does) with `307 Temporary Redirect` to the same path on
    /// [`FaultyProxy::redirect_host`], plus a signature parameter.
    Redirect,
    /// Read the request, then close the connection without answering: a registry that is
    /// going down.
    Drop,
}

impl Fault {
    /// A short name for logs: `corrupt`, `truncate`, `429`, `redirect`, `drop`.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Corrupt { .. } => "corrupt",
            Fault::Truncate { .. } => "truncate",
            Fault::TooManyRequests => "429",
            Fault::Redirect => "redirect",
            Fault::Drop => "drop",
        }
    }

    /// Whether the fault is applied to the registry's answer (so only to a successful one)
    /// rather than instead of asking the registry.
    fn needs_answer(&self) -> bool {
        matches!(
            self,
            Fault::Corrupt { .. } | Fault::Truncate { .. } | Fault::Redirect
        )
    }
}

/// When to apply a [`Fault`]: to requests whose target contains a string, with a method, a
/// number of times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// A substring of the request target (path and query) that selects requests: `/blobs/`,
    /// `/manifests/latest`, a digest, or `""` for all.
    pub path_contains: String,
    /// The method to match, or `None` for any.
    pub method: Option<String>,
    /// The fault.
    pub fault: Fault,
    /// How many more times to apply it; `None` for every time.
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule applying `fault` to every request whose target contains `path_contains`; the
    /// faults that change an answer's body (corrupt, truncate, redirect) apply to `GET`
    /// only, the others to any method.
    pub fn new(path_contains: &str, fault: Fault) -> FaultRule {
        FaultRule {
            path_contains: path_contains.to_owned(),
            method: fault.needs_answer().then(|| "GET".to_owned()),
            fault,
            times: None,
        }
    }

    /// Applies the fault only the first `n` times it matches (and, for faults on the answer,
    /// only counts successful answers), then forwards normally: `429` once, then success.
    pub fn times(mut self, n: u32) -> FaultRule {
        self.times = Some(n);
        self
    }

    /// Matches `method` only (`"HEAD"`, `"PUT"`…).
    pub fn method(mut self, method: &str) -> FaultRule {
        self.method = Some(method.to_owned());
        self
    }

    /// Matches every method.
    pub fn any_method(mut self) -> FaultRule {
        self.method = None;
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.times != Some(0)
            && target.contains(&self.path_contains)
            && self.method.as_deref().is_none_or(|m| m == method)
    }
}

/// Which of the proxy's listeners a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The proxy itself ([`FaultyProxy::host`]).
    Proxy,
    /// The redirect target, the "CDN" ([`FaultyProxy::redirect_host`]).
    Redirect,
}

/// One request as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    /// Which listener it came to.
    pub listener: Listener,
    /// The method.
    pub method: String,
    /// The request target, path and query.
    pub target: String,
    /// Whether it carried an `Authorization` header.
    pub authorization: bool,
    /// The status sent back; `None` when the connection was closed without an answer.
    pub status: Option<u16>,
    /// The fault applied, by [`Fault::name`].
    pub fault: Option<&'static str>,
    /// How many body bytes were sent back.
    pub body_bytes: u64,
}

impl fmt::Display for ProxyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let via = match self.listener {
            Listener::Proxy => "proxy",
            Listener::Redirect => "redirect",
        };
        let status = self
            .status
            .map_or_else(|| "closed".to_owned(), |s| s.to_string());
        write!(f, "{via}: {} {} -> {status}", self.method, self.target)?;
        if self.authorization {
            write!(f, " (with Authorization)")?;
        }
        if let Some(fault) = self.fault {
            write!(f, " [{fault}]")?;
        }
        Ok(())
    }
}

/// The running proxy and its redirect listener; both stop when dropped. See the module
/// documentation.
pub struct FaultyProxy {
    proxy: Server,
    redirect: Server,
    state: Arc<State>,
}

struct State {
    upstream: String,
    /// `127.0.0.1:PORT` of the redirect listener, known once it is bound.
    redirect_host: Mutex<String>,
    rules: Mutex<Vec<FaultRule>>,
    log: Mutex<Vec<ProxyRequest>>,
    /// Signed redirect URLs handed out: signature → the `Authorization` of the original request.
    signatures: Mutex<HashMap<u64, Option<String>>>,
    next_signature: AtomicU64,
    /// Requests read but not yet logged.
    in_flight: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl FaultyProxy {
    /// A proxy in front of `registry`, with no faults yet.
    pub fn start(registry: &Registry) -> FaultyProxy {
        FaultyProxy::to(&registry.host())
    }

    /// A proxy in front of whatever listens at `upstream` (`127.0.0.1:PORT`). If nothing
    /// does, every request gets `502 Bad Gateway`.
    pub fn to(upstream: &str) -> FaultyProxy {
        let state = Arc::new(State {
            upstream: upstream.to_owned(),
            redirect_host: Mutex::new(String::new()),
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            signatures: Mutex::new(HashMap::new()),
            next_signature: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
        });
        let proxy_state = Arc::clone(&state);
        let proxy = Server::start("faulty-proxy", move |stream, conn| {
            handle(&proxy_state, Listener::Proxy, stream, conn)
        })
        .expect("starting the faulty proxy on a loopback port");
        let redirect_state = Arc::clone(&state);
        let redirect = Server::start("faulty-proxy-redirect", move |stream, conn| {
            handle(&redirect_state, Listener::Redirect, stream, conn)
        })
        .expect("starting the proxy's redirect listener on a loopback port");
        *lock(&state.redirect_host) = redirect.address().to_string();
        FaultyProxy {
            proxy,
            redirect,
            state,
        }
    }

    /// `127.0.0.1:PORT` of the proxy: use it in image references instead of the registry's.
    pub fn host(&self) -> String {
        self.proxy.address().to_string()
    }

    /// `127.0.0.1:PORT` of the redirect listener, where [`Fault::Redirect`] sends clients.
    pub fn redirect_host(&self) -> String {
        self.redirect.address().to_string()
    }

    /// Adds a rule; rules are tried in the order added, and the first match applies.
    pub fn add(&self, rule: FaultRule) {
        lock(&self.state.rules).push(rule);
    }

    /// Shorthand for `add(FaultRule::new(path_contains, fault))`.
    pub fn fault(&self, path_contains: &str, fault: Fault) {
        self.add(FaultRule::new(path_contains, fault));
    }

    /// Removes every rule: from now on the proxy only forwards.
    pub fn clear_faults(&self) {
        lock(&self.state.rules).clear();
    }

    /// The rules with what is left of their `times`.
    pub fn rules(&self) -> Vec<FaultRule> {
        lock(&self.state.rules).clone()
    }

    /// Every request answered (or dropped) so far on both listeners, in the order they
    /// finished.
    ///
    /// A client may have its whole answer (all `Content-Length` bytes) a moment before the
    /// proxy logs the exchange, so this first waits, up to two seconds, until no request is
    /// in flight.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.state.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        lock(&self.state.log).clone()
    }

    /// Forgets the requests logged so far.
    pub fn clear_requests(&self) {
        lock(&self.state.log).clear();
    }

    /// The log as text, one request a line, as the chapter's trace exercise prints it.
    pub fn log_text(&self) -> String {
        self.requests().iter().map(|r| format!("{r}\n")).collect()
    }
}

/// An address on 127.0.0.1 where nothing listens (a port bound and released): a registry that
/// is down. Connecting there is refused.
pub fn dead_host() -> String {
    format!("127.0.0.1:{}", crate::registry::free_port())
}

/// Counts a request as in flight until dropped (also when its handler panics).
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> InFlight<'a> {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the redirect needs of the request the proxy received.
struct Original {
    target: String,
    authorization: Option<String>,
}

/// What one exchange came to, for the log.
struct Outcome {
    status: Option<u16>,
    fault: Option<&'static str>,
    body_bytes: u64,
}

fn handle(state: &State, listener: Listener, mut client: TcpStream, conn: &mut Conn) {
    let (head, rest) = match http::read_head(&mut client) {
        Ok(Incoming::Head(head, rest)) => (head, rest),
        // A client trying HTTPS first: close, and it falls back to plain HTTP. Not logged,
        // since it is not an HTTP request.
        Ok(Incoming::Tls) | Ok(Incoming::Closed) | Err(_) => return,
    };
    let Some((method, target, _)) = head.request_line() else {
        let _ = http::write_response(&mut client, 400, &[], b"bad request line\n");
        return;
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let authorization = head.header("authorization").is_some();
    let in_flight = InFlight::enter(&state.in_flight);
    let outcome = match listener {
        Listener::Proxy => proxy_request(state, head, rest, &method, &target, &mut client, conn),
        Listener::Redirect => redirected_request(state, head, rest, &target, &mut client, conn),
    };
    let record = ProxyRequest {
        listener,
        method,
        target,
        authorization,
        status: outcome.status,
        fault: outcome.fault,
        body_bytes: outcome.body_bytes,
    };
    // Captured by the test harness; shown for a failing test, and with --nocapture.
    eprintln!("{record}");
    // Logged before the connection closes, so a client that has its answer finds it logged.
    lock(&state.log).push(record);
    drop(in_flight);
    let _ = client.shutdown(Shutdown::Both);
}

/// Takes the first rule matching `method target` whose fault is (or is not) applied to the
/// answer, counting one use of it.
fn take_rule(state: &State, method: &str, target: &str, on_answer: bool) -> Option<Fault> {
    let mut rules = lock(&state.rules);
    let rule = rules
        .iter_mut()
        .find(|r| r.matches(method, target) && r.fault.needs_answer() == on_answer)?;
    if let Some(times) = rule.times.as_mut() {
        *times -= 1;
    }
    Some(rule.fault)
}

fn proxy_request(
    state: &State,
    head: Head,
    rest: Vec<u8>,
    method: &str,
    target: &str,
    client: &mut TcpStream,
    conn: &mut Conn,
) -> Outcome {
    match take_rule(state, method, target, false) {
        Some(Fault::TooManyRequests) => {
            let body = error_body(
                "TOOMANYREQUESTS",
                "You have reached your pull rate limit (berth-tests FaultyProxy).",
            );
            let _ = http::write_response(
                client,
                429,
                &[
                    ("Content-Type", "application/json"),
                    ("Docker-Distribution-Api-Version", "registry/2.0"),
                ],
                body.as_bytes(),
            );
            return Outcome {
                status: Some(429),
                fault: Some("429"),
                body_bytes: body.len() as u64,
            };
        }
        Some(Fault::Drop) => {
            return Outcome {
                status: None,
                fault: Some("drop"),
                body_bytes: 0,
            };
        }
        _ => {}
    }
    let original = Original {
        target: target.to_owned(),
        authorization: head.header("authorization").map(str::to_owned),
    };
    forward(state, head, rest, client, conn, Some(original), |status| {
        if status == 200 || status == 206 {
            take_rule(state, method, target, true)
        } else {
            None
        }
    })
}

fn redirected_request(
    state: &State,
    head: Head,
    rest: Vec<u8>,
    target: &str,
    client: &mut TcpStream,
    conn: &mut Conn,
) -> Outcome {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut signature = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((SIGNATURE_PARAM, value)) => signature = value.parse::<u64>().ok(),
            _ => kept.push(pair),
        }
    }
    let stashed = signature.and_then(|s| lock(&state.signatures).get(&s).cloned());
    let Some(authorization) = stashed else {
        let body = error_body(
            "DENIED",
            "the redirect URL's signature is missing or unknown",
        );
        let _ = http::write_response(
            client,
            403,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        return Outcome {
            status: Some(403),
            fault: None,
            body_bytes: body.len() as u64,
        };
    };
    // The signed URL stands in for the credentials: forward with the original request's.
    let (method, _, version) = head.request_line().unwrap_or(("GET", "", "HTTP/1.1"));
    let unsigned = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut head = Head {
        start: format!("{method} {unsigned} {version}"),
        headers: head.headers.clone(),
    }
    .without("authorization");
    if let Some(value) = authorization {
        head = head.with("Authorization", &value);
    }
    forward(state, head, rest, client, conn, None, |_| None)
}

/// Forwards one request to the registry and streams the answer back, applying the fault that
/// `fault_for(status)` picks once the answer's status is known.
fn forward(
    state: &State,
    head: Head,
    rest: Vec<u8>,
    client: &mut TcpStream,
    conn: &mut Conn,
    original: Option<Original>,
    fault_for: impl FnOnce(u16) -> Option<Fault>,
) -> Outcome {
    let mut upstream = match connect(&state.upstream) {
        Ok(stream) => stream,
        Err(e) => {
            let body = error_body(
                "UNAVAILABLE",
                &format!(
                    "berth-tests proxy: registry {} is down: {e}",
                    state.upstream
                ),
            );
            let _ = http::write_response(
                client,
                502,
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            );
            return Outcome {
                status: Some(502),
                fault: None,
                body_bytes: body.len() as u64,
            };
        }
    };
    conn.track(&upstream);
    let closed = Outcome {
        status: None,
        fault: None,
        body_bytes: 0,
    };
    let framing = head.framing(true);
    let head = head
        .without("proxy-connection")
        .without("keep-alive")
        .with("Connection", "close");
    if upstream.write_all(&head.to_bytes()).is_err() {
        return closed;
    }
    // The request body goes up in a thread of its own while this one waits for the answer:
    // a registry may answer before it has read the whole body (an error), or only after it
    // sent `100 Continue`.
    let pump = match (framing, client.try_clone(), upstream.try_clone()) {
        (Framing::Length(0), _, _) => None,
        (framing, Ok(client_reader), Ok(mut upstream_writer)) => std::thread::Builder::new()
            .name("faulty-proxy-body".to_owned())
            .spawn(move || {
                let mut reader = BufReader::new(io::Cursor::new(rest).chain(client_reader));
                let _ = http::copy_raw_body(&mut reader, framing, &mut upstream_writer);
            })
            .ok(),
        _ => return closed,
    };
    let outcome = relay_answer(&mut upstream, client, state, original, fault_for);
    // Stop the body pump, which may still wait for a body the registry did not want; the
    // client's side stays open until the exchange is logged.
    let _ = client.shutdown(Shutdown::Read);
    let _ = upstream.shutdown(Shutdown::Both);
    if let Some(pump) = pump {
        let _ = pump.join();
    }
    outcome
}

fn connect(host: &str) -> io::Result<TcpStream> {
    let address = host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(UPSTREAM_TIMEOUT))?;
    stream.set_write_timeout(Some(UPSTREAM_TIMEOUT))?;
    Ok(stream)
}

/// Reads the registry's answer and sends it on to the client, with the fault if any.
fn relay_answer(
    upstream: &mut TcpStream,
    client: &mut TcpStream,
    state: &State,
    original: Option<Original>,
    fault_for: impl FnOnce(u16) -> Option<Fault>,
) -> Outcome {
    let mut outcome = Outcome {
        status: None,
        fault: None,
        body_bytes: 0,
    };
    // Interim answers (100 Continue) go through as they are.
    let (head, rest, status) = loop {
        let (head, rest) = match http::read_head(upstream) {
            Ok(Incoming::Head(head, rest)) => (head, rest),
            _ => return outcome,
        };
        let Some(status) = head.status() else {
            return outcome;
        };
        if (100..200).contains(&status) {
            if client.write_all(&head.to_bytes()).is_err() {
                return outcome;
            }
            continue;
        }
        break (head, rest, status);
    };
    outcome.status = Some(status);
    let fault = fault_for(status);
    outcome.fault = fault.map(|f| f.name());
    if fault == Some(Fault::Redirect)
        && let Some(original) = original
    {
        return redirect(state, client, original, outcome);
    }
    let announced = head
        .header("content-length")
        .and_then(|l| l.parse::<u64>().ok());
    let head = head.without("keep-alive").with("Connection", "close");
    if client.write_all(&head.to_bytes()).is_err() {
        return outcome;
    }
    // The registry closes after the answer (we asked it to), so the body runs to the end of
    // the stream whatever its framing; faults count bytes of the body as sent.
    let (corrupt_at, keep) = match fault {
        Some(Fault::Corrupt { offset }) => (
            Some(announced.map_or(offset, |len| offset.min(len.saturating_sub(1)))),
            u64::MAX,
        ),
        Some(Fault::Truncate { keep }) => (None, keep),
        _ => (None, u64::MAX),
    };
    let mut body = io::Cursor::new(rest).chain(upstream);
    let mut buf = vec![0u8; 64 * 1024];
    while outcome.body_bytes < keep {
        let want = buf
            .len()
            .min(usize::try_from(keep - outcome.body_bytes).unwrap_or(usize::MAX));
        let n = match body.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(at) = corrupt_at
            && (outcome.body_bytes..outcome.body_bytes + n as u64).contains(&at)
        {
            buf[(at - outcome.body_bytes) as usize] ^= 0xff;
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
        outcome.body_bytes += n as u64;
    }
    let _ = client.flush();
    outcome
}

/// Answers `307` to the redirect listener instead of the registry's successful answer, with a
/// signature that stands for the original request's `Authorization`.
fn redirect(
    state: &State,
    client: &mut TcpStream,
    original: Original,
    mut outcome: Outcome,
) -> Outcome {
    let signature = state.next_signature.fetch_add(1, Ordering::Relaxed);
    lock(&state.signatures).insert(signature, original.authorization);
    let separator = if original.target.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!(
        "http://{}{}{separator}{SIGNATURE_PARAM}={signature}",
        lock(&state.redirect_host),
        original.target
    );
    let _ = http::write_response(
        client,
        307,
        &[
            ("Location", &location),
            ("Docker-Distribution-Api-Version", "registry/2.0"),
        ],
        b"",
    );
    outcome.status = Some(307);
    outcome
}
