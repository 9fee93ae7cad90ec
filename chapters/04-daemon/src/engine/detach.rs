//! Docker's detach keys, Ctrl-P Ctrl-Q or the client's own, spotted in typed input.
//!
//! On a terminal (`run -it`, `attach`, `exec -it`) the sequence ends the session and leaves
//! the container running. Both sides watch for it: the client (`final/`'s `berth`), and the
//! daemon, in the engine's attach and exec sessions with a terminal (`session.rs`,
//! `exec.rs`), whatever the client; the docker CLI leaves it to the daemon, sending the keys
//! its user chose (`detachKeys` on attach, `DetachKeys` in an exec's create). One filter serves both, so they cannot disagree about what the keys
//! are.

/// Ctrl-P, the first detach key.
pub const CTRL_P: u8 = 0x10;
/// Ctrl-Q, the second detach key.
pub const CTRL_Q: u8 = 0x11;

/// Detach keys the client asked for that are not keys (`detachKeys=ctrl-1`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid detach keys {keys:?}: {key:?} is neither one character nor ctrl-<letter, @, [, \\, ], ^ or _>"
)]
pub struct BadDetachKeys {
    /// The whole sequence as given.
    pub keys: String,
    /// The part of it that is not a key.
    pub key: String,
}

/// What to do with a piece of typed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keys {
    /// Send these bytes to the container (possibly none, while a partial sequence is held).
    Forward(Vec<u8>),
    /// The user typed the detach sequence: send these bytes, then leave. What followed the
    /// sequence in the same read is dropped.
    Detach(Vec<u8>),
}

// ANCHOR: detach_keys
/// Spots a detach sequence (Ctrl-P Ctrl-Q unless the client chose another) in typed input,
/// across reads.
///
/// Bytes that could begin the sequence are held back until the next ones say what they
/// were: completed, the sequence detaches and none of it reaches the container; broken off,
/// the held bytes were ordinary keys and are forwarded (as Docker does, so Ctrl-P still works
/// in `bash`).
#[derive(Debug)]
pub struct DetachKeys {
    sequence: Vec<u8>,
    held: Vec<u8>,
}

impl Default for DetachKeys {
    fn default() -> Self {
        DetachKeys {
            sequence: vec![CTRL_P, CTRL_Q],
            held: Vec::new(),
        }
    }
}

impl DetachKeys {
    /// Docker's default sequence, Ctrl-P Ctrl-Q.
    pub fn new() -> Self {
        DetachKeys::default()
    }

    /// A sequence in Docker's words (`--detach-keys`, `detachKeys` in `~/.docker/config.json`):
    /// keys separated by commas, each one character (`x`) or `ctrl-` and a letter or one of
    /// `@[\]^_` (`ctrl-x`), as in `ctrl-x,x`. Empty means the default.
    pub fn parse(keys: &str) -> Result<Self, BadDetachKeys> {
        if keys.is_empty() {
            return Ok(DetachKeys::new());
        }
        let sequence = keys
            .split(',')
            .map(|key| {
                key_code(key).ok_or_else(|| BadDetachKeys {
                    keys: keys.to_owned(),
                    key: key.to_owned(),
                })
            })
            .collect::<Result<Vec<u8>, _>>()?;
        Ok(DetachKeys {
            sequence,
            held: Vec::new(),
        })
    }

    /// Feeds the bytes of one read.
    pub fn feed(&mut self, input: &[u8]) -> Keys {
        let mut out = Vec::with_capacity(input.len() + self.held.len());
        for &byte in input {
            self.held.push(byte);
            // Let go of held bytes, oldest first, until what is left may begin the sequence.
            while !self.sequence.starts_with(&self.held) {
                out.push(self.held.remove(0));
            }
            if self.held == self.sequence {
                self.held.clear();
                return Keys::Detach(out);
            }
        }
        Keys::Forward(out)
    }
}
// ANCHOR_END: detach_keys

