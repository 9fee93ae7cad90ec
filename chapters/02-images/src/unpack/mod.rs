//! # Unpacking a layer
//!
//! An image layer is a tar of the files that the layer adds, changes or deletes. Docker's
//! daemon unpacks each layer once, into a directory of its own (overlay2's
//! `/var/lib/docker/overlay2/<id>/diff`), and mounts a container's root as an overlay of those
//! directories. Unpacking is where an image meets the host's filesystem, so it is the security
//! boundary of the whole image machinery: a layer comes from a registry, which is to say from
//! anyone, and the daemon unpacks it as root.
//!
//! [`unpack_layer`] reads the layer blob exactly once, as a stream:
//!
//! ```text
//! blob ──▶ decompress ──▶ sha256 (the diff_id) ──▶ tar entries ──▶ files under dest
//!          (compression.rs)  (crate::digest)        (stream.rs)     (name.rs, beneath.rs,
//!                                                                    entry.rs, metadata.rs,
//!                                                                    whiteout.rs)
//! ```
//!
//! so a layer of any size needs no temporary copy, and the `diff_id` it returns can be checked
//! against the image config's `rootfs.diff_ids` as soon as the last byte is through. If the
//! caller also wants the blob's own (compressed) digest, it wraps the reader it passes in a
//! [`HashingReader`](crate::digest::HashingReader).
//!
//! The guarantees, whatever the archive contains:
//!
//! - nothing is created, changed or removed outside `dest`: names are cleaned (`name.rs`), and
//!   every path is resolved by the kernel with `RESOLVE_BENEATH` (`beneath.rs`);
//! - an entry that tries is refused with [`UnpackError::Refused`], naming the entry as it
//!   appears in the archive and the [`Refusal`];
//! - any other bad input (corrupt compression, a bad header, a truncated entry) is an error,
//!   never a panic.
//!
//! What it does not do: make the result atomic. On error, `dest` holds whatever was unpacked
//! so far; the caller unpacks into a fresh temporary directory and renames it into place only
//! on success (that is the store's job, as it is Docker's layer store's).
//!
//! Read the files in the order of the picture: `compression`, `stream`, `name`, `beneath`,
//! `entry`, `metadata`, `whiteout`.

mod beneath;
pub(crate) mod compression;
mod entry;
mod metadata;
mod name;
mod stream;
mod whiteout;

pub use compression::Compression;
pub use whiteout::{OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX};

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::sys::stat::SFlag;
use tar::EntryType;
use thiserror::Error;

use crate::digest::{Digest, HashingReader};
use beneath::Root;
use compression::DetectError;
use metadata::{DirTimes, Metadata};
use name::EntryPath;
use stream::{Position, Tracked};

/// What [`unpack_layer`] found out about the layer it unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// The sha256 of the uncompressed tar, all of it (trailing zero blocks included): the
    /// value the image config lists in `rootfs.diff_ids`.
    pub diff_id: Digest,
    /// Length of the uncompressed tar, in bytes.
    pub size: u64,
    /// How the blob was compressed, recognised by its magic bytes.
    pub compression: Compression,
    /// How many entries the tar had (PAX and GNU long-name headers are part of their entry).
    pub entries: u64,
}

