//! `docker cp` and `docker export`: a container's files as tar, in and out.
//!
//! | request | answer |
//! |---|---|
//! | `HEAD /containers/{id}/archive?path=` | 200 and `X-Docker-Container-Path-Stat` (base64 JSON: `name`, `size`, `mode` as Go's `FileMode`, `mtime`, `linkTarget`) |
//! | `GET /containers/{id}/archive?path=` | the same header and a tar of the path, named by its last component |
//! | `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=` | the tar body unpacked into the directory `path` |
//! | `GET /containers/{id}/export` | the container's root filesystem as a tar, without its volumes |
//! | `GET /containers/{id}/changes` | `docker diff`: `[{Path, Kind}]`, read from its upper directory by chapter 2 ([`berth_images::changes`]) |
//!
//! The CLI does the rest: `docker cp ctr:/etc/hostname ./x` asks `HEAD` (is it a directory?)
//! then `GET`, and renames the entry itself; `docker cp ./x ctr:/tmp/` asks `HEAD` for the
//! destination and sends a tar whose entries are named as they must land. Every path is
//! resolved inside the container's root by chapter 8 ([`berth_volumes::outside`]), running
//! or stopped, and walked or written through descriptors by chapter 2
//! ([`berth_images::pack`], [`berth_images::unpack::unpack_into`]).

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use base64::Engine as _;
use berth_daemon::http::{HttpError, Request, Response, Router};
use berth_images::pack::{EntryStat, PackOptions, pack};
use berth_images::unpack::{UnpackError, unpack_into};
use berth_volumes::outside::{self, OutsideError, Reach};
use serde_json::json;

use super::{Daemon, Route, errors, param, with_daemon};

/// The Content-Type of a tar.
const TAR: &str = "application/x-tar";

/// The header that carries a path's stat.
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// Adds this module's routes.
pub fn routes(router: Router, daemon: &Arc<Daemon>) -> Router {
    let d = |f: Route| with_daemon(daemon, f);
    router
        .head("/containers/{id}/archive", d(stat_path))
        .get("/containers/{id}/archive", d(get_archive))
        .put("/containers/{id}/archive", d(put_archive))
        .get("/containers/{id}/export", d(export))
        .get("/containers/{id}/changes", d(changes))
}

/// The container named in the route, and how to reach its root now.
fn reach(daemon: &Daemon, req: &Request) -> Result<(String, Reach), HttpError> {
    let view = daemon
        .engine
        .container(&param(req, "id"))
        .map_err(errors::engine_error)?;
    let reach =
        Reach::of(daemon.engine.store(), &daemon.data_root, &view.record).map_err(outside_error)?;
    Ok((param(req, "id"), reach))
}

/// The `path` query parameter, which Docker requires.
fn path_param(req: &Request) -> Result<String, HttpError> {
    match req.query().get("path") {
        Some(path) if !path.is_empty() => Ok(path.to_owned()),
        _ => Err(HttpError::bad_request("path parameter is required")),
    }
}

/// Chapter 8's errors as Docker's statuses.
fn outside_error(error: OutsideError) -> HttpError {
    let message = error.to_string();
    match error {
        OutsideError::NotFound { .. } => HttpError::not_found(message),
        OutsideError::NotDirectory { .. } => HttpError::bad_request(message),
        _ => HttpError::internal(message),
    }
}

// ANCHOR: path_stat
/// Docker's `PathStat` of what `path` found, as the header's base64 JSON. `mode` is Go's
/// `os.FileMode`: permission bits plus one high bit per file type, which the CLI tests with
/// `IsDir()`; not the kernel's `st_mode`.
fn path_stat(base: &str, stat: &EntryStat, link_target: Option<&str>) -> String {
    const GO_DIR: u32 = 1 << 31;
    const GO_SYMLINK: u32 = 1 << 27;
    const GO_DEVICE: u32 = 1 << 26;
    const GO_PIPE: u32 = 1 << 25;
    const GO_SOCKET: u32 = 1 << 24;
    const GO_SETUID: u32 = 1 << 23;
    const GO_SETGID: u32 = 1 << 22;
    const GO_CHAR: u32 = 1 << 21;
    const GO_STICKY: u32 = 1 << 20;
    let mut mode = stat.mode & 0o777;
    mode |= match stat.kind() {
        libc::S_IFDIR => GO_DIR,
        libc::S_IFLNK => GO_SYMLINK,
        libc::S_IFBLK => GO_DEVICE,
        libc::S_IFCHR => GO_DEVICE | GO_CHAR,
        libc::S_IFIFO => GO_PIPE,
        libc::S_IFSOCK => GO_SOCKET,
        _ => 0,
    };
    for (bit, go) in [
        (libc::S_ISUID, GO_SETUID),
        (libc::S_ISGID, GO_SETGID),
        (libc::S_ISVTX, GO_STICKY),
    ] {
        if stat.mode & bit != 0 {
            mode |= go;
        }
    }
    let (seconds, nanos) = stat.mtime;
    let value = json!({
        "name": base,
        "size": stat.size,
        "mode": mode,
        "mtime": berth_images::text::format_rfc3339(u64::try_from(seconds).unwrap_or(0), nanos),
        "linkTarget": link_target.unwrap_or_default(),
    });
    base64::engine::general_purpose::STANDARD.encode(value.to_string())
}
// ANCHOR_END: path_stat

