//! Who we are to a registry: credentials, the server's challenge, and tokens.
//!
//! A registry says how it wants to be spoken to only when it refuses a request: a `401` with
//! a `WWW-Authenticate` header. `Basic realm=...` means "send a user and password with every
//! request". `Bearer realm=...,service=...,scope=...` means "go to the token server at
//! `realm`, get a token for this `scope` (say `repository:library/busybox:pull`), and send it
//! as `Authorization: Bearer <token>`". Docker Hub, GHCR and most registries use Bearer
//! tokens, even for anonymous pulls.
//!
//! `credentials` is what we prove ourselves with and where it comes from, `file` keeps it
//! between commands, `prompt` asks for it, `challenge` and `token` speak the protocol.

pub mod challenge;
pub mod credentials;
pub mod file;
pub mod prompt;
pub mod token;

pub use challenge::Challenge;
pub use credentials::{
    AuthConfig, CredentialSource, Credentials, Secret, credentials_key, registry_domain,
};
pub use file::{CredentialFile, CredentialsError};
pub use token::TokenCache;