/// Why an entry was refused: what it would have done if unpacked naively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The name is empty.
    EmptyName,
    /// The name contains a NUL byte (possible in PAX and GNU long names), at which the kernel
    /// would cut it.
    NulByte,
    /// The name has a `..` component.
    DotDot,
    /// The kernel found that resolving the entry's directory leaves the layer: a symlink on
    /// the way is absolute or climbs above the root.
    Escapes,
    /// The entry would replace a directory with something that is not a directory.
    ReplacesDirectory,
    /// The entry is a directory where a file, link or node is (refused by `docker cp`, whose
    /// client asks for `noOverwriteDirNonDir`; a layer may do it).
    ReplacesNonDirectory,
    /// The entry names the layer's root but is not a directory.
    ReplacesRoot,
    /// A whiteout (`.wh.NAME`) whose NAME is empty, `.` or `..`.
    BadWhiteout,
    /// AUFS bookkeeping (`.wh..wh.` other than the opaque marker), which Berth does not
    /// interpret.
    AufsMetadata,
    /// A PAX record sets one of overlayfs's own extended attributes.
    OverlayXattr {
        /// The attribute's name.
        name: String,
    },
    /// A link's target is refused (for a hard link: it does not lead to a file of this
    /// layer).
    LinkTarget {
        /// The target as the archive gives it.
        target: String,
        /// Why.
        reason: Box<Refusal>,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::EmptyName => f.write_str("the name is empty"),
            Refusal::NulByte => f.write_str("the name contains a NUL byte"),
            Refusal::DotDot => f.write_str("the name has a `..` component"),
            Refusal::Escapes => f.write_str(
                "its path leaves the layer through a symlink (absolute, or climbing above the root)",
            ),
            Refusal::ReplacesDirectory => {
                f.write_str("it would replace a directory with a non-directory")
            }
            Refusal::ReplacesNonDirectory => {
                f.write_str("it would replace a non-directory with a directory")
            }
            Refusal::ReplacesRoot => {
                f.write_str("it names the layer's root but is not a directory")
            }
            Refusal::BadWhiteout => {
                f.write_str("a whiteout must name one file in its directory, not ``, `.` or `..`")
            }
            Refusal::AufsMetadata => {
                f.write_str("AUFS metadata (`.wh..wh.*` other than `.wh..wh..opq`) is not supported")
            }
            Refusal::OverlayXattr { name } => write!(
                f,
                "extended attribute {name} belongs to overlayfs: layers mark deletions with \
                 `.wh.` entries only"
            ),
            Refusal::LinkTarget { target, reason } => {
                write!(f, "link target {target:?}: {reason}")
            }
        }
    }
}

/// Why a layer could not be unpacked.
#[derive(Debug, Error)]
pub enum UnpackError {
    /// The destination directory cannot be opened (or listed).
    #[error("opening the layer destination {}: {source}", path.display())]
    OpenDestination {
        /// The destination given.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The destination has files in it already.
    #[error("the layer destination {} is not empty: unpack a layer into a new directory", path.display())]
    DestinationNotEmpty {
        /// The destination given.
        path: PathBuf,
    },
    /// The kernel has no `openat2(2)`.
    #[error("openat2(2) is not available: unpacking a layer safely needs Linux 5.6 or later")]
    Openat2Unsupported,
    /// The blob is compressed in a format this chapter does not decode.
    #[error("the layer is {compression}-compressed: only gzip, zstd and plain tar are supported")]
    UnsupportedCompression {
        /// The format recognised.
        compression: &'static str,
    },
    /// The stream could not be read or decoded as a tar (corrupt compression, a bad or
    /// truncated header).
    #[error("reading the layer{}: {source}", after.as_ref().map(|e| format!(" after entry {e:?}")).unwrap_or_default())]
    Read {
        /// The last entry read in full, if any.
        after: Option<String>,
        /// The cause.
        source: io::Error,
    },
    /// An entry was refused because it would reach outside the layer or break its structure.
    #[error("tar entry {entry:?} refused: {reason}")]
    Refused {
        /// The entry's name as the archive gives it.
        entry: String,
        /// Why.
        reason: Refusal,
    },
    /// An entry's data stops before the size its header gives.
    #[error("tar entry {entry:?} is truncated: the layer ends after {got} of its {expected} bytes")]
    Truncated {
        /// The entry's name as the archive gives it.
        entry: String,
        /// The size the header announced.
        expected: u64,
        /// The bytes present.
        got: u64,
    },
    /// An entry of a type a layer should not contain (a GNU volume label, a multi-volume
    /// continuation…).
    #[error("tar entry {entry:?} has unsupported type {kind}")]
    UnsupportedEntry {
        /// The entry's name as the archive gives it.
        entry: String,
        /// The type, named and as its header byte.
        kind: String,
    },
    /// Creating the entry, or setting its metadata, failed.
    #[error("tar entry {entry:?}: {action}: {source}")]
    Entry {
        /// The entry's name as the archive gives it.
        entry: String,
        /// What was being done.
        action: Cow<'static, str>,
        /// The cause.
        source: io::Error,
    },
}

/// What went wrong with one entry, before its name is attached (see
/// [`Failure::for_entry`]).
#[derive(Debug)]
pub(crate) enum Failure {
    Refused(Refusal),
    Io {
        action: Cow<'static, str>,
        source: io::Error,
    },
    Truncated {
        expected: u64,
        got: u64,
    },
    Unsupported(String),
}

impl Failure {
    /// An I/O failure while doing `action`.
    pub(crate) fn io(
        action: impl Into<Cow<'static, str>>,
        source: impl Into<io::Error>,
    ) -> Failure {
        Failure::Io {
            action: action.into(),
            source: source.into(),
        }
    }