/// What a look at `path` found: the stat header's value.
fn find_stat(daemon: &Daemon, req: &Request) -> Result<String, HttpError> {
    let path = path_param(req)?;
    let (name, reach) = reach(daemon, req)?;
    let shown = name.clone();
    outside::with_root(reach, &shown, move |root| {
        let found = outside::find(root, &path, &name)?;
        Ok(path_stat(
            &found.base,
            &found.stat,
            found.link_target.as_deref(),
        ))
    })
    .and_then(|found| found)
    .map_err(outside_error)
}

/// `HEAD /containers/{id}/archive?path=`: the stat header only.
fn stat_path(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let stat = find_stat(daemon, req)?;
    Ok(Response::new(200).header(PATH_STAT_HEADER, stat))
}

/// `GET /containers/{id}/archive?path=`: the stat header, and the tar.
fn get_archive(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let stat = find_stat(daemon, req)?;
    let path = path_param(req)?;
    let (name, reach) = reach(daemon, req)?;
    let shown = name.clone();
    let tar = stream_tar(reach, name, move |root| {
        Ok((outside::find(root, &path, &shown)?, PackOptions::default()))
    });
    Ok(tar.header(PATH_STAT_HEADER, stat))
}

/// `GET /containers/{id}/export`: the root filesystem, without the volumes mounted on it.
fn export(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let (name, reach) = reach(daemon, req)?;
    let shown = name.clone();
    Ok(stream_tar(reach, name, move |root| {
        let found = outside::find(root, "/", &shown)?;
        Ok((found, PackOptions { one_mount: true }))
    }))
}

/// What a stream packs: the path found, and how.
type Packing = (outside::Found, PackOptions);

