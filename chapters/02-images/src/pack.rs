//! # Packing: a tree of files as a tar, read without following a single link
//!
//! The opposite of [`crate::unpack`]: `docker cp CONTAINER:/etc -` and `docker export` answer
//! with a tar of a directory inside a container. In Docker the daemon walks the container's
//! root filesystem and writes one tar entry per file (`pkg/archive`'s `TarWithOptions`).
//!
//! The walk happens where the container's processes can change the tree under our feet: a
//! directory we are about to enter can be swapped for a symlink to `/` between our `stat` and
//! our `open` (CVE-2018-15664 was exactly that race in `docker cp`). So the walk never opens a
//! path: it starts from a directory *descriptor* that the caller resolved inside the
//! container (chapter 8), and opens each name in the descriptor of its parent with
//! `O_NOFOLLOW`. A name swapped for a symlink fails to open as a directory or file (`ELOOP`)
//! and is skipped; a symlink is stored as a link, its target as text, never followed.
//!
//! Each file's data is read through the descriptor that was opened, and exactly as many bytes
//! as its header says are written: a file that grows or shrinks while it is read is cut or
//! padded with zeros rather than breaking the archive.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, readlinkat};
use nix::sys::stat::Mode;

/// Why a tree could not be packed.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// Looking at or reading an entry failed.
    #[error("{action} {path:?}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The entry, as it is named in the archive.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// Writing the archive failed (the client went away, or the disk is full).
    #[error("writing the archive: {0}")]
    Write(io::Error),
}

/// What the kernel says about one entry (`statx`, with the id of the mount it is on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryStat {
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    /// Size in bytes (of a regular file; the target's length for a symlink).
    pub size: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds and nanoseconds since the epoch.
    pub mtime: (i64, u32),
    /// Device number of a character or block device.
    pub rdev: (u32, u32),
    /// Device and inode, to recognise hard links.
    pub inode: (u64, u64),
    /// Number of hard links.
    pub nlink: u32,
    /// The id of the mount it is on: a directory on another mount is a mount point.
    pub mount_id: u64,
}

impl EntryStat {
    /// The file type bits (`S_IFMT`).
    pub fn kind(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }

    /// Whether it is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.kind() == libc::S_IFLNK
    }
}

/// `statx(dir, name, AT_SYMLINK_NOFOLLOW)`: the entry itself, never what a link points at.
/// An empty `name` is `dir` itself.
pub fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<EntryStat> {
    let name_c = CString::new(name.as_bytes()).map_err(|_| io::Error::from(Errno::EINVAL))?;
    let mut flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_STATX_SYNC_AS_STAT;
    if name.is_empty() {
        flags |= libc::AT_EMPTY_PATH;
    }
    let mask = libc::STATX_BASIC_STATS | libc::STATX_MNT_ID;
    // SAFETY: a zeroed statx is a valid buffer for the kernel to fill.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated name, a buffer of the right type, a live descriptor.
    let rc = unsafe { libc::statx(dir.as_raw_fd(), name_c.as_ptr(), flags, mask, &mut buf) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(EntryStat {
        mode: u32::from(buf.stx_mode),
        size: buf.stx_size,
        uid: buf.stx_uid,
        gid: buf.stx_gid,
        mtime: (buf.stx_mtime.tv_sec, buf.stx_mtime.tv_nsec),
        rdev: (buf.stx_rdev_major, buf.stx_rdev_minor),
        inode: (
            libc::makedev(buf.stx_dev_major, buf.stx_dev_minor),
            buf.stx_ino,
        ),
        nlink: buf.stx_nlink,
        mount_id: buf.stx_mnt_id,
    })
}

/// How a tree is packed.
#[derive(Clone, Copy, Debug, Default)]
pub struct PackOptions {
    /// Stay on the mount the walk starts on (`docker export`: a container's filesystem
    /// without its volumes): a directory that is a mount point is stored, empty.
    pub one_mount: bool,
}

// ANCHOR: pack
/// Writes `name` of the directory `parent` (a file, link or whole directory tree) to `out`
/// as tar entries named `as_name`, `as_name/...`. An empty `name` packs `parent` itself; with
/// an empty `as_name` too, only its contents are written, named from the top
/// (`docker export`'s `bin/`, `bin/sh`...). Nothing is ever followed: see the module docs.
pub fn pack<W: Write>(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    as_name: &str,
    options: PackOptions,
    out: &mut tar::Builder<W>,
) -> Result<(), PackError> {
    let stat = stat_at(parent, name).map_err(|source| PackError::Io {
        action: "looking at",
        path: as_name.to_owned(),
        source,
    })?;
    let mut packer = Packer {
        out,
        options,
        mount_id: stat.mount_id,
        links: HashMap::new(),
    };
    if name.is_empty() && as_name.is_empty() {
        let dir = reopen_dir(parent).map_err(|source| PackError::Io {
            action: "opening",
            path: "/".to_owned(),
            source,
        })?;
        return packer.contents(&dir, "");
    }
    packer.entry(parent, name, as_name, &stat)
}
// ANCHOR_END: pack

/// The state of one packing.
struct Packer<'a, W: Write> {
    out: &'a mut tar::Builder<W>,
    options: PackOptions,
    /// The mount the walk started on.
    mount_id: u64,
    /// Files with several links, by (device, inode): the name of their first entry.
    links: HashMap<(u64, u64), String>,
}