    /// The public error, naming `entry`.
    pub(crate) fn for_entry(self, entry: String) -> UnpackError {
        match self {
            Failure::Refused(reason) => UnpackError::Refused { entry, reason },
            Failure::Io { action, source } => UnpackError::Entry {
                entry,
                action,
                source,
            },
            Failure::Truncated { expected, got } => UnpackError::Truncated {
                entry,
                expected,
                got,
            },
            Failure::Unsupported(kind) => UnpackError::UnsupportedEntry { entry, kind },
        }
    }
}

impl UnpackError {
    /// The entry this error is about, as the archive names it, if it is about one.
    pub fn entry(&self) -> Option<&str> {
        match self {
            UnpackError::Refused { entry, .. }
            | UnpackError::Truncated { entry, .. }
            | UnpackError::UnsupportedEntry { entry, .. }
            | UnpackError::Entry { entry, .. } => Some(entry),
            _ => None,
        }
    }

    /// Why the entry was refused, if it was.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            UnpackError::Refused { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Whether reading the layer failed (the stream broke or ended early), as opposed to what
    /// the layer holds being wrong: a download that fails so may work next time.
    pub fn is_read_failure(&self) -> bool {
        match self {
            UnpackError::Read { .. } | UnpackError::Truncated { .. } => true,
            UnpackError::Entry { action, .. } => action.starts_with("reading"),
            _ => false,
        }
    }
}

/// Recognises the compression of `layer` by its first bytes, and decodes it.
fn detect<R: Read>(layer: R) -> Result<(Compression, compression::Decoder<R>), UnpackError> {
    compression::detect(layer).map_err(|e| match e {
        DetectError::Read(source) => UnpackError::Read {
            after: None,
            source,
        },
        DetectError::Unsupported(compression) => {
            UnpackError::UnsupportedCompression { compression }
        }
    })
}

/// Computes a layer's `diff_id` without unpacking it: decompress and hash to the end. For a
/// layer the store has unpacked already, arriving again in another form (compressed in an OCI
/// layout, plain in a `docker save` archive).
pub fn diff_id_of<R: Read>(layer: R) -> Result<Digest, UnpackError> {
    let (_, decoder) = detect(layer)?;
    let mut hashed = HashingReader::new(decoder);
    std::io::copy(&mut hashed, &mut std::io::sink()).map_err(|source| UnpackError::Read {
        after: None,
        source,
    })?;
    Ok(hashed.digest())
}

/// Unpacks one layer blob (gzip, zstd or plain tar, recognised by its first bytes) into
/// `dest`, which must be an existing, empty directory, and returns the layer's `diff_id`.
///
/// One pass over `layer`: it is decompressed, hashed and unpacked as it is read, and read to
/// its end (so the `diff_id` covers trailing zero blocks too). Whiteouts become overlayfs
/// whiteouts, so `dest` can be an overlay `lowerdir` as is. Owners, modes, times, extended
/// attributes, hard links, device nodes and fifos are kept; the caller must be root (in the
/// initial user namespace, or owning one whose ids cover the layer's).
///
/// Nothing outside `dest` is ever written, whatever the archive says; see the module docs
/// for what is refused. On error, `dest` is left partly filled: unpack into a temporary
/// directory and rename it on success.
///
/// ```no_run
/// use std::fs::File;
/// use berth_images::digest::{Digest, HashingReader};
/// use berth_images::unpack::unpack_layer;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let blob_digest: Digest = "sha256:…".parse()?; // from the manifest
/// let diff_id: Digest = "sha256:…".parse()?;     // from the config's rootfs.diff_ids
/// let mut blob = HashingReader::new(File::open("layer.tar.gz")?);
/// std::fs::create_dir("layer.tmp")?;
/// let unpacked = unpack_layer(&mut blob, "layer.tmp".as_ref())?;
/// blob.drain()?;
/// blob.verify(&blob_digest)?;
/// diff_id.verify(&unpacked.diff_id)?;
/// std::fs::rename("layer.tmp", "layer")?;
/// # Ok(())
/// # }
/// ```
pub fn unpack_layer<R: Read>(layer: R, dest: &Path) -> Result<Unpacked, UnpackError> {
    let root = Root::open(dest)?;
    unpack(layer, &root, Options::layer())
}

// ANCHOR: unpack_into
/// Unpacks an archive into `dir`, an open directory that may hold files already: what
/// `docker cp` does with the tar it is sent (`PUT /containers/{id}/archive`), with `dir`
/// resolved inside the container's root by the caller (chapter 8). The same guarantees as
/// [`unpack_layer`]: every entry's directory is resolved beneath `dir` by the kernel, a
/// directory is never replaced by a non-directory, nothing is written outside. Unlike a
/// layer, the archive is plain files: a `.wh.` name is a file of that name, not a deletion.
/// `owner`, if given, replaces every entry's uid and gid (Docker's `docker cp` makes what it
/// copies in the container root's unless `-a` asks to keep the archive's). With
/// `keep_non_dirs` (the API's `noOverwriteDirNonDir`, which the docker CLI always sends) a
/// directory entry never replaces a file either. `shown` names `dir` in messages.
pub fn unpack_into<R: Read>(
    archive: R,
    dir: std::os::fd::OwnedFd,
    owner: Option<(u32, u32)>,
    keep_non_dirs: bool,
    shown: &Path,
) -> Result<Unpacked, UnpackError> {
    let root = Root::from_fd(dir, shown)?;
    let options = Options {
        whiteouts: false,
        owner,
        dirs_replace_files: !keep_non_dirs,
    };
    unpack(archive, &root, options)
}

/// How [`unpack`] treats what it finds.
struct Options {
    /// `.wh.` entries are whiteouts (a layer), not plain names (`docker cp`).
    whiteouts: bool,
    /// Every entry's owner, if the caller decides it.
    owner: Option<(u32, u32)>,
    /// A directory entry may replace a file, link or node of the same name.
    dirs_replace_files: bool,
}

impl Options {
    /// A layer's: whiteouts, owners as given, later entries win.
    fn layer() -> Options {
        Options {
            whiteouts: true,
            owner: None,
            dirs_replace_files: true,
        }
    }
}
// ANCHOR_END: unpack_into

/// The one pass of [`unpack_layer`] and [`unpack_into`].
fn unpack<R: Read>(layer: R, root: &Root, options: Options) -> Result<Unpacked, UnpackError> {
    let (compression, decoder) = detect(layer)?;
    let position = Rc::new(Position::default());
    let mut archive =
        tar::Archive::new(Tracked::new(HashingReader::new(decoder), position.clone()));
    let mut unpacker = Unpacker {
        root,
        options,
        dir_times: DirTimes::default(),
        buffer: vec![0; entry::COPY_BUFFER],
        entries: 0,
    };

    // The last entry read in full: its name for messages, and where its data ended if it
    // was stored in one piece, to recognise a stream that stops in its padding.
    let mut last: Option<(String, Option<u64>)> = None;
    let entries = archive.entries().map_err(|source| UnpackError::Read {
        after: None,
        source,
    })?;
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(source) => {
                if let Some((_, Some(data_end))) = &last
                    && position.ended_in_padding_after(*data_end)
                {
                    // A layer written without its final padding and end blocks: complete.
                    break;
                }
                return Err(UnpackError::Read {
                    after: last.map(|(name, _)| name),
                    source,
                });
            }
        };
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        match unpacker.unpack_entry(&mut entry, &raw) {
            Ok(data_end) => last = Some((shown, data_end)),
            Err(failure) => return Err(failure.for_entry(shown)),
        }
    }

    let after = last.map(|(name, _)| name);
    let mut hashed = archive.into_inner().into_inner();
    // Whatever follows the end of the archive (the second zero block, the zero padding that
    // tar adds up to a 10 KiB record) is part of the uncompressed blob, hence of the diff_id.
    hashed
        .drain()
        .map_err(|source| UnpackError::Read { after, source })?;
    let entries = unpacker.entries;
    unpacker.dir_times.apply(root)?;
    Ok(Unpacked {
        diff_id: hashed.digest(),
        size: hashed.byte_count(),
        compression,
        entries,
    })
}

