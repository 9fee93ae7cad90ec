//! The image verbs: `images`, `pull`, `push`, `tag`, `rmi`.
//!
//! Pulls and pushes are done by the daemon; the client names the image, hands over the
//! user's credentials (`X-Registry-Auth`, see the [`auth`] module), and draws the progress
//! stream the daemon sends back ([`progress`](super::progress)).

use std::io::{self, IsTerminal, Write};

use berth_daemon::http::ClientResponse;
use serde_json::Value;

use super::api::Api;
use super::auth;
use super::error::Failure;
use super::format::{self, Format};
use super::progress::{Message, Progress};
use super::reference::Reference;

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

fn parse(text: &str) -> Result<Reference, Failure> {
    Reference::parse(text).map_err(|e| Failure::new(e.to_string()))
}

/// `berth pull [-q]`: progress on stdout, then the full reference, as Docker prints it.
pub fn pull(api: &Api, image: &str, quiet: bool) -> Result<u8, Failure> {
    let reference = parse(image)?;
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
        &reference.name(),
        reference.tag_or_digest(),
        auth.as_deref(),
    )?;
    let terminal = out.is_a_terminal();
    show_stream(response, out, terminal)
}

/// `berth push`.
pub fn push(api: &Api, image: &str) -> Result<u8, Failure> {
    let reference = parse(image)?;
    if reference.digest.is_some() {
        return Err(Failure::new(format!(
            "cannot push {image}: push a tag, not a digest"
        )));
    }
    let auth = auth::header_for(&reference)?;
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let response = api.push(&reference.name(), tag, auth.as_deref())?;
    let mut out = io::stdout();
    let terminal = out.is_terminal();
    show_stream(response, &mut out, terminal)?;
    Ok(0)
}

/// `berth tag SOURCE TARGET`.
pub fn tag(api: &Api, source: &str, target: &str) -> Result<u8, Failure> {
    parse(source)?;
    let target = parse(target)?;
    let Some(tag) = target.tag.as_deref() else {
        return Err(Failure::new(format!(
            "refusing to create a tag with a digest reference: {}",
            target.familiar()
        )));
    };
    api.tag(source, &target.familiar_name(), tag)?;
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
fn show_stream(
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