impl<W: Write> Packer<'_, W> {
    /// One entry, and everything below it if it is a directory.
    fn entry(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        path: &str,
        stat: &EntryStat,
    ) -> Result<(), PackError> {
        let io = |action, source| PackError::Io {
            action,
            path: path.to_owned(),
            source,
        };
        let mut header = header_for(stat);
        match stat.kind() {
            libc::S_IFDIR => {
                let dir = open_nofollow(parent, name, OFlag::O_DIRECTORY);
                let dir = match dir {
                    Ok(dir) => dir,
                    // Swapped for a link or removed since we looked: not ours to follow.
                    Err(Errno::ELOOP | Errno::ENOTDIR | Errno::ENOENT) => return Ok(()),
                    Err(e) => return Err(io("opening", e.into())),
                };
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                let dir_name = format!("{path}/");
                self.out
                    .append_data(&mut header, &dir_name, io::empty())
                    .map_err(PackError::Write)?;
                if self.options.one_mount && stat.mount_id != self.mount_id {
                    return Ok(()); // A mount point: another filesystem's files.
                }
                self.contents(&File::from(dir), path)
            }
            libc::S_IFREG => {
                if stat.nlink > 1 {
                    if let Some(first) = self.links.get(&stat.inode) {
                        header.set_entry_type(tar::EntryType::Link);
                        header.set_size(0);
                        let first = first.clone();
                        return self
                            .out
                            .append_link(&mut header, path, &first)
                            .map_err(PackError::Write);
                    }
                    self.links.insert(stat.inode, path.to_owned());
                }
                let file = match open_nofollow(parent, name, OFlag::O_RDONLY) {
                    Ok(file) => File::from(file),
                    Err(Errno::ELOOP | Errno::ENOENT) => return Ok(()),
                    Err(e) => return Err(io("opening", e.into())),
                };
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(stat.size);
                // Exactly `size` bytes, whatever the file does meanwhile.
                let data = file.take(stat.size).chain(io::repeat(0)).take(stat.size);
                self.out
                    .append_data(&mut header, path, data)
                    .map_err(PackError::Write)
            }
            libc::S_IFLNK => {
                let target = match readlinkat(parent, name) {
                    Ok(target) => target,
                    Err(Errno::ENOENT | Errno::EINVAL) => return Ok(()),
                    Err(e) => return Err(io("reading the link", e.into())),
                };
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                self.out
                    .append_link(&mut header, path, &target)
                    .map_err(PackError::Write)
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                let kind = match stat.kind() {
                    libc::S_IFCHR => tar::EntryType::Char,
                    libc::S_IFBLK => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                header.set_entry_type(kind);
                header.set_size(0);
                header
                    .set_device_major(stat.rdev.0)
                    .and_then(|()| header.set_device_minor(stat.rdev.1))
                    .map_err(|e| io("storing the device number of", e))?;
                self.out
                    .append_data(&mut header, path, io::empty())
                    .map_err(PackError::Write)
            }
            // Sockets cannot be archived; Docker skips them too.
            _ => Ok(()),
        }
    }

    /// The entries of the open directory `dir`, sorted by name, each named `path/NAME`.
    fn contents(&mut self, dir: &File, path: &str) -> Result<(), PackError> {
        let io = |source| PackError::Io {
            action: "listing",
            path: path.to_owned(),
            source,
        };
        for name in names_in(dir.as_fd()).map_err(io)? {
            let child = if path.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{path}/{}", name.to_string_lossy())
            };
            let stat = match stat_at(dir.as_fd(), &name) {
                Ok(stat) => stat,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(source) => {
                    return Err(PackError::Io {
                        action: "looking at",
                        path: child,
                        source,
                    });
                }
            };
            self.entry(dir.as_fd(), &name, &child, &stat)?;
        }
        Ok(())
    }
}

