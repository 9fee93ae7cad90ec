//! The verbs that move tar streams: `cp`, `export`, `save`, `load` and `import`.
//!
//! In Docker a container's files and an image's layers cross the API as tar archives: `docker
//! cp` is `GET`/`PUT /containers/{id}/archive`, `export` a `GET` of the whole root, `save` and
//! `load` an image archive each way, `import` a root filesystem made into an image. The daemon
//! resolves container paths inside the container's root; the client only packs and unpacks on
//! the host side. Every archive is streamed (the request body in chunks, the response body as it
//! arrives): an image archive can weigh gigabytes, and none is ever held in memory.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use berth_daemon::http::{ClientRequest, ClientResponse};
use clap::Args;

use super::api::Api;
use super::error::Failure;
use super::images;

/// `cp`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct CpArgs {
    /// Keep the files' owners (uid and gid) when copying into a container.
    #[arg(short, long)]
    pub archive: bool,
    /// `CONTAINER:PATH`, a host path, or `-` (a tar on stdin).
    pub source: String,
    /// `CONTAINER:PATH`, a host path, or `-` (a tar on stdout).
    pub destination: String,
}

/// `import`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// A Dockerfile instruction to apply (`CMD ["sh"]`, `ENV A=1`...).
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// The commit message.
    #[arg(short, long)]
    pub message: Option<String>,
    /// The tar file, or `-` for stdin.
    pub file: String,
    /// The new image's name.
    pub repository: Option<String>,
}

/// `CONTAINER:PATH` split, or `None` for a host path. As Docker: a path starting with `/` or
/// `.` is the host's even with a colon in it (`./a:b`).
pub fn container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':')
}

/// `berth cp`.
pub fn cp(api: &Api, args: &CpArgs) -> Result<u8, Failure> {
    match (
        container_path(&args.source),
        container_path(&args.destination),
    ) {
        (Some(_), Some(_)) => Err(Failure::new("copying between containers is not supported")),
        (None, None) => Err(Failure::new("must specify at least one container source")),
        (Some((container, path)), None) => copy_out(api, container, path, &args.destination),
        (None, Some((container, path))) => {
            copy_in(api, &args.source, container, path, args.archive)
        }
    }
}

/// Container → host: the daemon's tar of `path`, unpacked at `destination` (or on stdout).
fn copy_out(api: &Api, container: &str, path: &str, destination: &str) -> Result<u8, Failure> {
    let response = api.call(
        &ClientRequest::get(&format!("/containers/{container}/archive")).query("path", path),
    )?;
    if destination == "-" {
        copy_body(response, &mut io::stdout().lock())?;
        return Ok(0);
    }
    // The tar's top entry is named as the daemon's stat of the path says (the last component
    // of the path as resolved in the container).
    let source_name = response
        .header("x-docker-container-path-stat")
        .and_then(path_stat)
        .and_then(|stat| stat["name"].as_str().map(str::to_owned))
        .or_else(|| {
            Path::new(path.trim_end_matches('/'))
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "/".to_owned());
    let destination = PathBuf::from(destination);
    let unpack_failed =
        |e: io::Error| Failure::new(format!("copying into {}: {e}", destination.display()));
    let mut archive = tar::Archive::new(response.into_body());
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    if destination.is_dir() {
        // Into an existing directory, under the source's own name.
        archive.unpack(&destination).map_err(unpack_failed)?;
        return Ok(0);
    }
    // A new name: unpack beside it, then rename, so a failed copy leaves nothing half-made.
    let parent = match destination.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".berth-cp-")
        .tempdir_in(&parent)
        .map_err(|e| Failure::new(format!("copying into {}: {e}", parent.display())))?;
    archive.unpack(staging.path()).map_err(unpack_failed)?;
    std::fs::rename(staging.path().join(&source_name), &destination).map_err(unpack_failed)?;
    Ok(0)
}

