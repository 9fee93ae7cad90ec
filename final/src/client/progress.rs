//! Pull and push progress, drawn from Docker's JSON message stream.
//!
//! The daemon reports a pull or a push as a stream of JSON objects (docker-api.md §4):
//! `{"status":"Downloading","id":"a1b2c3d4e5f6","progressDetail":{"current":1024,"total":2048}}`.
//! Messages with an `id` are about one layer; the others are about the whole image
//! (`Digest: sha256:…`). An `errorDetail` (or the older `error`) ends the operation.
//!
//! On a terminal, as Docker does, each layer owns one line that is redrawn in place: the
//! cursor moves up to the layer's line (`ESC[nA`), clears it (`ESC[2K`), writes the new
//! status and moves back down (`ESC[nB`). Off a terminal (a log file, a pipe, a test) there is
//! no cursor to move, so every message becomes a plain line, and the byte-by-byte
//! `Downloading` and `Extracting` updates are left out: a log wants events, not animation.

use std::io::{self, Write};

use serde::Deserialize;

/// Width of a progress bar, between its brackets.
const BAR_WIDTH: usize = 50;

/// One message of the stream. Fields Docker may add later are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Message {
    /// What happened: `Downloading`, `Pull complete`, `Digest: ...`.
    #[serde(default)]
    pub status: Option<String>,
    /// The layer (first 12 hex digits of its digest), or a tag for the header line.
    #[serde(default)]
    pub id: Option<String>,
    /// Bytes done and to do.
    #[serde(default, rename = "progressDetail")]
    pub progress_detail: Option<Detail>,
    /// A bar rendered by the daemon (older daemons send only this).
    #[serde(default)]
    pub progress: Option<String>,
    /// Build output (unused by pull and push, printed as-is if present).
    #[serde(default)]
    pub stream: Option<String>,
    /// The failure that ends the stream.
    #[serde(default, rename = "errorDetail")]
    pub error_detail: Option<ErrorDetail>,
    /// The same failure, as older daemons send it.
    #[serde(default)]
    pub error: Option<String>,
    /// Machine-readable results (`{"Tag","Digest","Size"}` after a push).
    #[serde(default)]
    pub aux: Option<serde_json::Value>,
}

/// `progressDetail`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Detail {
    /// Bytes done.
    #[serde(default)]
    pub current: Option<u64>,
    /// Bytes in all (0 or absent when unknown).
    #[serde(default)]
    pub total: Option<u64>,
}

/// `errorDetail`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorDetail {
    /// What went wrong.
    #[serde(default)]
    pub message: String,
}

impl Message {
    /// The error this message carries, if any.
    pub fn failure(&self) -> Option<&str> {
        self.error_detail
            .as_ref()
            .map(|e| e.message.as_str())
            .or(self.error.as_deref())
    }

    /// Whether this is a byte-count update (worth drawing on a terminal, noise in a log).
    fn is_progress(&self) -> bool {
        self.progress.as_deref().is_some_and(|p| !p.is_empty())
            || self.progress_detail.is_some_and(|d| d.current.is_some())
    }

    /// The line's text: `id: status bar`.
    fn line(&self, with_bar: bool) -> String {
        let mut line = String::new();
        if let Some(id) = &self.id {
            line.push_str(id);
            line.push_str(": ");
        }
        line.push_str(self.status.as_deref().unwrap_or_default());
        if with_bar {
            let bar = match self.progress_detail {
                Some(Detail {
                    current: Some(current),
                    total,
                }) => bar(current, total.unwrap_or(0)),
                _ => self.progress.clone().unwrap_or_default(),
            };
            if !bar.is_empty() {
                line.push(' ');
                line.push_str(&bar);
            }
        }
        line
    }
}

/// A Docker-style bar: `[=========>        ]  1.2MB/3.4MB`, or just the count when the total
/// is unknown.
pub fn bar(current: u64, total: u64) -> String {
    let size = berth_images::text::human_size;
    if total == 0 {
        return size(current);
    }
    let done = current.min(total);
    let filled = (done as u128 * BAR_WIDTH as u128 / total as u128) as usize;
    let arrow = if filled < BAR_WIDTH { ">" } else { "" };
    let spaces = BAR_WIDTH - filled - arrow.len();
    format!(
        "[{}{arrow}{}] {:>8}/{}",
        "=".repeat(filled),
        " ".repeat(spaces),
        size(current),
        size(total)
    )
}

/// Draws a message stream on `out`.
pub struct Progress<W: Write> {
    out: W,
    terminal: bool,
    /// The layer ids in the order their lines were printed, with each one's line number.
    lines: Vec<(String, usize)>,
    /// Lines printed so far (the cursor is at the start of line `printed`).
    printed: usize,
    /// The terminal's width: a line that wrapped would take two rows and break the
    /// cursor arithmetic, so lines are cut to fit.
    width: Option<usize>,
}

impl<W: Write> Progress<W> {
    /// A renderer; `terminal` chooses redrawn lines over plain ones.
    pub fn new(out: W, terminal: bool) -> Self {
        Progress {
            out,
            terminal,
            lines: Vec::new(),
            printed: 0,
            width: None,
        }
    }

    /// Cuts redrawn lines to `columns` characters.
    pub fn with_width(mut self, columns: Option<u16>) -> Self {
        self.width = columns.map(usize::from).filter(|&w| w > 1);
        self
    }

