//! # HTTP/1.1 by hand
//!
//! Docker's API is HTTP/1.1, and this module is enough of HTTP/1.1 to serve it and to call it,
//! with a thread per connection and nothing hidden. Read it in the order a request travels:
//!
//! 1. [`server`]: the listening UNIX socket (its mode, its owner, the lock that keeps a second
//!    daemon away) or TCP port, the accept loop, one thread per connection.
//! 2. `connection`: one connection's life: read a request, answer it, keep the connection
//!    alive for the next one or close it. Both read their settings from [`options`].
//! 3. [`request`] (the request head, parsed by `httparse` under size and time limits), then
//!    [`body`] (`Content-Length` and chunked bodies), [`target`], [`percent`] and [`query`] (what
//!    the path and the query string mean).
//! 4. [`router`]: which handler answers a method and a path.
//! 5. [`response`] (status, headers, a body of known length), [`stream`] (a body sent while it
//!    is produced, one chunk at a time) and [`upgrade`] (the hijack: after `101 UPGRADED` the
//!    socket is a raw byte pipe in both directions).
//! 6. [`client`] and [`host`]: the same protocol from the other end, for the `ch04` CLI.
//!
//! [`transport`] says what a connection must be able to do, so the same code serves a UNIX
//! socket today and TCP later; `conn` is the read buffer both ends share.

pub mod body;
pub mod client;
mod conn;
mod connection;
pub mod headers;
pub mod host;
pub mod options;
pub mod percent;
pub mod query;
pub mod request;
pub mod response;
pub mod router;
pub mod server;
pub mod stream;
pub mod target;
pub mod transport;
pub mod upgrade;

pub use body::BodyError;
pub use client::{
    Client, ClientError, ClientRequest, ClientResponse, Connector, Hijacked, JsonStream,
    ResponseBody,
};
pub use headers::Headers;
pub use host::{Host, HostError};
pub use options::{ServerOptions, SocketGroup};
pub use query::{Query, QueryError};
pub use request::{Limits, Request, RequestError, SpooledBody};
pub use response::{HttpError, IntoResponse, Response};
pub use router::{Handler, Router};
pub use server::{Acceptor, Server, ServerError, ServerHandle};
pub use stream::ChunkWriter;
pub use target::{ApiVersion, TargetError};
pub use transport::Transport;
pub use upgrade::{Upgraded, UpgradedReader, UpgradedWriter};