/// Host → container: a tar of `source` (or stdin's tar) unpacked by the daemon at `path`.
fn copy_in(
    api: &Api,
    source: &str,
    container: &str,
    path: &str,
    keep_owners: bool,
) -> Result<u8, Failure> {
    let put = |directory: &str| {
        ClientRequest::new("PUT", &format!("/containers/{container}/archive"))
            .query("path", directory)
            .query("noOverwriteDirNonDir", "true")
            .query("copyUIDGID", if keep_owners { "true" } else { "false" })
            .header("Content-Type", "application/x-tar")
    };
    if source == "-" {
        refuse_terminal_stdin("cp")?;
        api.call_streaming(&put(path), &mut |out| {
            io::copy(&mut io::stdin().lock(), out).map(drop)
        })?;
        return Ok(0);
    }
    let source = Path::new(source);
    let metadata = std::fs::symlink_metadata(source)
        .map_err(|e| Failure::new(format!("could not stat {}: {e}", source.display())))?;
    // Where the tar lands and under which name: into an existing directory under the source's
    // name, else at the destination's name in its parent (Docker's rule).
    let exists_as_dir = api
        .client()
        .send(&ClientRequest::head(&format!("/containers/{container}/archive")).query("path", path))
        .ok()
        .filter(|r| r.status() == 200)
        .and_then(|r| {
            r.header("x-docker-container-path-stat")
                .map(path_stat_is_dir)
        })
        .unwrap_or(false);
    let (directory, name) = if exists_as_dir || path.ends_with('/') {
        let name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".to_owned());
        (path.to_owned(), name)
    } else {
        let trimmed = Path::new(path);
        let parent = trimmed
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        let name = trimmed
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (parent, name)
    };
    api.call_streaming(&put(&directory), &mut |out| {
        let mut builder = tar::Builder::new(out);
        // Links stay links, as `docker cp` copies them.
        builder.follow_symlinks(false);
        if metadata.is_dir() {
            builder.append_dir_all(&name, source)?;
        } else {
            builder.append_path_with_name(source, &name)?;
        }
        builder.finish()
    })?;
    Ok(0)
}

/// The `X-Docker-Container-Path-Stat` header's JSON (`name`, `size`, `mode`...), base64'd.
fn path_stat(header: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let json = base64::engine::general_purpose::STANDARD
        .decode(header)
        .ok()?;
    serde_json::from_slice(&json).ok()
}

/// Whether a path stat describes a directory: Go's `FileMode` keeps that bit at 1 << 31.
fn path_stat_is_dir(header: &str) -> bool {
    path_stat(header)
        .and_then(|stat| stat["mode"].as_u64())
        .is_some_and(|mode| mode & (1 << 31) != 0)
}

/// `berth export CONTAINER [-o FILE]`.
pub fn export(api: &Api, container: &str, output: Option<&Path>) -> Result<u8, Failure> {
    let response = api.call(&ClientRequest::get(&format!(
        "/containers/{container}/export"
    )))?;
    write_archive(response, output)
}

/// `berth save IMAGE... [-o FILE]`: one archive holding every image named.
pub fn save(api: &Api, names: &[String], output: Option<&Path>) -> Result<u8, Failure> {
    let mut request = ClientRequest::get("/images/get");
    for name in names {
        request = request.query("names", name.as_str());
    }
    let response = api.call(&request)?;
    write_archive(response, output)
}

/// `berth load [-i FILE] [-q]`: the daemon's progress stream ends with `Loaded image: ...`.
pub fn load(api: &Api, input: Option<&Path>, quiet: bool) -> Result<u8, Failure> {
    let mut out = io::stdout();
    // As the docker CLI: layer progress only for a terminal, which can redraw it.
    let terminal = !quiet && out.is_terminal();
    let mut request =
        ClientRequest::post("/images/load").header("Content-Type", "application/x-tar");
    if !terminal {
        request = request.query("quiet", "1");
    }
    let response = send_input(api, &request, input, "load")?;
    images::show_stream(response, &mut out, terminal)?;
    Ok(0)
}

