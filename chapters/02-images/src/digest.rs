//! # Digests: naming content by its hash
//!
//! Docker names every blob of an image (the manifest, the config, each layer) by the sha256 of
//! its bytes, written `sha256:` and 64 lower-case hex digits. The name *is* the check: whoever
//! hands you a blob under a digest can be verified, so a registry, a mirror or a file on disk
//! needs no trust. An image's id is the digest of its config, and the config lists each layer's
//! `diff_id`: the digest of the layer's *uncompressed* tar, so that the same files give the same
//! id whatever compression carried them.
//!
//! Blobs can be large, so the hash is computed while the bytes stream past on their way
//! somewhere else ([`HashingReader`], [`HashingWriter`]): one pass reads, hashes and unpacks.
//! Only when the stream ends is the digest known, and only then may the result be trusted
//! ([`Digest::verify`]): Docker writes to a temporary name and renames after the check.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::Digest as _;
use sha2::Sha256;
use thiserror::Error;

/// The only algorithm Docker and OCI images use in practice (the OCI spec also registers
/// sha512, which no registry we target serves).
pub const ALGORITHM: &str = "sha256";

/// Number of hex digits in a sha256 digest.
const HEX_LEN: usize = 64;

/// A parse failure or a verification failure.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DigestError {
    /// No `algorithm:` prefix.
    #[error("digest {input:?} has no algorithm: expected sha256:<64 hex digits>")]
    MissingAlgorithm {
        /// The text that was parsed.
        input: String,
    },
    /// An algorithm other than sha256.
    #[error("digest {input:?} uses algorithm {algorithm:?}: only sha256 is supported")]
    UnsupportedAlgorithm {
        /// The text that was parsed.
        input: String,
        /// The part before the colon.
        algorithm: String,
    },
    /// The hex part is not 64 characters long.
    #[error("digest {input:?} has {len} hex digits: sha256 has 64")]
    WrongLength {
        /// The text that was parsed.
        input: String,
        /// How many characters followed the colon.
        len: usize,
    },
    /// The hex part has a character other than `0-9a-f`.
    #[error("digest {input:?} is not lower-case hex after `sha256:`")]
    NotHex {
        /// The text that was parsed.
        input: String,
    },
    /// The content does not hash to the digest it was announced with.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// The digest the content was announced with.
        expected: Digest,
        /// The digest the content actually has.
        actual: Digest,
    },
}

/// A sha256 content digest, written `sha256:<64 lower-case hex digits>`.
///
/// Parse one with [`str::parse`]; compute one with [`Digest::of`] or a [`HashingReader`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest(Sha256::digest(data).into())
    }

    /// A digest from the 32 raw bytes of a sha256 hash.
    pub fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    /// The 32 raw bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 hex digits, without the `sha256:` prefix: the name of a blob's file in a store.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// The first 12 hex digits: what `docker images` shows as an image id.
    pub fn short(&self) -> String {
        let mut text = self.hex();
        text.truncate(12);
        text
    }

    /// Checks that `actual` (computed from the content) is this digest (the one announced).
    // EXERCISE: Ok if the digests are equal, else DigestError::Mismatch naming the expected (self) and the actual digest
    pub fn verify(&self, actual: &Digest) -> Result<(), DigestError> {
        if self == actual {
            Ok(())
        } else {
            Err(DigestError::Mismatch {
                expected: *self,
                actual: *actual,
            })
        }
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(input: &str) -> Result<Digest, DigestError> {
        let Some((algorithm, encoded)) = input.split_once(':') else {
            return Err(DigestError::MissingAlgorithm {
                input: input.to_owned(),
            });
        };
        if algorithm != ALGORITHM {
            return Err(DigestError::UnsupportedAlgorithm {
                input: input.to_owned(),
                algorithm: algorithm.to_owned(),
            });
        }
        // Count characters, not bytes, so that a multi-byte character is reported as not hex
        // rather than as a confusing length.
        let len = encoded.chars().count();
        if len == HEX_LEN && !encoded.is_ascii() {
            return Err(DigestError::NotHex {
                input: input.to_owned(),
            });
        }
        if len != HEX_LEN {
            return Err(DigestError::WrongLength {
                input: input.to_owned(),
                len,
            });
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(encoded.as_bytes().chunks_exact(2)) {
            match (hex_value(pair[0]), hex_value(pair[1])) {
                (Some(high), Some(low)) => *byte = high << 4 | low,
                _ => {
                    return Err(DigestError::NotHex {
                        input: input.to_owned(),
                    });
                }
            }
        }
        Ok(Digest(bytes))
    }
}

/// The value of one lower-case hex digit. Upper case is refused: the OCI image spec allows
/// only `[a-f0-9]` for sha256, so that one blob has exactly one name.
fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ALGORITHM}:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// Lower-case hex of `bytes`.
///
/// sha2 0.11 changed how `{:x}` formats a hash output, so Berth writes its own: two digits per
/// byte, high nibble first.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

