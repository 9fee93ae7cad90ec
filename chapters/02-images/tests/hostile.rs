//! A corpus of hostile layers. Each must be refused with an error naming the entry, and must
//! leave everything outside the layer's directory as it was: the sandbox's `outside/victim`
//! is the file each one aims at.

mod common;

use berth_images::{Refusal, UnpackError};
use common::{Layer, Meta, Sandbox, VICTIM_CONTENT};
use tar::EntryType;

fn link_target(target: &str, reason: Refusal) -> Refusal {
    Refusal::LinkTarget {
        target: target.to_owned(),
        reason: Box::new(reason),
    }
}

// Names that climb.

#[test]
fn dotdot_name() {
    let sandbox = Sandbox::new("hostile-dotdot");
    let archive = Layer::new().file("../outside/evil", b"x").finish();
    sandbox.assert_refused(&archive, "../outside/evil", Refusal::DotDot);
}

#[test]
fn dotdot_deeper_in_the_name() {
    let sandbox = Sandbox::new("hostile-dotdot-deep");
    let archive = Layer::new()
        .dir("a/")
        .file("a/../../outside/evil", b"x")
        .finish();
    sandbox.assert_refused(&archive, "a/../../outside/evil", Refusal::DotDot);
}

#[test]
fn dotdot_that_would_stay_inside_is_refused_too() {
    // Berth refuses every `..`, not only those that climb out (see name.rs).
    let sandbox = Sandbox::new("hostile-dotdot-inside");
    let archive = Layer::new().dir("a/").file("a/../b", b"x").finish();
    sandbox.assert_refused(&archive, "a/../b", Refusal::DotDot);
}

#[test]
fn absolute_dotdot() {
    let sandbox = Sandbox::new("hostile-abs-dotdot");
    let archive = Layer::new().file("/../outside/evil", b"x").finish();
    sandbox.assert_refused(&archive, "/../outside/evil", Refusal::DotDot);
}

#[test]
fn dotdot_in_a_pax_path() {
    let sandbox = Sandbox::new("hostile-pax-dotdot");
    let meta = Meta {
        pax: vec![("path".into(), b"../outside/evil".to_vec())],
        ..Meta::default()
    };
    let archive = Layer::new().file_with("harmless", b"x", &meta).finish();
    sandbox.assert_refused(&archive, "../outside/evil", Refusal::DotDot);
}

#[test]
fn dotdot_in_a_gnu_long_name() {
    let sandbox = Sandbox::new("hostile-gnu-dotdot");
    let long = format!("{}/../../outside/evil", "d".repeat(120));
    let archive = Layer::new()
        .gnu_long_name(long.as_bytes())
        .file("harmless", b"x")
        .finish();
    sandbox.assert_refused(&archive, &long, Refusal::DotDot);
}

#[test]
fn absolute_name_is_kept_inside() {
    // Docker's rule, and Berth's: `/x` in a layer means the layer's `x`.
    let sandbox = Sandbox::new("hostile-absolute");
    let aimed = format!("{}/evil", sandbox.outside_str());
    let archive = Layer::new().file(&aimed, b"inside").finish();
    sandbox.unpack(&archive).unwrap();
    let landed = sandbox.dest.join(aimed.trim_start_matches('/'));
    assert_eq!(std::fs::read(landed).unwrap(), b"inside");
    sandbox.assert_outside_untouched();
}

// Names that are not names.

#[test]
fn empty_name() {
    let sandbox = Sandbox::new("hostile-empty");
    let archive = Layer::new()
        .raw(b"", EntryType::Regular, b"", b"x", &Meta::default())
        .finish();
    sandbox.assert_refused(&archive, "", Refusal::EmptyName);
}

#[test]
fn nul_byte_in_a_pax_path() {
    let sandbox = Sandbox::new("hostile-nul");
    let meta = Meta {
        pax: vec![("path".into(), b"ok\0/../../outside/evil".to_vec())],
        ..Meta::default()
    };
    let archive = Layer::new().file_with("harmless", b"x", &meta).finish();
    sandbox.assert_refused(&archive, "ok\0/../../outside/evil", Refusal::NulByte);
}

