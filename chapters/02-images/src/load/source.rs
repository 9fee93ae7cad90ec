//! Reading the files of an image archive, from a directory or from a tar, without trusting it.
//!
//! `docker save` writes a tar; an OCI image layout is a directory (or a tar of one). Either way
//! we need "the file named X", where X comes from the archive's own JSON, so X is hostile
//! input: a name with `..` or a leading `/`, or a symlink inside the archive pointing
//! elsewhere, must not make us read a file of the host. A tar is not unpacked: we index its
//! entries once and read each file in place, so a 500 MB layer is not copied twice.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// The most a JSON document of an archive may weigh: real ones are a few kilobytes.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// Why a file of the archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{archive}: {name:?} is not a safe name inside the archive (absolute, or climbs out with ..)"
    )]
    UnsafeName { archive: PathBuf, name: String },
    #[error("{archive}: no file {name:?} in the archive")]
    Missing { archive: PathBuf, name: String },
    #[error("{archive}: {name:?} is a link that leads outside the archive or in a loop")]
    BadLink { archive: PathBuf, name: String },
    #[error(
        "{archive}: {name:?} is larger than {MAX_DOCUMENT} bytes, too large for a JSON document"
    )]
    TooLarge { archive: PathBuf, name: String },
    #[error("{archive} is not a readable tar archive: {source}")]
    BadTar { archive: PathBuf, source: io::Error },
}

/// What an entry of an indexed tar is.
#[derive(Clone, Debug)]
enum Entry {
    File {
        offset: u64,
        size: u64,
    },
    /// A symlink: its target is relative to the link's directory.
    Symlink(String),
    /// A hard link: its target is a name from the archive's root.
    HardLink(String),
    Other,
}

/// An archive to read files from.
#[derive(Debug)]
pub struct Source(Inner);

#[derive(Debug)]
enum Inner {
    /// A directory: an OCI layout, or an unpacked `docker save`.
    Dir(PathBuf),
    /// An uncompressed tar, read in place.
    Tar {
        path: PathBuf,
        entries: HashMap<String, Entry>,
    },
}

impl Source {
    /// Opens a directory or an (uncompressed) tar file.
    pub fn open(path: &Path) -> Result<Source, SourceError> {
        let io_err = |source| SourceError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if meta.is_dir() {
            let root = path.canonicalize().map_err(io_err)?;
            return Ok(Source(Inner::Dir(root)));
        }
        let file = File::open(path).map_err(io_err)?;
        let mut archive = tar::Archive::new(file);
        let mut entries = HashMap::new();
        let bad_tar = |source: io::Error| SourceError::BadTar {
            archive: path.to_owned(),
            source: printable(source),
        };
        for entry in archive.entries().map_err(bad_tar)? {
            let entry = entry.map_err(bad_tar)?;
            let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = clean(&raw_name) else {
                continue; // An unsafe name is never looked up; skip it.
            };
            let kind = match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Entry::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                    let target = entry.link_name_bytes().unwrap_or_default();
                    let target = String::from_utf8_lossy(&target).into_owned();
                    if kind == tar::EntryType::Symlink {
                        Entry::Symlink(target)
                    } else {
                        Entry::HardLink(target)
                    }
                }
                _ => Entry::Other,
            };
            entries.insert(name, kind);
        }
        Ok(Source(Inner::Tar {
            path: path.to_owned(),
            entries,
        }))
    }

    fn archive(&self) -> &Path {
        match &self.0 {
            Inner::Dir(path) | Inner::Tar { path, .. } => path,
        }
    }

    /// Whether the archive has a file of this name.
    pub fn exists(&self, name: &str) -> bool {
        self.open_file(name).is_ok()
    }

    /// Reads a small file (a JSON document) whole.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, SourceError> {
        let (reader, size) = self.open_file(name)?;
        if size > MAX_DOCUMENT {
            return Err(SourceError::TooLarge {
                archive: self.archive().to_owned(),
                name: name.to_owned(),
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        reader
            .take(MAX_DOCUMENT)
            .read_to_end(&mut bytes)
            .map_err(|source| SourceError::Io {
                path: self.archive().join(name),
                source,
            })?;
        Ok(bytes)
    }

    /// Opens a file for streaming (a layer), with its size.
    pub fn open_file(&self, name: &str) -> Result<(Box<dyn Read + Send>, u64), SourceError> {
        let unsafe_name = || SourceError::UnsafeName {
            archive: self.archive().to_owned(),
            name: name.to_owned(),
        };
        let missing = || SourceError::Missing {
            archive: self.archive().to_owned(),
            name: name.to_owned(),
        };
        let clean_name = clean(name).ok_or_else(unsafe_name)?;
        match &self.0 {
            Inner::Dir(root) => {
                // Resolve symlinks, then insist the result is still inside the directory.
                let path = root.join(&clean_name);
                let real = path.canonicalize().map_err(|_| missing())?;
                if !real.starts_with(root) {
                    return Err(SourceError::BadLink {
                        archive: root.clone(),
                        name: name.to_owned(),
                    });
                }
                let file = File::open(&real).map_err(|_| missing())?;
                let size = file
                    .metadata()
                    .map_err(|source| SourceError::Io { path: real, source })?
                    .len();
                Ok((Box::new(file), size))
            }
            Inner::Tar { path, entries } => {
                let (offset, size) = resolve_in_tar(entries, &clean_name).ok_or_else(|| {
                    match entries.get(&clean_name) {
                        Some(Entry::Symlink(_) | Entry::HardLink(_)) => SourceError::BadLink {
                            archive: path.clone(),
                            name: name.to_owned(),
                        },
                        _ => missing(),
                    }
                })?;
                let io_err = |source| SourceError::Io {
                    path: path.clone(),
                    source,
                };
                let mut file = File::open(path).map_err(io_err)?;
                file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
                Ok((Box::new(file.take(size)), size))
            }
        }
    }
}

/// The tar reader quotes the bytes it choked on, which for a file that is no tar at all is
/// binary noise; a message for a person keeps the words and replaces the noise.
fn printable(error: io::Error) -> io::Error {
    let text = error.to_string();
    if text.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return error;
    }
    let words: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(120)
        .collect();
    io::Error::new(error.kind(), words)
}

/// Follows links inside the tar (at most 8), staying inside it.
fn resolve_in_tar(entries: &HashMap<String, Entry>, name: &str) -> Option<(u64, u64)> {
    let mut name = name.to_owned();
    for _ in 0..8 {
        match entries.get(&name)? {
            Entry::File { offset, size } => return Some((*offset, *size)),
            Entry::Symlink(target) => {
                let base = Path::new(&name).parent().unwrap_or(Path::new(""));
                name = clean(&base.join(target).to_string_lossy())?;
            }
            Entry::HardLink(target) => name = clean(target)?,
            Entry::Other => return None,
        }
    }
    None
}

/// A relative, normalised name (`a/./b` is `a/b`), or `None` if it is absolute, empty or
/// climbs above the archive's root.
fn clean(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside() {
        assert_eq!(clean("a/./b").as_deref(), Some("a/b"));
        assert_eq!(clean("a/../b").as_deref(), Some("b"));
        assert_eq!(clean("../etc/passwd"), None);
        assert_eq!(clean("/etc/passwd"), None);
        assert_eq!(clean("."), None);
    }
}
