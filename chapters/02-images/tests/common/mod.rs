//! Test helpers: a tar writer that writes whatever it is told (hostile names included), and a
//! sandbox with a sentinel directory next to the layer's destination.
//!
//! `tar::Builder` refuses to write `..` or absolute names (`Header::set_path` validates), which
//! is right for a tool and wrong for a test of an unpacker, so [`Layer`] fills the header's
//! name and link fields byte by byte and writes PAX and GNU long-name records itself.

#![allow(dead_code)] // each test file uses a different part

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_images::{Refusal, UnpackError, Unpacked, unpack_layer};
use tar::{EntryType, Header};

/// A tar archive under construction, as raw bytes.
#[derive(Default)]
pub struct Layer {
    bytes: Vec<u8>,
    headers: Vec<usize>,
}

/// Options for one entry beyond its name, type and data.
#[derive(Clone)]
pub struct Meta {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub device: (u32, u32),
    /// PAX records to write before the header (`path`, `linkpath`, `mtime`, `SCHILY.xattr.*`).
    pub pax: Vec<(String, Vec<u8>)>,
}

impl Default for Meta {
    fn default() -> Meta {
        Meta {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            device: (0, 0),
            pax: Vec::new(),
        }
    }
}

impl Layer {
    pub fn new() -> Layer {
        Layer::default()
    }