/// The state of one unpacking.
struct Unpacker<'a> {
    root: &'a Root,
    options: Options,
    dir_times: DirTimes,
    buffer: Vec<u8>,
    entries: u64,
}

impl Unpacker<'_> {
    /// Unpacks one entry and checks that its data was all there. Returns where its data ends
    /// in the tar stream, if it is stored in one piece (not a GNU sparse file).
    fn unpack_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw_name: &[u8],
    ) -> Result<Option<u64>, Failure> {
        let size = entry.size();
        let kind = entry.header().entry_type();
        let consumed = if kind.is_pax_global_extensions() {
            // Global PAX records (`pax_global_header`) describe the archive, not a file;
            // `git archive` writes one. Nothing in them matters to a layer.
            0
        } else {
            let path = EntryPath::parse(raw_name).map_err(Failure::Refused)?;
            let mut metadata = Metadata::read(entry)?;
            if let Some((uid, gid)) = self.options.owner {
                (metadata.uid, metadata.gid) = (uid, gid);
            }
            self.create(entry, kind, raw_name, &path, &metadata)?
        };
        // Read whatever data the entry has that was not used (a directory or link with a
        // size, a whiteout marker with content), to check that it is all there.
        let rest = io::copy(entry, &mut io::sink())
            .map_err(|e| Failure::io("reading its data from the layer", e))?;
        let got = consumed + rest;
        if got != size {
            return Err(Failure::Truncated {
                expected: size,
                got,
            });
        }
        self.entries += 1;
        Ok((!kind.is_gnu_sparse()).then(|| entry.raw_file_position().saturating_add(size)))
    }

    /// Creates what the entry describes. Returns how many bytes of its data it read.
    fn create<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        kind: EntryType,
        raw_name: &[u8],
        path: &EntryPath,
        metadata: &Metadata,
    ) -> Result<u64, Failure> {
        let root = self.root;
        if let Some(whiteout) = whiteout::classify(path).filter(|_| self.options.whiteouts) {
            whiteout::apply(root, path, whiteout.map_err(Failure::Refused)?, metadata)?;
            return Ok(0);
        }
        // Old (pre-POSIX) tars mark directories as regular files whose name ends in `/`; Go's
        // archive/tar, and so Docker, reads them as directories.
        let is_dir = kind.is_dir() || (kind == EntryType::Regular && raw_name.ends_with(b"/"));
        if is_dir {
            entry::directory(
                root,
                path,
                metadata,
                &mut self.dir_times,
                self.options.dirs_replace_files,
            )?;
            return Ok(0);
        }
        if path.is_root() {
            return Err(Failure::Refused(Refusal::ReplacesRoot));
        }
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let size = entry.size();
                entry::regular_file(root, path, entry, size, metadata, &mut self.buffer)
            }
            EntryType::Symlink => {
                let target = link_name(entry)?;
                entry::symlink(root, path, &target, metadata).map(|()| 0)
            }
            EntryType::Link => {
                let target = link_name(entry)?;
                entry::hard_link(root, path, &target).map(|()| 0)
            }
            EntryType::Char | EntryType::Block => {
                let header = entry.header();
                let bad = |e| Failure::io("reading its device number", e);
                let major = header.device_major().map_err(bad)?.unwrap_or(0);
                let minor = header.device_minor().map_err(bad)?.unwrap_or(0);
                let sflag = if kind == EntryType::Char {
                    SFlag::S_IFCHR
                } else {
                    SFlag::S_IFBLK
                };
                entry::node(root, path, sflag, libc::makedev(major, minor), metadata).map(|()| 0)
            }
            EntryType::Fifo => entry::node(root, path, SFlag::S_IFIFO, 0, metadata).map(|()| 0),
            other => Err(Failure::Unsupported(format!(
                "{other:?} ({:?})",
                char::from(other.as_byte())
            ))),
        }
    }
}

/// The link target of a symlink or hard link entry (from the header, or a PAX `linkpath` or
/// GNU long link name).
fn link_name<R: Read>(entry: &tar::Entry<'_, R>) -> Result<Vec<u8>, Failure> {
    match entry.link_name_bytes() {
        Some(target) => Ok(target.into_owned()),
        None => Err(Failure::Refused(Refusal::LinkTarget {
            target: String::new(),
            reason: Box::new(Refusal::EmptyName),
        })),
    }
}