/// The names in the open directory `dir`, sorted. Listed through the descriptor's magic link:
/// only names come out of it, and each is then opened in `dir` itself, never by a path.
pub fn names_in(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort();
    Ok(names)
}

/// Opens `name` in `parent` without following a symlink there.
fn open_nofollow(parent: BorrowedFd<'_>, name: &OsStr, flags: OFlag) -> nix::Result<OwnedFd> {
    let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    if name.is_empty() {
        return reopen(parent, flags);
    }
    openat(parent, name, flags, Mode::empty())
}

/// The directory `dir` (perhaps an `O_PATH` descriptor) opened for reading.
fn reopen_dir(dir: BorrowedFd<'_>) -> io::Result<File> {
    Ok(File::from(reopen(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
    )?))
}

/// `dir` opened again with `flags`: `openat(dir, ".")` for a directory.
fn reopen(dir: BorrowedFd<'_>, flags: OFlag) -> nix::Result<OwnedFd> {
    openat(dir, ".", flags & !OFlag::O_NOFOLLOW, Mode::empty())
}

/// A tar header with the entry's owner, mode and time (GNU format: long names and big ids).
fn header_for(stat: &EntryStat) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mode(stat.mode & 0o7777);
    header.set_uid(u64::from(stat.uid));
    header.set_gid(u64::from(stat.gid));
    header.set_mtime(u64::try_from(stat.mtime.0).unwrap_or(0));
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &std::path::Path, name: &str, as_name: &str) -> Vec<(String, char)> {
        let parent = File::open(dir).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        pack(
            parent.as_fd(),
            OsStr::new(name),
            as_name,
            PackOptions::default(),
            &mut builder,
        )
        .unwrap();
        let bytes = builder.into_inner().unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let kind = char::from(e.header().entry_type().as_byte());
                (e.path().unwrap().display().to_string(), kind)
            })
            .collect()
    }

    #[test]
    fn a_tree_is_packed_without_following_links() {
        let dir = berth_tests::test_dir("pack-tree");
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/sub")).unwrap();
        std::fs::write(root.join("etc/passwd"), b"root:x:0:0").unwrap();
        std::fs::hard_link(root.join("etc/passwd"), root.join("etc/sub/again")).unwrap();
        std::os::unix::fs::symlink("/", root.join("etc/up")).unwrap();
        let got = entries(root, "etc", "etc");
        assert_eq!(
            got,
            [
                ("etc/".to_owned(), '5'),
                ("etc/passwd".to_owned(), '0'),
                ("etc/sub/".to_owned(), '5'),
                ("etc/sub/again".to_owned(), '1'),
                ("etc/up".to_owned(), '2'),
            ]
        );
        assert_eq!(entries(root, "", ""), {
            let mut all = vec![("etc/".to_owned(), '5')];
            all.extend(got[1..].iter().cloned());
            all
        });
        assert_eq!(
            entries(&root.join("etc"), "passwd", "copy"),
            [("copy".to_owned(), '0')]
        );
    }
}