#[test]
fn a_file_named_like_the_root() {
    // (`./` as a regular file would be an old-style directory: see `unpack.rs`.)
    let sandbox = Sandbox::new("hostile-root-file");
    let archive = Layer::new().file(".", b"x").finish();
    sandbox.assert_refused(&archive, ".", Refusal::ReplacesRoot);
    let sandbox = Sandbox::new("hostile-root-symlink");
    let archive = Layer::new().symlink("/", "../outside").finish();
    sandbox.assert_refused(&archive, "/", Refusal::ReplacesRoot);
}

// Symlinks, then an entry written through them.

#[test]
fn write_through_an_absolute_symlink() {
    let sandbox = Sandbox::new("hostile-symlink-abs");
    let archive = Layer::new()
        .symlink("link", &sandbox.outside_str())
        .file("link/evil", b"x")
        .finish();
    sandbox.assert_refused(&archive, "link/evil", Refusal::Escapes);
}

#[test]
fn write_through_a_relative_symlink() {
    let sandbox = Sandbox::new("hostile-symlink-rel");
    let archive = Layer::new()
        .symlink("link", "../outside")
        .file("link/evil", b"x")
        .finish();
    sandbox.assert_refused(&archive, "link/evil", Refusal::Escapes);
}

#[test]
fn write_through_a_symlink_deep_in_the_tree() {
    let sandbox = Sandbox::new("hostile-symlink-deep");
    let archive = Layer::new()
        .dir("a/")
        .dir("a/b/")
        .symlink("a/b/up", "../../..")
        .file("a/b/up/outside/evil", b"x")
        .finish();
    sandbox.assert_refused(&archive, "a/b/up/outside/evil", Refusal::Escapes);
}

#[test]
fn write_through_a_chain_of_symlinks() {
    let sandbox = Sandbox::new("hostile-symlink-chain");
    let archive = Layer::new()
        .symlink("a", "b")
        .symlink("b", "../outside")
        .file("a/evil", b"x")
        .finish();
    sandbox.assert_refused(&archive, "a/evil", Refusal::Escapes);
}

#[test]
fn write_through_a_proc_magic_link() {
    let sandbox = Sandbox::new("hostile-magiclink");
    let archive = Layer::new()
        .symlink("p", "/proc/self/cwd")
        .file("p/evil", b"x")
        .finish();
    sandbox.assert_refused(&archive, "p/evil", Refusal::Escapes);
}

#[test]
fn directory_created_through_a_symlink() {
    let sandbox = Sandbox::new("hostile-symlink-dir");
    let archive = Layer::new()
        .symlink("link", "../outside")
        .dir("link/sub/")
        .finish();
    sandbox.assert_refused(&archive, "link/sub/", Refusal::Escapes);
}

#[test]
fn parent_directory_implied_through_a_symlink() {
    let sandbox = Sandbox::new("hostile-symlink-implied");
    let archive = Layer::new()
        .symlink("link", "../outside")
        .file("link/new/dir/evil", b"x")
        .finish();
    sandbox.assert_refused(&archive, "link/new/dir/evil", Refusal::Escapes);
}

#[test]
fn device_node_through_a_symlink() {
    let sandbox = Sandbox::new("hostile-symlink-dev");
    let meta = Meta {
        device: (1, 3),
        ..Meta::default()
    };
    let archive = Layer::new()
        .symlink("link", "../outside")
        .raw(b"link/null", EntryType::Char, b"", b"", &meta)
        .finish();
    sandbox.assert_refused(&archive, "link/null", Refusal::Escapes);
}

#[test]
fn symlink_loop_is_an_error_not_a_hang() {
    let sandbox = Sandbox::new("hostile-symlink-loop");
    let archive = Layer::new().symlink("a", "a").file("a/x", b"x").finish();
    let err = sandbox.unpack(&archive).unwrap_err();
    assert_eq!(err.entry(), Some("a/x"), "{err}");
    sandbox.assert_outside_untouched();
}