/// The byte of one key of a sequence: one character, or `ctrl-` and one of Docker's list
/// (`ctrl-@` is 0, `ctrl-a` 1, ... `ctrl-_` 31). Docker's names are lower case.
fn key_code(key: &str) -> Option<u8> {
    const CONTROLS: &[u8] = b"@abcdefghijklmnopqrstuvwxyz[\\]^_";
    match key.as_bytes() {
        [byte] => Some(*byte),
        [b'c', b't', b'r', b'l', b'-', name] => {
            let code = CONTROLS.iter().position(|c| c == name)?;
            u8::try_from(code).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_p_ctrl_q_detaches() {
        let mut keys = DetachKeys::new();
        assert_eq!(
            keys.feed(b"ls\r\x10\x11rest"),
            Keys::Detach(b"ls\r".to_vec())
        );
    }

    #[test]
    fn the_sequence_may_span_two_reads() {
        let mut keys = DetachKeys::new();
        assert_eq!(keys.feed(b"a\x10"), Keys::Forward(b"a".to_vec()));
        assert_eq!(keys.feed(b"\x11"), Keys::Detach(Vec::new()));
        // What follows the sequence in the same read is not forwarded.
        let mut keys = DetachKeys::new();
        assert_eq!(keys.feed(b"ab\x10"), Keys::Forward(b"ab".to_vec()));
        assert_eq!(keys.feed(b"\x11zz"), Keys::Detach(Vec::new()));
    }

    #[test]
    fn a_lone_ctrl_p_is_forwarded_with_the_next_key() {
        let mut keys = DetachKeys::new();
        assert_eq!(keys.feed(b"\x10"), Keys::Forward(Vec::new()));
        assert_eq!(keys.feed(b"x"), Keys::Forward(b"\x10x".to_vec()));
        // Ctrl-P Ctrl-P Ctrl-Q: the first is a key, the last two detach.
        assert_eq!(keys.feed(b"\x10\x10\x11"), Keys::Detach(b"\x10".to_vec()));
        // A trailing Ctrl-P is held, the ones before it passed on.
        let mut keys = DetachKeys::new();
        assert_eq!(
            keys.feed(b"\x10x\x10\x10"),
            Keys::Forward(b"\x10x\x10".to_vec())
        );
    }

    #[test]
    fn ctrl_q_alone_is_just_a_key() {
        let mut keys = DetachKeys::new();
        assert_eq!(keys.feed(b"\x11q"), Keys::Forward(b"\x11q".to_vec()));
    }

    #[test]
    fn a_custom_sequence_in_dockers_words() {
        let mut keys = DetachKeys::parse("ctrl-x,x").expect("valid keys");
        assert_eq!(keys.feed(b"a\x18b"), Keys::Forward(b"a\x18b".to_vec()));
        assert_eq!(keys.feed(b"\x18"), Keys::Forward(Vec::new()));
        assert_eq!(keys.feed(b"x"), Keys::Detach(Vec::new()));
        // The default no longer detaches.
        let mut keys = DetachKeys::parse("ctrl-x,x").expect("valid keys");
        assert_eq!(keys.feed(b"\x10\x11"), Keys::Forward(b"\x10\x11".to_vec()));
        // A sequence that overlaps itself: "a,a,b" in "aaab".
        let mut keys = DetachKeys::parse("a,a,b").expect("valid keys");
        assert_eq!(keys.feed(b"aaab"), Keys::Detach(b"a".to_vec()));
        assert_eq!(
            DetachKeys::parse("ctrl-@,ctrl-_,ctrl-[").map(|k| k.sequence),
            Ok(vec![0, 31, 27])
        );
        assert_eq!(
            DetachKeys::parse("").map(|k| k.sequence),
            Ok(vec![CTRL_P, CTRL_Q])
        );
    }

    #[test]
    fn keys_that_are_not_keys_are_refused_by_name() {
        for (keys, bad) in [
            ("ctrl-1", "ctrl-1"),
            ("ctrl-p,,q", ""),
            ("ab", "ab"),
            ("CTRL-P", "CTRL-P"),
        ] {
            let error = DetachKeys::parse(keys).expect_err(keys);
            assert_eq!(error.key, bad, "{keys}");
            assert!(error.to_string().contains(keys), "{error}");
        }
    }
}
