//! Events: what happened to containers and images, as `docker events` streams it.
//!
//! dockerd tells its clients about every step of a container's life (`create`, `start`,
//! `die` with its exit code, `destroy`, ...) and every change to its images (`pull`, `tag`,
//! `untag`, `delete`). Tools react to them instead of polling: docker-compose waits for
//! `die`, monitoring agents count restarts. The engine emits each event in one place, where
//! the step happens, never in the API: an exit the monitor reports and a `docker stop` are
//! the same `die`. Past events are kept in a bounded ring in memory (moby keeps the last 256),
//! so that `docker events --since 5m` can replay what happened before it connected; they do
//! not survive a daemon restart (nor do moby's).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many past events are kept for `since` (moby's `eventsLimit`).
pub const KEPT: usize = 256;

/// What an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// A container (`Actor.ID` is its full id).
    Container,
    /// An image (`Actor.ID` is the reference or the image id).
    Image,
}

impl EventType {
    /// Docker's name for it (`Type` in the event, the `type` filter's value).
    pub fn name(&self) -> &'static str {
        match self {
            EventType::Container => "container",
            EventType::Image => "image",
        }
    }
}

/// One event, as Docker's `events.Message` has it.
#[derive(Clone, Debug)]
pub struct Event {
    /// What it is about.
    pub kind: EventType,
    /// `create`, `start`, `die`, `exec_start: sh -c ...`, `pull`, ...
    pub action: String,
    /// The container's full id, or the image's reference or id.
    pub id: String,
    /// `name`, `image`, the labels, `exitCode`, `signal`, `execID`, ...
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub time_nano: u128,
}

impl Event {
    /// A new event, now.
    pub fn now(
        kind: EventType,
        action: impl Into<String>,
        id: impl Into<String>,
        attributes: BTreeMap<String, String>,
    ) -> Event {
        let time_nano = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        Event {
            kind,
            action: action.into(),
            id: id.into(),
            attributes,
            time_nano,
        }
    }
}

/// The ring of past events and the condition variable that wakes the streams.
#[derive(Debug, Default)]
pub struct Events {
    ring: Mutex<Ring>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<(u64, Event)>,
    /// The sequence number of the next event: a stream's position.
    next: u64,
}

impl Events {
    /// Records an event and wakes every stream.
    pub fn emit(&self, event: Event) {
        let mut ring = self.lock();
        let seq = ring.next;
        ring.next += 1;
        ring.events.push_back((seq, event));
        if ring.events.len() > KEPT {
            ring.events.pop_front();
        }
        drop(ring);
        self.changed.notify_all();
    }

    /// The position of the next event to come: a stream started now reads from here.
    pub fn position(&self) -> u64 {
        self.lock().next
    }

    /// The kept events from `position` on, and the position after them; if there are none,
    /// waits for one until `deadline` (forever if `None`). An empty list means the deadline
    /// passed. A reader too slow for the ring loses the oldest, as moby's does.
    pub fn after(&self, position: u64, deadline: Option<Instant>) -> (Vec<Event>, u64) {
        let mut ring = self.lock();
        while ring.next <= position {
            let wait = match deadline {
                None => Duration::from_secs(3600),
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) => left,
                    None => return (Vec::new(), position),
                },
            };
            ring = self
                .changed
                .wait_timeout(ring, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let events = ring
            .events
            .iter()
            .filter(|(seq, _)| *seq >= position)
            .map(|(_, event)| event.clone())
            .collect();
        (events, ring.next)
    }

    /// The kept events, oldest first, and the position after them.
    pub fn kept(&self) -> (Vec<Event>, u64) {
        let ring = self.lock();
        let events = ring.events.iter().map(|(_, e)| e.clone()).collect();
        (events, ring.next)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // Every writer leaves whole entries: a poisoned lock is taken over.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str) -> Event {
        Event::now(EventType::Container, action, "c", BTreeMap::new())
    }

    #[test]
    fn the_ring_keeps_the_last_events_and_streams_read_on_from_their_position() {
        let events = Events::default();
        for i in 0..KEPT + 10 {
            events.emit(event(&format!("e{i}")));
        }
        let (kept, next) = events.kept();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].action, "e10");
        assert_eq!(next, (KEPT + 10) as u64);
        // Nothing new: the deadline passes with an empty answer.
        let soon = Some(Instant::now() + Duration::from_millis(20));
        assert!(events.after(next, soon).0.is_empty());
        events.emit(event("new"));
        let (new, after) = events.after(next, soon);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].action, "new");
        assert_eq!(after, next + 1);
    }

    #[test]
    fn a_waiting_stream_wakes_on_the_next_event() {
        let events = std::sync::Arc::new(Events::default());
        let position = events.position();
        let emitter = std::sync::Arc::clone(&events);
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            emitter.emit(event("start"));
        });
        let (got, _) = events.after(position, None);
        thread.join().unwrap();
        assert_eq!(got[0].action, "start");
    }
}