#[test]
fn a_file_over_a_symlink_replaces_the_symlink() {
    // Not refused (Docker replaces it too), but the symlink must not be followed.
    let sandbox = Sandbox::new("hostile-file-over-symlink");
    let archive = Layer::new()
        .symlink("link", "../outside/victim")
        .file("link", b"pwned")
        .symlink("abs", &format!("{}/victim", sandbox.outside_str()))
        .file("abs", b"pwned")
        .finish();
    sandbox.unpack(&archive).unwrap();
    for name in ["link", "abs"] {
        let path = sandbox.dest.join(name);
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(std::fs::read(&path).unwrap(), b"pwned");
    }
    sandbox.assert_outside_untouched();
}

// Hard links.

#[test]
fn hard_link_that_climbs() {
    let sandbox = Sandbox::new("hostile-hardlink-dotdot");
    let archive = Layer::new().hardlink("hl", "../outside/victim").finish();
    sandbox.assert_refused(
        &archive,
        "hl",
        link_target("../outside/victim", Refusal::DotDot),
    );
}

#[test]
fn hard_link_to_an_absolute_path_stays_inside() {
    // `/…/outside/victim` means the layer's `…/outside/victim`, which does not exist.
    let sandbox = Sandbox::new("hostile-hardlink-abs");
    let target = format!("{}/victim", sandbox.outside_str());
    let archive = Layer::new().hardlink("hl", &target).finish();
    let err = sandbox.unpack(&archive).unwrap_err();
    assert_eq!(err.entry(), Some("hl"), "{err}");
    assert!(matches!(err, UnpackError::Entry { .. }), "{err}");
    sandbox.assert_outside_untouched();
}

#[test]
fn hard_link_through_a_symlink_that_points_out() {
    let sandbox = Sandbox::new("hostile-hardlink-symlink");
    let archive = Layer::new()
        .symlink("link", "../outside")
        .hardlink("hl", "link/victim")
        .finish();
    sandbox.assert_refused(&archive, "hl", link_target("link/victim", Refusal::Escapes));
}

#[test]
fn hard_link_in_a_pax_linkpath() {
    let sandbox = Sandbox::new("hostile-hardlink-pax");
    let meta = Meta {
        pax: vec![("linkpath".into(), b"../outside/victim".to_vec())],
        ..Meta::default()
    };
    let archive = Layer::new()
        .raw(b"hl", EntryType::Link, b"harmless", b"", &meta)
        .finish();
    sandbox.assert_refused(
        &archive,
        "hl",
        link_target("../outside/victim", Refusal::DotDot),
    );
}

#[test]
fn hard_link_to_a_symlink_links_the_symlink_itself() {
    let sandbox = Sandbox::new("hostile-hardlink-to-symlink");
    let archive = Layer::new()
        .symlink("s", "../outside/victim")
        .hardlink("hl", "s")
        .finish();
    sandbox.unpack(&archive).unwrap();
    let hl = std::fs::symlink_metadata(sandbox.dest.join("hl")).unwrap();
    assert!(hl.file_type().is_symlink());
    sandbox.assert_outside_untouched();
}

#[test]
fn hard_link_to_a_directory_is_an_error() {
    let sandbox = Sandbox::new("hostile-hardlink-dir");
    let archive = Layer::new().dir("d/").hardlink("hl", "d").finish();
    let err = sandbox.unpack(&archive).unwrap_err();
    assert_eq!(err.entry(), Some("hl"), "{err}");
    sandbox.assert_outside_untouched();
}

// Replacing a directory.