// ANCHOR: hashing_reader_struct
/// A reader that hashes every byte it passes on.
///
/// Put it where the bytes whose digest you want flow: over the compressed stream to check a
/// blob's digest, over the decompressed stream to compute a layer's `diff_id`.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}
// ANCHOR_END: hashing_reader_struct

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// How many bytes have been read so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }

    /// The digest of the bytes read so far (the hashing can go on).
    pub fn digest(&self) -> Digest {
        Digest(self.hasher.clone().finalize().into())
    }

    /// Reads what is left to the end of the stream, so the digest covers the whole of it.
    pub fn drain(&mut self) -> io::Result<u64> {
        io::copy(self, &mut io::sink())
    }

    /// Checks the bytes read so far against `expected`.
    pub fn verify(&self, expected: &Digest) -> Result<(), DigestError> {
        expected.verify(&self.digest())
    }

    /// Gives back the wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

// ANCHOR: hashing_reader_read
impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}
// ANCHOR_END: hashing_reader_read

/// A writer that hashes every byte written through it: for storing a blob while computing its
/// digest.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// How many bytes have been written so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }

    /// The digest of the bytes written so far.
    pub fn digest(&self) -> Digest {
        Digest(self.hasher.clone().finalize().into())
    }

    /// Checks the bytes written so far against `expected`.
    pub fn verify(&self, expected: &Digest) -> Result<(), DigestError> {
        expected.verify(&self.digest())
    }

    /// Gives back the wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Hash only what the inner writer accepted, so a short write cannot skew the digest.
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sha256 of the empty string, from FIPS 180-2 test vectors.
    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn known_vectors() {
        assert_eq!(Digest::of(b"").to_string(), EMPTY);
        assert_eq!(
            Digest::of(b"abc").to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parse_round_trips() {
        let digest: Digest = EMPTY.parse().unwrap();
        assert_eq!(digest, Digest::of(b""));
        assert_eq!(digest.to_string(), EMPTY);
        assert_eq!(digest.short(), "e3b0c44298fc");
        assert_eq!(digest.hex().len(), 64);
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        type Check = fn(&DigestError) -> bool;
        let cases: [(&str, Check); 6] = [
            ("e3b0c442", |e| {
                matches!(e, DigestError::MissingAlgorithm { .. })
            }),
            (
                "sha512:abcd",
                |e| matches!(e, DigestError::UnsupportedAlgorithm { algorithm, .. } if algorithm == "sha512"),
            ),
            ("sha256:abcd", |e| {
                matches!(e, DigestError::WrongLength { len: 4, .. })
            }),
            ("sha256:", |e| {
                matches!(e, DigestError::WrongLength { len: 0, .. })
            }),
            (&EMPTY.replace('e', "E"), |e| {
                matches!(e, DigestError::NotHex { .. })
            }),
            (&EMPTY.replace('e', "g"), |e| {
                matches!(e, DigestError::NotHex { .. })
            }),
        ];
        for (input, check) in cases {
            let err = input.parse::<Digest>().unwrap_err();
            assert!(check(&err), "{input}: {err}");
            assert!(err.to_string().contains(input), "{err} names {input}");
        }
        // 64 characters, but one of them is two bytes long.
        let multibyte = format!("sha256:{}é", &EMPTY[7..70]);
        assert!(matches!(
            multibyte.parse::<Digest>(),
            Err(DigestError::NotHex { .. })
        ));
    }

    #[test]
    fn hashing_reader_and_writer_agree_with_one_shot() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut reader = HashingReader::new(&data[..]);
        let mut copy = HashingWriter::new(Vec::new());
        let mut small = [0u8; 777];
        loop {
            let n = reader.read(&mut small).unwrap();
            if n == 0 {
                break;
            }
            copy.write_all(&small[..n]).unwrap();
        }
        assert_eq!(reader.digest(), Digest::of(&data));
        assert_eq!(copy.digest(), Digest::of(&data));
        assert_eq!(reader.byte_count(), data.len() as u64);
        assert_eq!(copy.into_inner(), data);
    }

    #[test]
    fn verify_names_expected_and_actual() {
        let expected = Digest::of(b"announced");
        let mut reader = HashingReader::new(&b"delivered"[..]);
        reader.drain().unwrap();
        let err = reader.verify(&expected).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&expected.to_string()), "{text}");
        assert!(
            text.contains(&Digest::of(b"delivered").to_string()),
            "{text}"
        );
        assert!(expected.verify(&Digest::of(b"announced")).is_ok());
    }
}
