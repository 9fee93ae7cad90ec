//! # Metadata: owners, modes, times and extended attributes
//!
//! An image must give every container the same files, down to who owns them: `/etc/shadow`
//! readable only by root, `ping` with its `security.capability`, `/tmp` sticky. Docker's
//! `createTarFile` restores, in this order: owner (`lchown`), mode (`chmod`, not for symlinks,
//! whose mode Linux ignores), extended attributes, and times (`lutimes`). The order matters:
//! `chown` clears the set-user-id and set-group-id bits and drops `security.capability`, so
//! mode and attributes must come after it; and times come last, because every other change
//! can touch them. A directory's times are set at the very end of the layer, since creating
//! anything inside it moves its mtime (`DirTimes`).
//!
//! Where the values come from: the ustar header holds uid, gid, mode and a whole-second
//! mtime. A PAX extended header before the entry can override them with larger ids (the
//! `tar` crate applies those), sub-second `mtime` and `atime` (parsed here), and carries
//! extended attributes as `SCHILY.xattr.NAME` records, the convention of star and GNU tar
//! that Go's `archive/tar`, and so Docker, uses.

use std::borrow::Cow;
use std::ffi::{CString, OsStr};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, UtimensatFlags, fchmod, fchmodat, futimens, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat};

use super::beneath::{Root, proc_path, show};
use super::{Failure, Refusal, UnpackError};

/// The owner, mode, times and extended attributes an entry asks for.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Permission bits with set-user-id, set-group-id and sticky (`0o7777`).
    pub(crate) mode: u32,
    pub(crate) atime: TimeSpec,
    pub(crate) mtime: TimeSpec,
    pub(crate) xattrs: Vec<(CString, Vec<u8>)>,
}

/// The PAX record prefix for an extended attribute.
const PAX_XATTR: &str = "SCHILY.xattr.";

/// Extended attributes that belong to overlayfs itself. A layer that brought its own could
/// hide, redirect or fake files in the merged view (`trusted.overlay.redirect` points a
/// directory at another path of the lower layers); overlay markers come only from whiteout
/// entries, which Berth translates itself.
const OVERLAY_XATTR_PREFIXES: [&str; 2] = ["trusted.overlay.", "user.overlay."];

