//! # Entry names: from what the tar says to a path inside the layer
//!
//! A tar entry's name is whatever bytes its writer chose. Docker cleans it the way Go's
//! `filepath.Clean` does, strips a leading `/` (a layer is always relative to its root), and
//! refuses a name that would climb above the root. Berth does the same with one difference:
//! it refuses *every* `..` component, not only one that climbs out. `a/../b` means `b` to a
//! string function but something else to the kernel when `a` is a symlink, and no tool that
//! writes layers (docker, buildah, umoci, BuildKit) ever puts `..` in a name, so refusing it
//! loses nothing and leaves one meaning for every name.
//!
//! These checks are only the first line. They cannot see symlinks: `lib -> /etc` followed by
//! `lib/passwd` is a perfectly clean name. The second line, where the kernel resolves every
//! path beneath the layer's root, is in `beneath.rs`.

use super::Refusal;

/// A cleaned entry name: zero or more non-empty components, none of them `.` or `..`, joined
/// by `/`. Zero components name the layer's root (a tar's `./` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryPath {
    joined: Vec<u8>,
    /// Where the last `/` is in `joined`, if there is more than one component.
    last_slash: Option<usize>,
}

impl EntryPath {
    // ANCHOR: entry_path_parse
    /// Cleans a raw tar name, or says why it cannot be unpacked.
    pub(crate) fn parse(raw: &[u8]) -> Result<EntryPath, Refusal> {
        if raw.is_empty() {
            return Err(Refusal::EmptyName);
        }
        // The header's name field ends at the first NUL, but PAX and GNU long names can carry
        // one, and the kernel would silently cut the name there.
        if raw.contains(&0) {
            return Err(Refusal::NulByte);
        }
        let mut joined = Vec::with_capacity(raw.len());
        let mut last_slash = None;
        for component in raw.split(|&b| b == b'/') {
            match component {
                b"" | b"." => continue,
                b".." => return Err(Refusal::DotDot),
                _ => {}
            }
            if !joined.is_empty() {
                last_slash = Some(joined.len());
                joined.push(b'/');
            }
            joined.extend_from_slice(component);
        }
        Ok(EntryPath { joined, last_slash })
    }
    // ANCHOR_END: entry_path_parse

    /// True for the layer's root itself (`./`, `/`).
    pub(crate) fn is_root(&self) -> bool {
        self.joined.is_empty()
    }

    /// The whole relative path, `a/b/c`.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.joined
    }

    /// The directory that holds the entry, `a/b` (empty for the root's children).
    pub(crate) fn parent(&self) -> &[u8] {
        match self.last_slash {
            Some(i) => &self.joined[..i],
            None => b"",
        }
    }

    /// The last component, `c` (empty for the root).
    pub(crate) fn name(&self) -> &[u8] {
        match self.last_slash {
            Some(i) => &self.joined[i + 1..],
            None => &self.joined,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(raw: &str) -> (String, String) {
        let path = EntryPath::parse(raw.as_bytes()).unwrap();
        (
            String::from_utf8(path.parent().to_vec()).unwrap(),
            String::from_utf8(path.name().to_vec()).unwrap(),
        )
    }

    #[test]
    fn cleans_like_docker() {
        assert_eq!(parts("etc/passwd"), ("etc".into(), "passwd".into()));
        assert_eq!(parts("./etc/passwd"), ("etc".into(), "passwd".into()));
        assert_eq!(parts("/etc/passwd"), ("etc".into(), "passwd".into()));
        assert_eq!(parts("//etc//./ssl/"), ("etc".into(), "ssl".into()));
        assert_eq!(parts("bin"), ("".into(), "bin".into()));
        assert!(EntryPath::parse(b"./").unwrap().is_root());
        assert!(EntryPath::parse(b"/").unwrap().is_root());
        assert!(EntryPath::parse(b".").unwrap().is_root());
        assert_eq!(EntryPath::parse(b"a/./b/").unwrap().as_bytes(), b"a/b");
    }

    #[test]
    fn refuses_what_cannot_be_a_path_inside() {
        assert_eq!(EntryPath::parse(b""), Err(Refusal::EmptyName));
        assert_eq!(EntryPath::parse(b"a\0b"), Err(Refusal::NulByte));
        for bad in ["..", "../x", "a/../../x", "a/../b", "/../x", "a/.."] {
            assert_eq!(
                EntryPath::parse(bad.as_bytes()),
                Err(Refusal::DotDot),
                "{bad}"
            );
        }
        // Dots that are not a whole component are ordinary names.
        assert_eq!(parts("a/..b"), ("a".into(), "..b".into()));
        assert_eq!(parts(".../x"), ("...".into(), "x".into()));
    }
}