/// A 200 whose body is the tar of what `locate` finds in the container's root, packed on the
/// root's own thread and handed over in pieces through a channel (the connection's writer
/// cannot leave its thread). A failure after the head is sent breaks the stream, which is how
/// the client learns of it.
fn stream_tar<F>(reach: Reach, name: String, locate: F) -> Response
where
    F: FnOnce(std::os::fd::BorrowedFd<'_>) -> Result<Packing, OutsideError> + Send + 'static,
{
    Response::stream(200, TAR, move |out| {
        let (sender, receiver) = sync_channel::<Vec<u8>>(4);
        let producer = std::thread::spawn(move || {
            outside::with_root(reach, &name, move |root| -> Result<(), String> {
                let (found, options) = locate(root).map_err(|e| e.to_string())?;
                let mut builder = tar::Builder::new(ChannelWriter(sender));
                let (as_name, name): (&str, OsString) = if found.base == "/" {
                    ("", OsString::new())
                } else {
                    (&found.base, found.name.clone())
                };
                pack(found.parent.as_fd(), &name, as_name, options, &mut builder)
                    .map_err(|e| e.to_string())?;
                builder.into_inner().map(drop).map_err(|e| e.to_string())
            })
            .map_err(|e| e.to_string())
            .and_then(|packed| packed)
        });
        let copied = copy_from(&receiver, out);
        drop(receiver);
        let packed = producer
            .join()
            .map_err(|_| std::io::Error::other("the packing thread panicked"))?;
        copied?;
        packed.map_err(std::io::Error::other)
    })
}

/// Writes every piece `receiver` gets to `out`, until the sender is gone.
fn copy_from(receiver: &Receiver<Vec<u8>>, out: &mut impl Write) -> std::io::Result<()> {
    while let Ok(piece) = receiver.recv() {
        out.write_all(&piece)?;
    }
    out.flush()
}

/// A writer whose bytes go, in pieces, to another thread.
struct ChannelWriter(SyncSender<Vec<u8>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ANCHOR: put_archive
/// `PUT /containers/{id}/archive?path=&copyUIDGID=&noOverwriteDirNonDir=`: the body, a tar
/// (compressed or not), unpacked into the directory `path` of the container. Without
/// `copyUIDGID` (`docker cp -a`) everything becomes root's, as in Docker; with
/// `noOverwriteDirNonDir` a directory of the tar never replaces a file (a file never replaces
/// a directory in any case).
fn put_archive(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let path = path_param(req)?;
    let keep_owners = req.query().bool_or("copyUIDGID", false)?;
    let keep_non_dirs = req.query().bool_or("noOverwriteDirNonDir", false)?;
    let body = super::archives::upload(req)?;
    let (name, reach) = reach(daemon, req)?;
    let shown = name.clone();
    let unpacked = outside::with_root(reach, &shown, move |root| {
        let dir = outside::open_dir(root, &path, &name).map_err(outside_error)?;
        let owner = (!keep_owners).then_some((0, 0));
        unpack_into(body, dir, owner, keep_non_dirs, std::path::Path::new(&path)).map_err(|e| {
            let message = format!("copying into {path} in container {name}: {e}");
            let bad_input = e.is_read_failure()
                || e.refusal().is_some()
                || matches!(
                    e,
                    UnpackError::UnsupportedCompression { .. }
                        | UnpackError::UnsupportedEntry { .. }
                );
            if bad_input {
                HttpError::bad_request(message)
            } else {
                HttpError::internal(message)
            }
        })
    })
    .map_err(outside_error)?;
    unpacked?;
    Ok(Response::new(200))
}
// ANCHOR_END: put_archive

/// The files the engine binds over at every start (chapter 7's `/etc/hosts`, `/etc/hostname`,
/// `/etc/resolv.conf`). Docker makes their mount points in the container's *init* layer,
/// which `docker diff` never shows; ours are made in the upper directory, so they are left out
/// of the list, and so is their directory when nothing else in it changed. What a container
/// writes to them goes to the bound file, not to its layer, in both engines.
const ENGINE_MOUNT_POINTS: &[&str] = &["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];

/// `changes` without the engine's added mount points (see [`ENGINE_MOUNT_POINTS`]).
fn without_engine_mount_points(
    changes: Vec<berth_images::changes::Change>,
) -> Vec<berth_images::changes::Change> {
    use berth_images::changes::ChangeKind;
    let is_mount_point = |c: &berth_images::changes::Change| {
        c.kind == ChangeKind::Added && ENGINE_MOUNT_POINTS.contains(&c.path.as_str())
    };
    if !changes.iter().any(is_mount_point) {
        return changes;
    }
    let kept: Vec<_> = changes.into_iter().filter(|c| !is_mount_point(c)).collect();
    // `/etc` itself changed only because a mount point was made in it, unless more did.
    let etc_touched = kept.iter().any(|c| c.path.starts_with("/etc/"));
    kept.into_iter()
        .filter(|c| c.path != "/etc" || c.kind == ChangeKind::Deleted || etc_touched)
        .collect()
}

/// `GET /containers/{id}/changes`: `docker diff`, Kind 0 changed, 1 added, 2 deleted.
fn changes(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let view = daemon
        .engine
        .container(&param(req, "id"))
        .map_err(errors::engine_error)?;
    let store = daemon.engine.store();
    let image = store
        .image(&view.record.image)
        .map_err(errors::store_error)?
        .ok_or_else(|| {
            HttpError::internal(format!(
                "the image {} of container {} is gone",
                view.record.image, view.record.name
            ))
        })?;
    let lowers: Vec<_> = image
        .layers
        .iter()
        .rev()
        .map(|layer| store.layer_path(&layer.diff_id))
        .collect();
    let upper = view.record.dir(store).join("upper");
    let changes = berth_images::changes::changes(&upper, &lowers)
        .map_err(|e| HttpError::internal(e.to_string()))?;
    let list: Vec<_> = without_engine_mount_points(changes)
        .iter()
        .map(|c| json!({"Path": c.path, "Kind": c.kind as u8}))
        .collect();
    Ok(Response::json(200, &list))
}
