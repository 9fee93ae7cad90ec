//! The image verbs: `images`, `pull`, `push`, `tag`, `rmi`.
//!
//! Pulls and pushes are done by the daemon; the client names the image, hands over the
//! user's credentials (`X-Registry-Auth`, see the [`auth`] module), and draws the progress
//! stream the daemon sends back ([`progress`](super::progress)).

use std::io::{self, IsTerminal, Write};

use berth_daemon::http::ClientResponse;
use berth_images::reference::{Reference, ReferenceError};
use serde_json::Value;

use super::api::Api;
use super::auth;
use super::error::Failure;
use super::format::{self, Format};
use super::progress::{Message, Progress};

/// `berth images`.
pub fn list(api: &Api, quiet: bool, format: Option<&str>) -> Result<u8, Failure> {
    let format = Format::parse(format)?;
    let images = api.images()?;
    let mut out = io::stdout().lock();
    if format == Format::Json {
        format::print_json(&mut out, &Value::Array(images))?;
    } else if quiet {
        for image in &images {
            let _ = writeln!(out, "{}", format::short_id(format::text(image, "Id")));
        }
    } else {
        let mut rows = vec![format::header(&format::IMAGES_HEADER)];
        rows.extend(images.iter().flat_map(format::image_rows));
        let _ = out.write_all(format::table(&rows).as_bytes());
    }
    Ok(0)
}

/// Parses an image name as the user typed it, with chapter 2's rules (the daemon's, so the
/// two agree on every name), the tag defaulting to `latest` when there is no digest either.
/// The refusal names the text as typed: `invalid reference format: "Bad/Name" must be
/// lowercase`.
pub fn parse_reference(text: &str) -> Result<Reference, Failure> {
    let reason = |error: ReferenceError| match error {
        ReferenceError::Empty => "has an empty name",
        ReferenceError::Uppercase(_) => "must be lowercase",
        ReferenceError::InvalidCharacter(_)
        | ReferenceError::InvalidComponent { .. }
        | ReferenceError::TooLong(_) => "is not a valid repository name",
        ReferenceError::InvalidDomain { .. } => "has an invalid registry host",
        ReferenceError::InvalidTag { .. } => "has an invalid tag",
        ReferenceError::InvalidDigest { .. } => "has a malformed digest",
    };
    Reference::parse(text)
        .map(Reference::with_default_tag)
        .map_err(|e| Failure::new(format!("invalid reference format: {text:?} {}", reason(e))))
}

/// What `pull` sends as `tag=`: the digest when there is one, else the tag.
fn tag_or_digest(reference: &Reference) -> String {
    match (&reference.digest, &reference.tag) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.clone(),
        (None, None) => "latest".to_owned(),
    }
}

/// `berth pull [-q]`: progress on stdout, then the full reference, as Docker prints it.
pub fn pull(api: &Api, image: &str, quiet: bool) -> Result<u8, Failure> {
    let reference = parse_reference(image)?;
    if quiet {
        // The stream is still read to its end: that is how the pull's outcome arrives.
        pull_to(api, &reference, &mut Vec::new())?;
        println!("{reference}");
        return Ok(0);
    }
    if reference.tag.as_deref() == Some("latest") && !image.ends_with(":latest") {
        println!("Using default tag: latest");
    }
    pull_to(api, &reference, &mut io::stdout())?;
    println!("{reference}");
    Ok(0)
}

/// Pulls `reference`, drawing the progress on `out` (bars if it is a terminal).
pub fn pull_to(
    api: &Api,
    reference: &Reference,
    out: &mut dyn WriteTerminal,
) -> Result<(), Failure> {
    let auth = auth::header_for(reference)?;
    let response = api.pull(
        &reference.repository(),
        &tag_or_digest(reference),
        auth.as_deref(),
    )?;
    let terminal = out.is_a_terminal();
    show_stream(response, out, terminal)
}

/// `berth push`.
pub fn push(api: &Api, image: &str) -> Result<u8, Failure> {
    let reference = parse_reference(image)?;
    if reference.digest.is_some() {
        return Err(Failure::new(format!(
            "cannot push {image}: push a tag, not a digest"
        )));
    }
    let auth = auth::header_for(&reference)?;
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let response = api.push(&reference.repository(), tag, auth.as_deref())?;
    let mut out = io::stdout();
    let terminal = out.is_terminal();
    show_stream(response, &mut out, terminal)?;
    Ok(0)
}

