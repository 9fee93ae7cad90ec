//! A static file server on a loopback port: the built book, as a browser sees it online.
//!
//! Opening the book's HTML with `file://` would hide real problems: browsers treat every
//! `file://` page as a separate origin, some scripts refuse to run there, and a link that
//! works on disk may not work behind a web server. So the browser test serves the book the
//! way GitHub Pages would, from the root of a site: `GET /chapter02.html` answers with the
//! file, a directory answers with its `index.html`, anything else is a `404`.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Component, Path, PathBuf};

use crate::http::{Incoming, read_head};
use crate::server::{Conn, Server};

/// A running file server; it stops, and its threads end, when dropped.
pub struct StaticSite {
    server: Server,
}

impl StaticSite {
    /// Serves the files under `root` on a free port of 127.0.0.1.
    pub fn serve(root: &Path) -> io::Result<StaticSite> {
        let root = root.to_path_buf();
        let server = Server::start("static-site", move |stream, conn| {
            serve_one(&root, stream, conn)
        })?;
        Ok(StaticSite { server })
    }

    /// The address the site listens on.
    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// The URL of `path` on this site (`path` relative to the root, like `chapter02.html`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.address(), path.trim_start_matches('/'))
    }
}

/// Answers one request; every answer closes the connection, so there is nothing to keep.
fn serve_one(root: &Path, mut stream: TcpStream, _conn: &mut Conn) {
    let Ok(Incoming::Head(head, _)) = read_head(&mut stream) else {
        return;
    };
    // Only GET: a browser loading pages needs nothing else.
    let (status, content_type, body) = match head.request_line() {
        Some(("GET", target, _)) => match file_for(root, target) {
            Some(path) => match std::fs::read(&path) {
                Ok(body) => ("200 OK", content_type(&path), body),
                Err(_) => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
            },
            None => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
        },
        Some(_) => ("405 Method Not Allowed", "text/plain", Vec::new()),
        None => ("400 Bad Request", "text/plain", Vec::new()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// The file a request target names under `root`, or `None` when it has none: no such file, or
/// a path that tries to climb out with `..`.
fn file_for(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let path = percent_decode(path);
    let relative = Path::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let mut file = root.join(relative);
    if file.is_dir() {
        file.push("index.html");
    }
    file.is_file().then_some(file)
}

/// The `Content-Type` for a file of the book, by its extension.
fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Decodes `%XX` escapes in a URL path. (Not `http::percent_decode`, which also turns `+` into
/// a space, as forms and query strings do; in a path `+` is itself.)
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