    /// Appends an entry with exactly these name and link bytes (at most 100 each).
    pub fn raw(
        &mut self,
        name: &[u8],
        kind: EntryType,
        link: &[u8],
        data: &[u8],
        meta: &Meta,
    ) -> &mut Layer {
        if !meta.pax.is_empty() {
            let mut records = Vec::new();
            for (key, value) in &meta.pax {
                records.extend(pax_record(key, value));
            }
            self.raw(
                b"PaxHeaders/entry",
                EntryType::XHeader,
                b"",
                &records,
                &Meta::default(),
            );
        }
        let mut header = Header::new_ustar();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(meta.mode);
        header.set_uid(meta.uid);
        header.set_gid(meta.gid);
        header.set_mtime(meta.mtime);
        if matches!(kind, EntryType::Char | EntryType::Block) {
            header.set_device_major(meta.device.0).unwrap();
            header.set_device_minor(meta.device.1).unwrap();
        }
        header.set_cksum();
        self.headers.push(self.bytes.len());
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(data);
        let padding = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, padding));
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Layer {
        self.raw(
            name.as_bytes(),
            EntryType::Regular,
            b"",
            data,
            &Meta::default(),
        )
    }

    pub fn file_with(&mut self, name: &str, data: &[u8], meta: &Meta) -> &mut Layer {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data, meta)
    }

    pub fn dir(&mut self, name: &str) -> &mut Layer {
        let meta = Meta {
            mode: 0o755,
            ..Meta::default()
        };
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"", &meta)
    }

    pub fn dir_with(&mut self, name: &str, meta: &Meta) -> &mut Layer {
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"", meta)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Layer {
        let meta = Meta {
            mode: 0o777,
            ..Meta::default()
        };
        self.raw(
            name.as_bytes(),
            EntryType::Symlink,
            target.as_bytes(),
            b"",
            &meta,
        )
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Layer {
        self.raw(
            name.as_bytes(),
            EntryType::Link,
            target.as_bytes(),
            b"",
            &Meta::default(),
        )
    }

    /// A GNU long-name record (`././@LongLink`, type `L`) for the next entry.
    pub fn gnu_long_name(&mut self, name: &[u8]) -> &mut Layer {
        let mut data = name.to_vec();
        data.push(0);
        let mut header = Header::new_gnu();
        header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        header.set_entry_type(EntryType::GNULongName);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        self.headers.push(self.bytes.len());
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(&data);
        self.bytes
            .extend(std::iter::repeat_n(0u8, (512 - data.len() % 512) % 512));
        self
    }

    /// Where each header block starts.
    pub fn header_offsets(&self) -> &[usize] {
        &self.headers
    }

    /// The archive with its two end-of-archive blocks.
    pub fn finish(&self) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        bytes.extend_from_slice(&[0u8; 1024]);
        bytes
    }

    /// The archive as `umoci insert` 0.4.7 writes it: no end blocks, and no padding after
    /// the last entry's data (`last_data_len` bytes).
    pub fn finish_like_umoci(&self, last_data_len: usize) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        let padding = (512 - last_data_len % 512) % 512;
        bytes.truncate(bytes.len() - padding);
        bytes
    }

    /// The archive without end blocks but with the last entry padded.
    pub fn finish_without_end_blocks(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

/// Recomputes the checksum of the header block at `archive[at..at + 512]`, so that a test can
/// change a header and still get it past the checksum.
pub fn fix_checksum(archive: &mut [u8], at: usize) {
    let block = &mut archive[at..at + 512];
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// One PAX record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record,
/// itself included.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    assert_eq!(record.len(), len);
    record
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A test's directory: `layer/` (the destination, empty) and `outside/` next to it holding
/// `victim`, a file no archive may touch.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub dest: PathBuf,
    pub outside: PathBuf,
}

pub const VICTIM_CONTENT: &[u8] = b"original content\n";

impl Sandbox {
    pub fn new(label: &str) -> Sandbox {
        let dir = berth_tests::test_dir(label);
        let dest = dir.path().join("layer");
        let outside = dir.path().join("outside");
        std::fs::create_dir(&dest).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("victim"), VICTIM_CONTENT).unwrap();
        Sandbox { dir, dest, outside }
    }

    pub fn unpack(&self, archive: &[u8]) -> Result<Unpacked, UnpackError> {
        unpack_layer(archive, &self.dest)
    }

    /// The absolute path of `outside/`, for archives that aim at it directly.
    pub fn outside_str(&self) -> String {
        self.outside.to_str().unwrap().to_owned()
    }

    /// Nothing was created, changed or removed next to the destination or in `outside/`.
    pub fn assert_outside_untouched(&self) {
        assert_eq!(
            names(self.dir.path()),
            vec!["layer".to_owned(), "outside".to_owned()],
            "something was created next to the layer"
        );
        assert_eq!(
            names(&self.outside),
            vec!["victim".to_owned()],
            "something was created in outside/"
        );
        let victim = self.outside.join("victim");
        let meta = std::fs::symlink_metadata(&victim).unwrap();
        assert!(meta.file_type().is_file(), "victim replaced");
        assert_eq!(meta.nlink(), 1, "victim hard-linked from the layer");
        assert_eq!(meta.mode() & 0o7777, 0o644, "victim's mode changed");
        assert_eq!(meta.uid(), 0, "victim's owner changed");
        assert_eq!(std::fs::read(&victim).unwrap(), VICTIM_CONTENT);
        assert_eq!(list_xattrs(&self.outside), Vec::<String>::new());
        assert_eq!(list_xattrs(&victim), Vec::<String>::new());
    }

    /// Unpacks `archive`, expects a refusal of `entry` for `reason`, and checks that nothing
    /// outside the layer changed.
    pub fn assert_refused(&self, archive: &[u8], entry: &str, reason: Refusal) {
        let err = self.unpack(archive).expect_err("the archive was accepted");
        assert_eq!(err.entry(), Some(entry), "{err}");
        assert_eq!(err.refusal(), Some(&reason), "{err}");
        let message = err.to_string();
        assert!(message.contains(&format!("{entry:?}")), "{message}");
        self.assert_outside_untouched();
    }
}

/// The sorted names in a directory.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn cpath(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// The extended attributes of `path` (not following a symlink), sorted.
pub fn list_xattrs(path: &Path) -> Vec<String> {
    let path = cpath(path);
    let mut buf = vec![0u8; 4096];
    // SAFETY: the buffer is valid for its length; the path is NUL-terminated.
    let n = unsafe { libc::llistxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(n >= 0, "llistxattr: {}", std::io::Error::last_os_error());
    let mut names: Vec<String> = buf[..n as usize]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    names.sort();
    names
}

/// The value of extended attribute `name` of `path` (not following a symlink).
pub fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let path = cpath(path);
    let name = CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: as above.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}