impl Metadata {
    /// Reads the metadata of `entry` from its header and PAX records.
    pub(crate) fn read<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Metadata, Failure> {
        let header = entry.header();
        let bad_header = |e| Failure::io("reading its header", e);
        let uid = id(header.uid().map_err(bad_header)?, "uid")?;
        let gid = id(header.gid().map_err(bad_header)?, "gid")?;
        let mode = header.mode().map_err(bad_header)? & 0o7777;
        let seconds = header.mtime().map_err(bad_header)?;
        let seconds = i64::try_from(seconds).map_err(|_| invalid(format!("mtime {seconds}")))?;
        let mut mtime = TimeSpec::new(seconds, 0);
        let mut atime = None;
        let mut xattrs = Vec::new();

        let bad_pax = |e| Failure::io("reading its PAX extended header", e);
        if let Some(records) = entry.pax_extensions().map_err(bad_pax)? {
            for record in records {
                let record = record.map_err(bad_pax)?;
                let Ok(key) = record.key() else {
                    return Err(bad_pax(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a PAX key is not UTF-8",
                    )));
                };
                match key {
                    "mtime" => mtime = pax_time(record.value_bytes(), "mtime")?,
                    "atime" => atime = Some(pax_time(record.value_bytes(), "atime")?),
                    _ => {
                        let Some(name) = key.strip_prefix(PAX_XATTR) else {
                            continue;
                        };
                        if OVERLAY_XATTR_PREFIXES.iter().any(|p| name.starts_with(p)) {
                            return Err(Failure::Refused(Refusal::OverlayXattr {
                                name: name.to_owned(),
                            }));
                        }
                        let cname = CString::new(name).map_err(|_| {
                            invalid(format!("extended attribute name {name:?} has a NUL byte"))
                        })?;
                        xattrs.push((cname, record.value_bytes().to_vec()));
                    }
                }
            }
        }
        Ok(Metadata {
            uid,
            gid,
            mode,
            // Without a PAX atime, the best guess is the mtime (what Docker does too).
            atime: atime.unwrap_or(mtime),
            mtime,
            xattrs,
        })
    }

    /// Owner, then mode, then extended attributes, on an open regular file or directory.
    /// Times are separate: a file's are set after this, a directory's at the end.
    pub(crate) fn apply_to_fd(&self, fd: BorrowedFd<'_>) -> Result<(), Failure> {
        fchown(
            fd,
            Some(Uid::from_raw(self.uid)),
            Some(Gid::from_raw(self.gid)),
        )
        .map_err(|e| Failure::io("setting its owner", e))?;
        fchmod(fd, Mode::from_bits_truncate(self.mode))
            .map_err(|e| Failure::io("setting its mode", e))?;
        for (name, value) in &self.xattrs {
            // SAFETY: `name` is NUL-terminated and `value` is a live slice of the given
            // length; the call only reads them.
            let rc = unsafe {
                libc::fsetxattr(
                    fd.as_raw_fd(),
                    name.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            };
            if rc != 0 {
                return Err(xattr_failure(name));
            }
        }
        Ok(())
    }

    /// Sets the times of an open regular file.
    pub(crate) fn set_times_fd(&self, fd: BorrowedFd<'_>) -> Result<(), Failure> {
        futimens(fd, &self.atime, &self.mtime).map_err(|e| Failure::io("setting its times", e))
    }

    /// Owner, mode, extended attributes and times of `name` in `parent`, without following
    /// it if it is a symlink: for symlinks, device nodes, fifos, which cannot be opened for
    /// writing like a file.
    pub(crate) fn apply_at(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        is_symlink: bool,
    ) -> Result<(), Failure> {
        let name_os = OsStr::from_bytes(name);
        fchownat(
            parent,
            name_os,
            Some(Uid::from_raw(self.uid)),
            Some(Gid::from_raw(self.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Failure::io("setting its owner", e))?;
        if !is_symlink {
            // `fchmodat` follows a final symlink (the no-follow flag needs Linux 6.6's
            // fchmodat2), but `name` is a node this unpacker just made with `mknodat`, not a
            // symlink, and nothing else writes into a layer being unpacked.
            fchmodat(
                parent,
                name_os,
                Mode::from_bits_truncate(self.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| Failure::io("setting its mode", e))?;
        }
        if !self.xattrs.is_empty() {
            let path = CString::new(proc_path(parent, name).into_os_string().into_vec())
                .map_err(|_| invalid("a name with a NUL byte".to_owned()))?;
            for (xname, value) in &self.xattrs {
                // SAFETY: as in `apply_to_fd`; `path` is NUL-terminated.
                let rc = unsafe {
                    libc::lsetxattr(
                        path.as_ptr(),
                        xname.as_ptr(),
                        value.as_ptr().cast(),
                        value.len(),
                        0,
                    )
                };
                if rc != 0 {
                    return Err(xattr_failure(xname));
                }
            }
        }
        utimensat(
            parent,
            name_os,
            &self.atime,
            &self.mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| Failure::io("setting its times", e))
    }
}

/// A uid or gid from the header, which must fit Linux's 32 bits.
fn id(value: u64, what: &str) -> Result<u32, Failure> {
    u32::try_from(value).map_err(|_| invalid(format!("{what} {value} is out of range")))
}

fn invalid(message: String) -> Failure {
    Failure::io(
        "reading its header",
        io::Error::new(io::ErrorKind::InvalidData, message),
    )
}

fn xattr_failure(name: &CString) -> Failure {
    Failure::io(
        format!("setting extended attribute {}", name.to_string_lossy()),
        io::Error::last_os_error(),
    )
}

/// A PAX time: decimal seconds since the epoch, maybe negative, maybe with a fraction
/// (`1700000000.123456789`).
fn pax_time(value: &[u8], key: &str) -> Result<TimeSpec, Failure> {
    let bad = || invalid(format!("PAX {key} {:?}", String::from_utf8_lossy(value)));
    let text = std::str::from_utf8(value).map_err(|_| bad())?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let seconds: i64 = whole.parse().map_err(|_| bad())?;
    // Nanoseconds: the first nine digits of the fraction, padded with zeros.
    let mut nanos: i64 = 0;
    for i in 0..9 {
        let digit = fraction
            .as_bytes()
            .get(i)
            .map_or(0, |b| i64::from(b - b'0'));
        nanos = nanos * 10 + digit;
    }
    Ok(if !negative {
        TimeSpec::new(seconds, nanos)
    } else if nanos == 0 {
        TimeSpec::new(-seconds, 0)
    } else {
        // -1.25 s is 2 s before the epoch plus 0.75 s.
        TimeSpec::new(-seconds - 1, 1_000_000_000 - nanos)
    })
}

/// Directory times, set once the whole layer is in place.
#[derive(Default)]
pub(crate) struct DirTimes {
    pending: Vec<(Vec<u8>, TimeSpec, TimeSpec)>,
}

impl DirTimes {
    /// Remembers the times of the directory at `path` (cleaned, relative; empty for the root).
    pub(crate) fn defer(&mut self, path: &[u8], metadata: &Metadata) {
        self.pending
            .push((path.to_vec(), metadata.atime, metadata.mtime));
    }

    /// Sets every remembered directory's times, in archive order (a directory listed twice
    /// gets its last times).
    ///
    /// Each path is resolved beneath the root again, like any entry. A directory that is no
    /// longer at its path (a later entry replaced the symlink it was reached through) is
    /// skipped: its files are all in place, only its times are left as unpacked.
    pub(crate) fn apply(self, root: &Root) -> Result<(), UnpackError> {
        for (path, atime, mtime) in self.pending {
            let entry = || String::from_utf8_lossy(&path).into_owned();
            let fd = if path.is_empty() {
                None
            } else {
                match root.open_dir(&path) {
                    Ok(dir) => Some(dir),
                    Err(Failure::Io { source, .. })
                        if matches!(
                            Errno::from_raw(source.raw_os_error().unwrap_or(0)),
                            Errno::ENOENT | Errno::ENOTDIR
                        ) =>
                    {
                        continue;
                    }
                    Err(failure) => return Err(failure.for_entry(entry())),
                }
            };
            let result = match &fd {
                Some(dir) => futimens(dir.as_fd(), &atime, &mtime),
                None => futimens(root.fd(), &atime, &mtime),
            };
            result.map_err(|e| Failure::io("setting its times", e).for_entry(entry()))?;
        }
        Ok(())
    }
}

/// Opens the directory `name` in `parent` without following a symlink there.
pub(crate) fn open_dir_nofollow(
    parent: BorrowedFd<'_>,
    name: &[u8],
) -> Result<std::os::fd::OwnedFd, Failure> {
    openat(
        parent,
        OsStr::from_bytes(name),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Failure::io(Cow::Owned(format!("opening directory {}", show(name))), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> (i64, i64) {
        let Ok(time) = pax_time(value.as_bytes(), "mtime") else {
            panic!("{value} did not parse");
        };
        (time.tv_sec(), time.tv_nsec())
    }

    #[test]
    fn pax_times() {
        assert_eq!(parsed("1700000000"), (1_700_000_000, 0));
        assert_eq!(parsed("1700000000.5"), (1_700_000_000, 500_000_000));
        assert_eq!(parsed("1.123456789123"), (1, 123_456_789));
        assert_eq!(parsed("-1.25"), (-2, 750_000_000));
        assert_eq!(parsed("-3"), (-3, 0));
        for bad in ["", "x", "1.x", "--1", "1e9", ".5"] {
            assert!(pax_time(bad.as_bytes(), "mtime").is_err(), "{bad}");
        }
    }
}
