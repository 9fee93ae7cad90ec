//! # Compression: recognising a layer by its first bytes
//!
//! A layer blob is a tar, usually gzip-compressed, lately often zstd. The manifest's media type
//! says which (`application/vnd.oci.image.layer.v1.tar+gzip`, `…+zstd`, `…tar`), but Docker does
//! not trust it: `docker load` and the layer store look at the stream's magic bytes
//! (`DecompressStream` in Docker's `pkg/archive`), so a mislabelled layer still unpacks. Berth
//! does the same: it reads the first bytes, puts them back in front of the stream, and picks a
//! decoder.

use std::io::{self, Chain, Cursor, Read, Take};

use flate2::read::MultiGzDecoder;

/// How a layer's tar was compressed, as recognised from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (RFC 1952), starting with `1f 8b`.
    Gzip,
    /// zstd (RFC 8878), starting with `28 b5 2f fd`.
    Zstd,
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// The first bytes of a stream, read off to look at them and then given back.
type Sniffed<R> = Chain<Take<Cursor<[u8; MAGIC_LEN]>>, R>;

/// Enough bytes for the longest magic we look at (xz's six).
const MAGIC_LEN: usize = 6;

/// A decompressing reader for whichever format the stream turned out to be.
pub(crate) enum Decoder<R: Read> {
    Plain(Sniffed<R>),
    Gzip(Box<MultiGzDecoder<Sniffed<R>>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, io::BufReader<Sniffed<R>>>>),
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(inner) => inner.read(buf),
            Decoder::Gzip(inner) => inner.read(buf),
            Decoder::Zstd(inner) => inner.read(buf),
        }
    }
}

/// Why a stream could not be given a decoder.
pub(crate) enum DetectError {
    /// Reading the first bytes failed.
    Read(io::Error),
    /// A format that real layers may use but this chapter does not decode.
    Unsupported(&'static str),
}

/// Looks at the first bytes of `stream` and returns the matching decoder.
pub(crate) fn detect<R: Read>(mut stream: R) -> Result<(Compression, Decoder<R>), DetectError> {
    let mut magic = [0u8; MAGIC_LEN];
    let mut filled = 0;
    // One read may return fewer bytes than asked (a pipe, a socket): loop until we have the
    // magic or the stream ends.
    while filled < MAGIC_LEN {
        match stream.read(&mut magic[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(DetectError::Read(err)),
        }
    }
    let head = &magic[..filled];
    let sniffed = Cursor::new(magic).take(filled as u64).chain(stream);
    if head.starts_with(&[0x1f, 0x8b]) {
        // Multi-member: `pigz` and concatenated gzip files are one stream of several
        // members, and Go's gzip reader (Docker's) reads them all.
        Ok((
            Compression::Gzip,
            Decoder::Gzip(Box::new(MultiGzDecoder::new(sniffed))),
        ))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::new(sniffed).map_err(DetectError::Read)?;
        Ok((Compression::Zstd, Decoder::Zstd(Box::new(decoder))))
    } else if head.starts_with(b"BZh") {
        Err(DetectError::Unsupported("bzip2"))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Err(DetectError::Unsupported("xz"))
    } else {
        Ok((Compression::None, Decoder::Plain(sniffed)))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn roundtrip(stream: Vec<u8>) -> (Compression, Vec<u8>) {
        let Ok((kind, mut decoder)) = detect(&stream[..]) else {
            panic!("detect failed");
        };
        let mut out = Vec::new();
        decoder.read_to_end(&mut out).unwrap();
        (kind, out)
    }

    #[test]
    fn recognises_each_format_and_gives_back_the_bytes() {
        let plain = b"plain bytes, longer than the magic".to_vec();
        assert_eq!(roundtrip(plain.clone()), (Compression::None, plain.clone()));
        assert_eq!(
            roundtrip(b"ab".to_vec()),
            (Compression::None, b"ab".to_vec())
        );
        assert_eq!(roundtrip(Vec::new()), (Compression::None, Vec::new()));

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let mut two_members = gz.finish().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b" and more").unwrap();
        two_members.extend(gz.finish().unwrap());
        let mut expected = plain.clone();
        expected.extend_from_slice(b" and more");
        assert_eq!(roundtrip(two_members), (Compression::Gzip, expected));

        let zst = zstd::encode_all(&plain[..], 1).unwrap();
        assert_eq!(roundtrip(zst), (Compression::Zstd, plain));
    }

    #[test]
    fn names_formats_it_does_not_decode() {
        assert!(matches!(
            detect(&b"BZh91AY&SY"[..]),
            Err(DetectError::Unsupported("bzip2"))
        ));
        assert!(matches!(
            detect(&b"\xfd7zXZ\x00\x00"[..]),
            Err(DetectError::Unsupported("xz"))
        ));
    }
}
