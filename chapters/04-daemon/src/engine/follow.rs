//! `docker logs`: reading the json-file log the monitor writes, with Docker's options.
//!
//! The file format and its writer are chapter 4's ([`super::logs`]). Here we
//! select from it (`--tail`, `--since`, `--until`, stdout or stderr) and follow it: a
//! following reader sleeps on the container's [`Watch`] and is woken by its exit, so it ends
//! as soon as the container has exited and the last line is read (docker-py's
//! `containers.run` waits for exactly that).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::logs::{Entry, Reader, Stream};

use super::watch::Watch;
use super::{LogLine, LogOptions, StreamKind};

/// How often a follower looks for new lines while the container runs. The exit itself wakes
/// it at once; only lines written meanwhile wait this long at most.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// The lines of one container's log, as chosen by [`LogOptions`].
pub struct Lines {
    reader: Reader,
    options: LogOptions,
    watch: Arc<Watch>,
    /// The container was seen stopped: one more pass reads what it wrote last, then the end.
    last_pass: bool,
    done: bool,
}

impl Lines {
    /// Opens the log at `path`.
    pub fn open(path: &Path, options: LogOptions, watch: Arc<Watch>) -> std::io::Result<Lines> {
        let reader = match options.tail {
            Some(n) => Reader::tail(path, n)?,
            None => Reader::open(path)?,
        };
        Ok(Lines {
            reader,
            options,
            watch,
            last_pass: false,
            done: false,
        })
    }

    /// Whether an entry passes the stream and time filters; `None` when it is past `until`
    /// (and so is everything after it).
    fn select(&self, entry: &Entry) -> Option<bool> {
        let time = seconds(&entry.time);
        if let (Some(until), Some(time)) = (self.options.until, time)
            && time > until
        {
            return None;
        }
        let wanted = match entry.stream {
            Stream::Stdout => self.options.stdout,
            Stream::Stderr => self.options.stderr,
        };
        let recent = match (self.options.since, time) {
            (Some(since), Some(time)) => time >= since,
            _ => true,
        };
        Some(wanted && recent)
    }
}

impl Iterator for Lines {
    type Item = std::io::Result<LogLine>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.reader.next_entry() {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(Some(entry)) => match self.select(&entry) {
                    None => self.done = true,
                    Some(false) => {}
                    Some(true) => {
                        let stream = match entry.stream {
                            Stream::Stdout => StreamKind::Stdout,
                            Stream::Stderr => StreamKind::Stderr,
                        };
                        return Some(Ok(LogLine {
                            stream,
                            time: entry.time,
                            bytes: entry.log.into_bytes(),
                        }));
                    }
                },
                Ok(None) if !self.options.follow || self.last_pass => self.done = true,
                Ok(None) => {
                    let live = self
                        .watch
                        .wait_until(Some(FOLLOW_POLL), |l| !l.is_active() || l.removed);
                    if !live.is_active() || live.removed {
                        // The monitor wrote its last line before it wrote the exit.
                        self.last_pass = true;
                    }
                }
            }
        }
        None
    }
}

/// Seconds since the epoch, with the fraction, of an RFC 3339 time.
pub fn seconds(time: &str) -> Option<f64> {
    let whole = berth_images::text::parse_rfc3339(time)? as f64;
    let fraction = time
        .split_once('.')
        .map(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            format!("0.{digits}").parse::<f64>().unwrap_or(0.0)
        })
        .unwrap_or(0.0);
    Some(whole + fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fractional_times() {
        let t = seconds("2026-12-02T03:00:00.250000000Z").unwrap();
        let whole = berth_images::text::parse_rfc3339("2026-12-02T03:00:00Z").unwrap() as f64;
        assert!((t - whole - 0.25).abs() < 1e-6);
        assert_eq!(seconds("not a time"), None);
    }
}