#[test]
fn directory_replaced_by_a_symlink() {
    let sandbox = Sandbox::new("hostile-dir-to-symlink");
    let archive = Layer::new()
        .dir("d/")
        .file("d/keep", b"x")
        .symlink("d", "../outside")
        .file("d/evil", b"x")
        .finish();
    sandbox.assert_refused(&archive, "d", Refusal::ReplacesDirectory);
    assert_eq!(std::fs::read(sandbox.dest.join("d/keep")).unwrap(), b"x");
}

#[test]
fn directory_replaced_by_a_file() {
    let sandbox = Sandbox::new("hostile-dir-to-file");
    let archive = Layer::new().dir("d/").file("d", b"x").finish();
    sandbox.assert_refused(&archive, "d", Refusal::ReplacesDirectory);
}

#[test]
fn directory_replaced_by_a_hard_link() {
    let sandbox = Sandbox::new("hostile-dir-to-hardlink");
    let archive = Layer::new()
        .file("f", b"x")
        .dir("d/")
        .hardlink("d", "f")
        .finish();
    sandbox.assert_refused(&archive, "d", Refusal::ReplacesDirectory);
}

#[test]
fn directory_replaced_by_a_whiteout_in_the_same_layer() {
    let sandbox = Sandbox::new("hostile-dir-to-whiteout");
    let archive = Layer::new().dir("d/").file(".wh.d", b"").finish();
    sandbox.assert_refused(&archive, ".wh.d", Refusal::ReplacesDirectory);
}

// Whiteouts.

#[test]
fn whiteout_of_dotdot() {
    let sandbox = Sandbox::new("hostile-whiteout-dotdot");
    let archive = Layer::new().file(".wh...", b"").finish();
    sandbox.assert_refused(&archive, ".wh...", Refusal::BadWhiteout);
    let archive = Layer::new().dir("sub/").file("sub/.wh...", b"").finish();
    let sandbox = Sandbox::new("hostile-whiteout-dotdot-sub");
    sandbox.assert_refused(&archive, "sub/.wh...", Refusal::BadWhiteout);
}

#[test]
fn whiteout_of_nothing_or_dot() {
    for (i, name) in [".wh.", "a/.wh.."].into_iter().enumerate() {
        let sandbox = Sandbox::new(&format!("hostile-whiteout-empty-{i}"));
        let archive = Layer::new().file(name, b"").finish();
        sandbox.assert_refused(&archive, name, Refusal::BadWhiteout);
    }
}

#[test]
fn whiteout_through_a_symlink() {
    let sandbox = Sandbox::new("hostile-whiteout-symlink");
    let archive = Layer::new()
        .symlink("link", "../outside")
        .file("link/.wh.victim", b"")
        .finish();
    sandbox.assert_refused(&archive, "link/.wh.victim", Refusal::Escapes);
}

#[test]
fn opaque_marker_through_a_symlink() {
    let sandbox = Sandbox::new("hostile-opaque-symlink");
    let archive = Layer::new()
        .symlink("link", &sandbox.outside_str())
        .file("link/.wh..wh..opq", b"")
        .finish();
    sandbox.assert_refused(&archive, "link/.wh..wh..opq", Refusal::Escapes);
}

#[test]
fn aufs_metadata() {
    let sandbox = Sandbox::new("hostile-aufs");
    let archive = Layer::new().dir(".wh..wh.plnk/").finish();
    sandbox.assert_refused(&archive, ".wh..wh.plnk/", Refusal::AufsMetadata);
}

#[test]
fn overlay_xattr_smuggled_in_pax() {
    let sandbox = Sandbox::new("hostile-overlay-xattr");
    let meta = Meta {
        mode: 0o755,
        pax: vec![(
            "SCHILY.xattr.trusted.overlay.redirect".into(),
            b"/etc".to_vec(),
        )],
        ..Meta::default()
    };
    let archive = Layer::new().dir_with("d/", &meta).finish();
    sandbox.assert_refused(
        &archive,
        "d/",
        Refusal::OverlayXattr {
            name: "trusted.overlay.redirect".into(),
        },
    );
}

// Inputs that are not tars, or not whole.