/// `berth tag SOURCE TARGET`.
pub fn tag(api: &Api, source: &str, target: &str) -> Result<u8, Failure> {
    parse_reference(source)?;
    let target = parse_reference(target)?;
    let Some(tag) = target.tag.as_deref() else {
        return Err(Failure::new(format!(
            "refusing to create a tag with a digest reference: {}",
            target.familiar()
        )));
    };
    api.tag(source, &target.familiar_repository(), tag)?;
    Ok(0)
}

/// `berth rmi`: prints what was untagged and deleted, per image.
pub fn remove(api: &Api, force: bool, images: &[String]) -> Result<u8, Failure> {
    let mut code = 0;
    let mut out = io::stdout().lock();
    for image in images {
        match api.remove_image(image, force) {
            Ok(report) => {
                for line in report {
                    if let Some(name) = line["Untagged"].as_str() {
                        let _ = writeln!(out, "Untagged: {name}");
                    }
                    if let Some(id) = line["Deleted"].as_str() {
                        let _ = writeln!(out, "Deleted: {id}");
                    }
                }
            }
            Err(e) => {
                Failure::from(e).print();
                code = 1;
            }
        }
    }
    Ok(code)
}

/// A writer that knows whether it is a terminal (stdout and stderr, or a buffer in tests).
pub trait WriteTerminal: Write {
    /// Whether progress bars can be drawn on it.
    fn is_a_terminal(&self) -> bool;
}

impl WriteTerminal for io::Stdout {
    fn is_a_terminal(&self) -> bool {
        self.is_terminal()
    }
}

impl WriteTerminal for io::Stderr {
    fn is_a_terminal(&self) -> bool {
        self.is_terminal()
    }
}

impl WriteTerminal for Vec<u8> {
    fn is_a_terminal(&self) -> bool {
        false
    }
}

/// Draws a progress stream until it ends; an `errorDetail` becomes the failure.
pub fn show_stream(
    response: ClientResponse,
    out: &mut dyn Write,
    terminal: bool,
) -> Result<(), Failure> {
    let width = if terminal {
        super::terminal::size().map(|(_, cols)| cols)
    } else {
        None
    };
    let mut progress = Progress::new(out, terminal).with_width(width);
    for message in response.json_stream::<Message>() {
        let message = message?;
        let shown = progress
            .show(&message)
            .map_err(|e| Failure::new(format!("writing the progress: {e}")))?;
        shown.map_err(Failure::new)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Reference {
        parse_reference(text).unwrap_or_else(|e| panic!("{text}: {}", e.message))
    }

    #[test]
    fn short_names_are_hub_library_images() {
        let r = parse("busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.repository(), "docker.io/library/busybox");
        assert_eq!(parse("alice/app:1").to_string(), "docker.io/alice/app:1");
        assert_eq!(parse("alice/app:1").familiar(), "alice/app:1");
        // Only a one-part name is an official image: `tag` must keep `library/` here.
        assert_eq!(parse("library/a/b").familiar_repository(), "library/a/b");
    }

    #[test]
    fn a_host_first_is_a_registry() {
        let r = parse("localhost:5000/team/app:1.0");
        assert_eq!(r.domain, "localhost:5000");
        assert_eq!(r.path, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.familiar(), "localhost:5000/team/app:1.0");
        // A port is not a tag.
        let r = parse("127.0.0.1:5000/bb");
        assert_eq!(r.domain, "127.0.0.1:5000");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(parse("localhost/app").domain, "localhost");
    }

    #[test]
    fn digests_replace_the_default_tag() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("busybox@{digest}"));
        assert_eq!(r.tag, None);
        assert_eq!(tag_or_digest(&r), digest);
        assert_eq!(r.familiar(), format!("busybox@{digest}"));
        assert_eq!(tag_or_digest(&parse("busybox:1.36")), "1.36");
    }

    #[test]
    fn bad_references_are_refused_with_the_reason() {
        for (text, reason) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("bad name", "valid repository"),
            ("busybox:", "tag"),
            ("a//b", "valid repository"),
            ("busybox@nodigest", "digest"),
            ("busybox@sha256:abc", "digest"),
            ("bad_host.io:x/y", "registry host"),
        ] {
            let error = parse_reference(text).unwrap_err().message;
            assert!(error.contains(reason), "{text:?}: {error}");
        }
        assert_eq!(
            parse_reference("Bad/Name").unwrap_err().message,
            r#"invalid reference format: "Bad/Name" must be lowercase"#
        );
    }
}
