//! Docker's detach keys, Ctrl-P Ctrl-Q, spotted in typed input.
//!
//! On a terminal (`run -it`, `attach`, `exec -it`) the sequence ends the session and leaves
//! the container running. Both sides watch for it: the client (`final/`'s `berth`), and the
//! daemon, in the engine's attach sessions of containers with a terminal (`session.rs`),
//! whatever the client. One filter serves both, so they cannot disagree about what the keys
//! are.

/// Ctrl-P, the first detach key.
pub const CTRL_P: u8 = 0x10;
/// Ctrl-Q, the second detach key.
pub const CTRL_Q: u8 = 0x11;

/// What to do with a piece of typed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keys {
    /// Send these bytes to the container (possibly none, while a Ctrl-P is held back).
    Forward(Vec<u8>),
    /// The user typed the detach sequence: send these bytes, then leave. What followed the
    /// sequence in the same read is dropped.
    Detach(Vec<u8>),
}

/// Spots Ctrl-P Ctrl-Q in typed input, across reads.
///
/// A Ctrl-P is held back until the next byte says what it was: followed by Ctrl-Q it is the
/// detach sequence and neither key reaches the container; followed by anything else it was
/// an ordinary key, and both are forwarded (as Docker does, so Ctrl-P still works in `bash`).
#[derive(Debug, Default)]
pub struct DetachKeys {
    holding: bool,
}

impl DetachKeys {
    /// A detector with nothing held.
    pub fn new() -> Self {
        DetachKeys::default()
    }

    /// Feeds the bytes of one read.
    pub fn feed(&mut self, input: &[u8]) -> Keys {
        let mut out = Vec::with_capacity(input.len() + 1);
        for &byte in input {
            if self.holding {
                self.holding = false;
                if byte == CTRL_Q {
                    return Keys::Detach(out);
                }
                out.push(CTRL_P);
            }
            if byte == CTRL_P {
                self.holding = true;
            } else {
                out.push(byte);
            }
        }
        Keys::Forward(out)
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
}