#[test]
fn destination_must_be_empty() {
    let sandbox = Sandbox::new("hostile-dest-not-empty");
    std::fs::write(sandbox.dest.join("old"), b"").unwrap();
    let err = sandbox
        .unpack(&Layer::new().file("f", b"x").finish())
        .unwrap_err();
    assert!(
        matches!(err, UnpackError::DestinationNotEmpty { .. }),
        "{err}"
    );
}

#[test]
fn garbage_is_an_error() {
    let sandbox = Sandbox::new("hostile-garbage");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    assert!(matches!(
        sandbox.unpack(&garbage),
        Err(UnpackError::Read { .. })
    ));
    let bad_gzip = [&[0x1f, 0x8b, 8, 0][..], &garbage].concat();
    assert!(matches!(
        sandbox.unpack(&bad_gzip),
        Err(UnpackError::Read { .. })
    ));
    sandbox.assert_outside_untouched();
}

#[test]
fn unsupported_compression_is_named() {
    let sandbox = Sandbox::new("hostile-bzip2");
    let err = sandbox.unpack(b"BZh91AY&SY...").unwrap_err();
    assert!(err.to_string().contains("bzip2"), "{err}");
}

/// A small xorshift generator: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_archives_never_panic_nor_escape() {
    // A layer full of the dangerous ingredients, then many copies of it with a few bytes
    // changed (in headers most of the time, where the damage is interesting), each unpacked
    // into a fresh directory. Any outcome is fine except a panic, a hang, or a write outside.
    let sandbox = Sandbox::new("hostile-mutations");
    let meta = Meta {
        device: (1, 3),
        pax: vec![("SCHILY.xattr.trusted.k".into(), b"v".to_vec())],
        ..Meta::default()
    };
    let mut layer = Layer::new();
    layer
        .dir("d/")
        .file("d/f", b"some data")
        .symlink("d/up", "../..")
        .symlink("d/in", ".")
        .hardlink("d/hl", "d/f")
        .raw(b"d/null", EntryType::Char, b"", b"", &meta)
        .file("d/.wh.gone", b"")
        .file("d/.wh..wh..opq", b"")
        .file("d/in/g", &[7u8; 700]);
    let base = layer.finish();
    let headers = layer.header_offsets().to_vec();
    let mut rng = Rng(0x5eed_1234_5678_9abc);
    let (mut accepted, mut refused, mut failed) = (0, 0, 0);
    for round in 0..300 {
        let mut archive = base.clone();
        for _ in 0..1 + rng.below(4) {
            let at = if rng.below(4) == 0 {
                rng.below(archive.len())
            } else {
                // Within a header: name, type, link name and size fields are the juicy ones.
                headers[rng.below(headers.len())] + rng.below(257)
            };
            archive[at] = match rng.below(4) {
                0 => b'.',
                1 => b'/',
                2 => 0,
                _ => rng.next() as u8,
            };
        }
        // Mostly keep the headers valid, so the damage gets past the checksum and into the
        // unpacker.
        if rng.below(8) != 0 {
            for &at in &headers {
                common::fix_checksum(&mut archive, at);
            }
        }
        if rng.below(5) == 0 {
            let cut = rng.below(archive.len());
            archive.truncate(cut);
        }
        let dest = sandbox.dir.path().join("layer");
        std::fs::remove_dir_all(&dest).unwrap();
        std::fs::create_dir(&dest).unwrap();
        match sandbox.unpack(&archive) {
            Ok(_) => accepted += 1,
            Err(UnpackError::Refused { .. }) => refused += 1,
            Err(_) => failed += 1,
        }
        assert_eq!(
            std::fs::read(sandbox.outside.join("victim")).unwrap(),
            VICTIM_CONTENT,
            "round {round}"
        );
        sandbox.assert_outside_untouched();
    }
    // The mutations must exercise all three outcomes, or the test proves little.
    assert!(
        accepted > 0 && refused > 0 && failed > 0,
        "accepted {accepted}, refused {refused}, failed {failed}"
    );
}