/// `berth import FILE|- [REPOSITORY[:TAG]] [-c INSTRUCTION]... [-m MESSAGE]`: prints the new
/// image's id.
pub fn import(api: &Api, args: &ImportArgs) -> Result<u8, Failure> {
    let mut request = ClientRequest::post("/images/create")
        .query("fromSrc", "-")
        .header("Content-Type", "application/x-tar");
    if let Some(name) = &args.repository {
        let reference = images::parse_reference(name)?;
        request = request
            .query("repo", reference.familiar_repository())
            .query("tag", reference.tag.as_deref().unwrap_or("latest"));
    }
    for change in &args.changes {
        request = request.query("changes", change.as_str());
    }
    if let Some(message) = &args.message {
        request = request.query("message", message.as_str());
    }
    let input = (args.file != "-").then(|| Path::new(&args.file));
    let response = send_input(api, &request, input, "import")?;
    images::show_stream(response, &mut io::stdout(), false)?;
    Ok(0)
}

/// Sends `request` with the file's bytes, or stdin's, as its streamed body.
fn send_input(
    api: &Api,
    request: &ClientRequest,
    input: Option<&Path>,
    verb: &str,
) -> Result<ClientResponse, Failure> {
    let response = match input {
        Some(path) => {
            let mut file = File::open(path)
                .map_err(|e| Failure::new(format!("opening {}: {e}", path.display())))?;
            api.call_streaming(request, &mut |out| io::copy(&mut file, out).map(drop))?
        }
        None => {
            refuse_terminal_stdin(verb)?;
            api.call_streaming(request, &mut |out| {
                io::copy(&mut io::stdin().lock(), out).map(drop)
            })?
        }
    };
    Ok(response)
}

/// A tar typed on a terminal is a mistake: Docker refuses it, and so do we.
fn refuse_terminal_stdin(verb: &str) -> Result<(), Failure> {
    if io::stdin().is_terminal() {
        return Err(Failure::new(format!(
            "requested {verb} from stdin, but stdin is a terminal: give a file or redirect \
             stdin"
        )));
    }
    Ok(())
}

/// Writes an archive to `output` (whole or not at all: a temporary file renamed at the end),
/// or to stdout if it is not a terminal.
fn write_archive(response: ClientResponse, output: Option<&Path>) -> Result<u8, Failure> {
    let Some(path) = output else {
        let mut out = io::stdout().lock();
        if out.is_terminal() {
            return Err(Failure::new(
                "cowardly refusing to write an archive to a terminal: use -o or redirect stdout",
            ));
        }
        copy_body(response, &mut out)?;
        return Ok(0);
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let failed =
        |e: &dyn std::fmt::Display| Failure::new(format!("writing {}: {e}", path.display()));
    let mut file = tempfile::NamedTempFile::new_in(parent).map_err(|e| failed(&e))?;
    copy_body(response, file.as_file_mut())?;
    // A temporary file is made 0600; the archive is an ordinary file, as `docker save -o`
    // makes it (0666 less the umask).
    let mode = 0o666 & !current_umask();
    file.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| failed(&e))?;
    file.persist(path).map_err(|e| failed(&e.error))?;
    Ok(0)
}

/// This process's umask (reading it means setting it: set it back at once).
fn current_umask() -> u32 {
    let mask = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    nix::sys::stat::umask(mask);
    mask.bits()
}

/// Copies a response body to `out` as it arrives.
fn copy_body(response: ClientResponse, out: &mut dyn Write) -> Result<(), Failure> {
    let mut body = response.into_body();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| Failure::new(format!("reading the archive from the daemon: {e}")))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| Failure::new(format!("writing the archive: {e}")))?;
    }
    out.flush()
        .map_err(|e| Failure::new(format!("writing the archive: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_need_a_name_before_the_colon() {
        assert_eq!(
            container_path("web:/etc/hosts"),
            Some(("web", "/etc/hosts"))
        );
        assert_eq!(container_path("./a:b"), None);
        assert_eq!(container_path("/tmp/a:b"), None);
        assert_eq!(container_path("-"), None);
    }

    #[test]
    fn the_directory_bit_is_gos() {
        use base64::Engine;
        let encode = |json: &str| base64::engine::general_purpose::STANDARD.encode(json.as_bytes());
        assert!(path_stat_is_dir(&encode(
            r#"{"name":"etc","mode":2147484141}"#
        )));
        assert!(!path_stat_is_dir(&encode(r#"{"name":"hosts","mode":420}"#)));
        assert!(!path_stat_is_dir("not base64"));
    }
}
