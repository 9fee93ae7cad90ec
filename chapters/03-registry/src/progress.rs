//! What a pull or push tells the user while it works, in `docker pull`'s words.
//!
//! The work reports [`Event`]s; a [`Progress`] shows them. On a terminal each layer gets a line
//! that is redrawn in place with a bar; elsewhere (a pipe, a log, a test) only the lines that
//! say something new are printed, one per event, as `docker pull` does when not on a terminal.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Where one layer is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerState {
    Waiting,
    AlreadyExists,
    /// Bytes received so far, of how many.
    Downloading {
        current: u64,
        total: u64,
    },
    VerifyingChecksum,
    DownloadComplete,
    PullComplete,
    Retrying {
        attempt: u32,
        reason: String,
    },
    /// Push states.
    Preparing,
    Pushing,
    Pushed,
    LayerAlreadyExists,
    MountedFrom(String),
}

impl LayerState {
    /// Docker's words for the state: what `docker pull` prints beside a layer, and what the
    /// Engine API's progress stream sends as its `status` (berthd sends these same words).
    pub fn status(&self) -> String {
        match self {
            LayerState::Waiting => "Pulling fs layer".into(),
            LayerState::AlreadyExists => "Already exists".into(),
            LayerState::Downloading { .. } => "Downloading".into(),
            LayerState::VerifyingChecksum => "Verifying Checksum".into(),
            LayerState::DownloadComplete => "Download complete".into(),
            LayerState::PullComplete => "Pull complete".into(),
            LayerState::Retrying { attempt, reason } => {
                format!("Retrying (attempt {attempt}): {reason}")
            }
            LayerState::Preparing => "Preparing".into(),
            LayerState::Pushing => "Pushing".into(),
            LayerState::Pushed => "Pushed".into(),
            LayerState::LayerAlreadyExists => "Layer already exists".into(),
            LayerState::MountedFrom(from) => format!("Mounted from {from}"),
        }
    }
}

/// Something worth telling the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A line of its own: "latest: Pulling from library/busybox", "Digest: ...".
    Line(String),
    /// A layer (by the first 12 hex digits of its blob digest) changed state.
    Layer { id: String, state: LayerState },
}

/// Shows events.
pub trait Progress {
    fn event(&mut self, event: Event);
}

/// One line per event that says something new: for pipes, logs and tests.
pub struct Plain<W: Write> {
    out: W,
}

impl<W: Write> Plain<W> {
    pub fn new(out: W) -> Self {
        Plain { out }
    }
}

impl<W: Write> Progress for Plain<W> {
    fn event(&mut self, event: Event) {
        let line = match event {
            Event::Line(line) => line,
            // Byte counts would flood a log; docker pull omits them off a terminal too.
            Event::Layer {
                state: LayerState::Downloading { .. },
                ..
            } => return,
            Event::Layer { id, state } => format!("{id}: {}", state.status()),
        };
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }
}

/// Per-layer lines with bars, redrawn in place (ANSI cursor movement), at most 10 times a
/// second, for a terminal.
pub struct Bars<W: Write> {
    out: W,
    layers: BTreeMap<usize, (String, LayerState)>,
    order: Vec<String>,
    drawn: usize,
    last_draw: Option<Instant>,
}

impl<W: Write> Bars<W> {
    pub fn new(out: W) -> Self {
        Bars {
            out,
            layers: BTreeMap::new(),
            order: Vec::new(),
            drawn: 0,
            last_draw: None,
        }
    }

    fn draw(&mut self, force: bool) {
        if !force
            && self
                .last_draw
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let mut text = String::new();
        if self.drawn > 0 {
            text.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for (id, state) in self.layers.values() {
            text.push_str("\x1b[2K");
            text.push_str(&format!("{id}: {}", state.status()));
            if let LayerState::Downloading { current, total } = state {
                text.push_str(&format!(" {}", bar(*current, *total)));
            }
            text.push('\n');
        }
        self.drawn = self.layers.len();
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

impl<W: Write> Progress for Bars<W> {
    fn event(&mut self, event: Event) {
        match event {
            Event::Line(line) => {
                // Lines go above the layer block, which is then drawn afresh below them.
                if self.drawn > 0 {
                    let _ = write!(self.out, "\x1b[{}A\x1b[J", self.drawn);
                }
                let _ = writeln!(self.out, "{line}");
                self.drawn = 0;
                self.draw(true);
            }
            Event::Layer { id, state } => {
                let index = match self.order.iter().position(|known| *known == id) {
                    Some(index) => index,
                    None => {
                        self.order.push(id.clone());
                        self.order.len() - 1
                    }
                };
                // Redraw at once on a change of state; byte counts at most 10 times a second.
                let was_downloading = matches!(
                    self.layers.get(&index),
                    Some((_, LayerState::Downloading { .. }))
                );
                let force = !matches!(state, LayerState::Downloading { .. }) || !was_downloading;
                self.layers.insert(index, (id, state));
                self.draw(force);
            }
        }
    }
}

/// `[=====>      ]  1.2MB/2.3MB`, as docker draws it.
fn bar(current: u64, total: u64) -> String {
    const WIDTH: usize = 50;
    let filled = if total == 0 {
        0
    } else {
        ((current.min(total) as f64 / total as f64) * WIDTH as f64) as usize
    };
    let inner = if filled >= WIDTH {
        "=".repeat(WIDTH)
    } else {
        format!(
            "{}>{}",
            "=".repeat(filled.saturating_sub(1)),
            " ".repeat(WIDTH - filled.max(1))
        )
    };
    format!(
        "[{inner}] {:>8}/{}",
        berth_images::text::human_size(current),
        berth_images::text::human_size(total)
    )
}

/// The renderer for stdout: bars on a terminal, plain lines elsewhere.
pub fn for_stdout() -> Box<dyn Progress> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        Box::new(Bars::new(std::io::stdout()))
    } else {
        Box::new(Plain::new(std::io::stdout()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_prints_only_news() {
        let mut out = Vec::new();
        {
            let mut plain = Plain::new(&mut out);
            plain.event(Event::Line("latest: Pulling from library/busybox".into()));
            let id = "9fabb1861588".to_owned();
            plain.event(Event::Layer {
                id: id.clone(),
                state: LayerState::Waiting,
            });
            plain.event(Event::Layer {
                id: id.clone(),
                state: LayerState::Downloading {
                    current: 10,
                    total: 20,
                },
            });
            plain.event(Event::Layer {
                id,
                state: LayerState::PullComplete,
            });
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "latest: Pulling from library/busybox\n9fabb1861588: Pulling fs layer\n9fabb1861588: Pull complete\n"
        );
    }

    #[test]
    fn bars_redraw_in_place() {
        let mut out = Vec::new();
        {
            let mut bars = Bars::new(&mut out);
            for state in [
                LayerState::Waiting,
                LayerState::Downloading {
                    current: 1_000_000,
                    total: 2_000_000,
                },
            ] {
                bars.event(Event::Layer {
                    id: "a".into(),
                    state,
                });
            }
        }
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\x1b[1A"), "{text:?}");
        assert!(text.contains("1MB/2MB"), "{text:?}");
        assert_eq!(bar(0, 0).find(']'), bar(5, 10).find(']'));
        assert_eq!(bar(10, 10).find(']'), bar(5, 10).find(']'));
    }
}
