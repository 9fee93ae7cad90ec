//! # Where a layer ends
//!
//! A tar is a sequence of 512-byte blocks: a header, the entry's data padded up to a whole
//! block, the next header, … and at the end two blocks of zeros. Real tools cut corners:
//! `umoci insert` 0.4.7 never closes its tar writer, so its layers stop right after the last
//! entry's data, without the padding and without the two zero blocks. GNU tar refuses such a
//! file ("Unexpected EOF in archive"), and so does the `tar` crate ("unexpected EOF during
//! skip", when it tries to skip the missing padding). Nothing is lost, though: every entry is
//! complete. Docker accepts these layers, so Berth must too.
//!
//! A stream that stops in the *middle* of an entry is another matter: a file would be
//! silently short. So the rule is: the stream may end at a block boundary after a complete
//! entry, or anywhere inside the padding of the last entry, if that entry's data was read in
//! full. Anywhere else is a truncated archive, and an error.
//!
//! To apply the rule we must know where the stream ended, but the `tar` crate owns the reader
//! while it iterates, so [`Tracked`] shares the position and the end-of-file flag through an
//! `Rc` with the unpacking loop.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// The size of a tar block.
const BLOCK: u64 = 512;

/// How far the tar stream has been read, and whether it has ended.
#[derive(Default)]
pub(crate) struct Position {
    offset: Cell<u64>,
    at_eof: Cell<bool>,
}

impl Position {
    /// True if the stream ended inside the padding after the data of a complete entry whose
    /// data ends at `data_end`: the `umoci` case, which loses nothing.
    pub(crate) fn ended_in_padding_after(&self, data_end: u64) -> bool {
        let padded_end = data_end.div_ceil(BLOCK).saturating_mul(BLOCK);
        let offset = self.offset.get();
        self.at_eof.get() && offset >= data_end && offset < padded_end
    }
}

/// A reader that records in a shared [`Position`] how far it got.
pub(crate) struct Tracked<R> {
    inner: R,
    position: Rc<Position>,
}

impl<R: Read> Tracked<R> {
    /// Wraps `inner`, recording into `position`.
    pub(crate) fn new(inner: R, position: Rc<Position>) -> Tracked<R> {
        Tracked { inner, position }
    }

    /// Gives back the wrapped reader.
    pub(crate) fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.position.at_eof.set(true);
        }
        self.position
            .offset
            .set(self.position.offset.get() + n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all_of(len: usize) -> Rc<Position> {
        let position = Rc::new(Position::default());
        let data = vec![7u8; len];
        let mut tracked = Tracked::new(&data[..], position.clone());
        io::copy(&mut tracked, &mut io::sink()).unwrap();
        position
    }

    #[test]
    fn a_stream_may_end_inside_the_padding_of_a_complete_entry() {
        // Header (512) + 5 bytes of data, as `umoci insert` writes it.
        assert!(read_all_of(517).ended_in_padding_after(517));
        // Part of the padding is there.
        assert!(read_all_of(600).ended_in_padding_after(517));
        // The data itself is cut short.
        assert!(!read_all_of(516).ended_in_padding_after(517));
        // A whole block boundary is the tar crate's own clean end, not ours to excuse.
        assert!(!read_all_of(1024).ended_in_padding_after(517));
        // Data that ends on a block boundary has no padding to miss.
        assert!(!read_all_of(1024).ended_in_padding_after(1024));
    }

    #[test]
    fn not_at_eof_is_never_an_end() {
        let position = Rc::new(Position::default());
        let data = vec![0u8; 600];
        let mut tracked = Tracked::new(&data[..], position.clone());
        let mut buf = [0u8; 520];
        tracked.read_exact(&mut buf).unwrap();
        assert!(!position.ended_in_padding_after(517));
    }
}
