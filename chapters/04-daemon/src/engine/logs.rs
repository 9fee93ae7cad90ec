//! Container logs: what the container printed, kept in a file so that it outlives the client.
//!
//! Docker's default log driver, `json-file`, writes one JSON object per line:
//!
//! ```text
//! {"log":"hello\n","stream":"stdout","time":"2026-11-24T17:00:00.123456789Z"}
//! ```
//!
//! so that stdout and stderr stay apart and every line has a time. We write the same format
//! (`containers/<id>/container.log`): `docker logs` in `final/` reads it unchanged.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::state::now_rfc3339;

/// The longest log entry: a line longer than this is split, as Docker splits at 16 KiB.
const MAX_ENTRY: usize = 16 * 1024;

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: Stream,
    pub time: String,
}

/// The log file of a container.
pub fn path(container_dir: &Path) -> PathBuf {
    container_dir.join("container.log")
}

/// Appends entries to a log file; shared by the monitor's stdout and stderr readers.
pub struct Writer {
    file: Mutex<File>,
}

impl Writer {
    /// Opens (creating) the log file for appending.
    pub fn open(path: &Path) -> io::Result<Writer> {
        // What a container prints may be secret: readable by root only, like its records.
        use std::os::unix::fs::OpenOptionsExt;
        let file = File::options()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(Writer {
            file: Mutex::new(file),
        })
    }

    fn write(&self, stream: Stream, text: &[u8]) -> io::Result<()> {
        let entry = Entry {
            log: String::from_utf8_lossy(text).into_owned(),
            stream,
            time: now_rfc3339(),
        };
        let mut line = serde_json::to_vec(&entry).expect("an entry always serialises");
        line.push(b'\n');
        // One write per line under the lock, so stdout and stderr lines never interleave.
        self.file.lock().expect("not poisoned").write_all(&line)
    }

    // ANCHOR: copy
    /// Copies everything `from` (a pipe from the container) says into the log, a line per
    /// entry, until it closes.
    pub fn copy(&self, stream: Stream, from: impl Read) -> io::Result<()> {
        let mut reader = BufReader::new(from);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .by_ref()
                .take(MAX_ENTRY as u64)
                .read_until(b'\n', &mut line)?;
            if n == 0 {
                return Ok(());
            }
            self.write(stream, &line)?;
        }
    }
    // ANCHOR_END: copy
}

/// Reads a log file from the start, and with `follow` goes on reading what is appended until
/// `finished` says the container is done and nothing more is there.
pub struct Reader {
    file: BufReader<File>,
    partial: Vec<u8>,
}

impl Reader {
    /// Opens the log; a container that never started has an empty one.
    pub fn open(path: &Path) -> io::Result<Reader> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => File::open("/dev/null")?,
            Err(e) => return Err(e),
        };
        Ok(Reader {
            file: BufReader::new(file),
            partial: Vec::new(),
        })
    }

    /// The next complete entry, or `None` at the current end of the file.
    pub fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        loop {
            let n = self.file.read_until(b'\n', &mut self.partial)?;
            if n == 0 || !self.partial.ends_with(b"\n") {
                // At the end, perhaps in the middle of a line being written: try again later.
                return Ok(None);
            }
            let line = std::mem::take(&mut self.partial);
            match serde_json::from_slice::<Entry>(&line) {
                Ok(entry) => return Ok(Some(entry)),
                Err(_) => continue, // A damaged line is skipped, not fatal.
            }
        }
    }

    /// The last `n` entries (for `logs --tail`): skips ahead so that only they remain.
    pub fn tail(path: &Path, n: usize) -> io::Result<Reader> {
        let mut counter = Reader::open(path)?;
        let mut total: usize = 0;
        while counter.next_entry()?.is_some() {
            total += 1;
        }
        let mut reader = Reader::open(path)?;
        for _ in 0..total.saturating_sub(n) {
            reader.next_entry()?;
        }
        Ok(reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = path(dir.path());
        let writer = Writer::open(&log).unwrap();
        writer
            .copy(Stream::Stdout, &b"one\ntwo\nno newline"[..])
            .unwrap();
        writer.copy(Stream::Stderr, &b"oops\n"[..]).unwrap();
        let mut reader = Reader::open(&log).unwrap();
        let mut seen = Vec::new();
        while let Some(entry) = reader.next_entry().unwrap() {
            seen.push((entry.stream, entry.log));
        }
        assert_eq!(
            seen,
            [
                (Stream::Stdout, "one\n".to_owned()),
                (Stream::Stdout, "two\n".to_owned()),
                (Stream::Stdout, "no newline".to_owned()),
                (Stream::Stderr, "oops\n".to_owned()),
            ]
        );
        let mut tail = Reader::tail(&log, 2).unwrap();
        assert_eq!(tail.next_entry().unwrap().unwrap().log, "no newline");
    }

    #[test]
    fn long_lines_are_split() {
        let dir = tempfile::tempdir().unwrap();
        let log = path(dir.path());
        let writer = Writer::open(&log).unwrap();
        writer
            .copy(Stream::Stdout, &vec![b'x'; MAX_ENTRY + 10][..])
            .unwrap();
        let mut reader = Reader::open(&log).unwrap();
        assert_eq!(reader.next_entry().unwrap().unwrap().log.len(), MAX_ENTRY);
        assert_eq!(reader.next_entry().unwrap().unwrap().log.len(), 10);
    }
}