    /// Shows one message. A message carrying an error is returned as `Err(message)` and not
    /// drawn: the caller reports it.
    pub fn show(&mut self, message: &Message) -> io::Result<Result<(), String>> {
        if let Some(error) = message.failure() {
            return Ok(Err(error.to_owned()));
        }
        if let Some(text) = &message.stream {
            self.out.write_all(text.as_bytes())?;
            self.printed += text.matches('\n').count();
        } else if message.status.is_none() {
            // `aux` alone, or an empty keep-alive: nothing to show.
        } else if self.terminal {
            self.draw(message)?;
        } else if !message.is_progress() {
            writeln!(self.out, "{}", message.line(false))?;
        }
        self.out.flush()?;
        Ok(Ok(()))
    }

    /// Redraws the message's line in place, or starts a new line.
    fn draw(&mut self, message: &Message) -> io::Result<()> {
        let mut text = message.line(true);
        if let Some(width) = self.width
            && text.chars().count() >= width
        {
            text = text.chars().take(width - 1).collect();
        }
        let known = message
            .id
            .as_ref()
            .and_then(|id| self.lines.iter().find(|(known, _)| known == id))
            .map(|&(_, line)| line);
        match known {
            Some(line) => {
                let up = self.printed - line;
                write!(self.out, "\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B")?;
            }
            None => {
                if let Some(id) = &message.id {
                    self.lines.push((id.clone(), self.printed));
                }
                writeln!(self.out, "\x1b[2K{text}")?;
                self.printed += 1;
            }
        }
        Ok(())
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(lines: &[&str]) -> Vec<Message> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    const PULL: [&str; 9] = [
        r#"{"status":"Pulling from library/busybox","id":"latest"}"#,
        r#"{"status":"Pulling fs layer","progressDetail":{},"id":"aaaaaaaaaaaa"}"#,
        r#"{"status":"Pulling fs layer","progressDetail":{},"id":"bbbbbbbbbbbb"}"#,
        r#"{"status":"Downloading","progressDetail":{"current":500,"total":1000},"id":"aaaaaaaaaaaa"}"#,
        r#"{"status":"Download complete","progressDetail":{},"id":"aaaaaaaaaaaa"}"#,
        r#"{"status":"Pull complete","progressDetail":{},"id":"aaaaaaaaaaaa"}"#,
        r#"{"status":"Already exists","progressDetail":{},"id":"bbbbbbbbbbbb"}"#,
        r#"{"status":"Digest: sha256:1234"}"#,
        r#"{"status":"Status: Downloaded newer image for busybox:latest"}"#,
    ];

    fn render(lines: &[&str], terminal: bool) -> String {
        let mut progress = Progress::new(Vec::new(), terminal);
        for message in messages(lines) {
            progress.show(&message).unwrap().unwrap();
        }
        String::from_utf8(progress.into_inner()).unwrap()
    }

    #[test]
    fn off_a_terminal_each_event_is_a_line_and_byte_counts_are_skipped() {
        assert_eq!(
            render(&PULL, false),
            "latest: Pulling from library/busybox\n\
             aaaaaaaaaaaa: Pulling fs layer\n\
             bbbbbbbbbbbb: Pulling fs layer\n\
             aaaaaaaaaaaa: Download complete\n\
             aaaaaaaaaaaa: Pull complete\n\
             bbbbbbbbbbbb: Already exists\n\
             Digest: sha256:1234\n\
             Status: Downloaded newer image for busybox:latest\n"
        );
    }

    #[test]
    fn on_a_terminal_each_layer_line_is_redrawn_in_place() {
        let out = render(&PULL[..4], true);
        let half = format!("aaaaaaaaaaaa: Downloading {}", bar(500, 1000));
        // Layer a is 2 lines above the cursor when its download progresses.
        assert!(
            out.ends_with(&format!("\x1b[2A\r\x1b[2K{half}\r\x1b[2B")),
            "{out:?}"
        );
        assert_eq!(out.matches('\n').count(), 3, "one line per id: {out:?}");
    }

    #[test]
    fn lines_are_cut_to_the_terminal_width() {
        let mut progress = Progress::new(Vec::new(), true).with_width(Some(20));
        let [message] = <[Message; 1]>::try_from(messages(&[PULL[3]])).unwrap();
        progress.show(&message).unwrap().unwrap();
        let out = String::from_utf8(progress.into_inner()).unwrap();
        assert_eq!(out, "\x1b[2Kaaaaaaaaaaaa: Downl\n");
    }

    #[test]
    fn bars_fill_with_progress() {
        assert_eq!(bar(0, 1000), format!("[>{}]       0B/1kB", " ".repeat(49)));
        assert_eq!(
            bar(500, 1000),
            format!("[{}>{}]     500B/1kB", "=".repeat(25), " ".repeat(24))
        );
        assert_eq!(
            bar(1000, 1000),
            format!("[{}]      1kB/1kB", "=".repeat(50))
        );
        // More than announced (a wrong total) must not panic.
        assert!(bar(2000, 1000).starts_with(&format!("[{}]", "=".repeat(50))));
        assert_eq!(bar(1_500_000, 0), "1.5MB");
    }

    #[test]
    fn errors_stop_the_stream_with_their_message() {
        let mut progress = Progress::new(Vec::new(), false);
        let [ok, failed] = <[Message; 2]>::try_from(messages(&[
            r#"{"status":"Preparing","id":"aaaaaaaaaaaa"}"#,
            r#"{"errorDetail":{"message":"denied: requested access to the resource is denied"},"error":"denied"}"#,
        ]))
        .unwrap();
        assert_eq!(progress.show(&ok).unwrap(), Ok(()));
        assert_eq!(
            progress.show(&failed).unwrap(),
            Err("denied: requested access to the resource is denied".to_owned())
        );
    }

    #[test]
    fn aux_messages_draw_nothing() {
        assert_eq!(
            render(
                &[r#"{"progressDetail":{},"aux":{"Tag":"1","Digest":"sha256:x","Size":527}}"#],
                false
            ),
            ""
        );
    }
}
