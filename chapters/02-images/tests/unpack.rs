//! Layers that must unpack, and unpack faithfully: metadata, links, nodes, whiteouts,
//! compression, digests, and the imperfect archives real tools write.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use berth_images::{Compression, Digest, UnpackError};
use common::{Layer, Meta, Sandbox, get_xattr, gzip, list_xattrs};
use tar::EntryType;

fn lstat(path: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn owners_modes_and_times_are_kept() {
    let sandbox = Sandbox::new("unpack-metadata");
    let setuid = Meta {
        mode: 0o4755,
        uid: 1234,
        gid: 5678,
        mtime: 1_000_000_000,
        ..Meta::default()
    };
    let sticky = Meta {
        mode: 0o1777,
        uid: 0,
        gid: 0,
        mtime: 1_100_000_000,
        ..Meta::default()
    };
    let link = Meta {
        mode: 0o777,
        uid: 42,
        gid: 43,
        mtime: 1_200_000_000,
        ..Meta::default()
    };
    let precise = Meta {
        pax: vec![
            ("mtime".into(), b"1300000000.25".to_vec()),
            ("atime".into(), b"1300000001.5".to_vec()),
            ("uid".into(), b"3000000000".to_vec()),
        ],
        ..Meta::default()
    };
    let archive = Layer::new()
        .dir_with("tmp/", &sticky)
        .file_with("tmp/su", b"#!/bin/sh\n", &setuid)
        .raw(b"tmp/link", EntryType::Symlink, b"su", b"", &link)
        .file_with("tmp/precise", b"p", &precise)
        // An entry added to tmp/ after its times were read: they must survive it.
        .file("tmp/later", b"l")
        .finish();
    sandbox.unpack(&archive).unwrap();

    let tmp = lstat(&sandbox.dest.join("tmp"));
    assert!(tmp.is_dir());
    assert_eq!(tmp.mode() & 0o7777, 0o1777);
    assert_eq!(
        tmp.mtime(),
        1_100_000_000,
        "directory mtime set after its contents"
    );

    let su = lstat(&sandbox.dest.join("tmp/su"));
    assert_eq!(
        su.mode() & 0o7777,
        0o4755,
        "set-user-id kept (mode set after chown)"
    );
    assert_eq!((su.uid(), su.gid()), (1234, 5678));
    assert_eq!(su.mtime(), 1_000_000_000);

    let link_meta = lstat(&sandbox.dest.join("tmp/link"));
    assert!(link_meta.file_type().is_symlink());
    assert_eq!(
        (link_meta.uid(), link_meta.gid()),
        (42, 43),
        "lchown, not chown"
    );
    assert_eq!(link_meta.mtime(), 1_200_000_000, "the link's own time");
    assert_eq!(
        su.uid(),
        1234,
        "the target was not chowned through the link"
    );

    let p = lstat(&sandbox.dest.join("tmp/precise"));
    assert_eq!((p.mtime(), p.mtime_nsec()), (1_300_000_000, 250_000_000));
    assert_eq!((p.atime(), p.atime_nsec()), (1_300_000_001, 500_000_000));
    assert_eq!(
        p.uid(),
        3_000_000_000,
        "a PAX uid beyond the header's 21 bits"
    );
}

#[test]
fn extended_attributes_are_kept() {
    let sandbox = Sandbox::new("unpack-xattrs");
    let with = |mode, pairs: &[(&str, &[u8])]| Meta {
        mode,
        pax: pairs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.to_vec()))
            .collect(),
        ..Meta::default()
    };
    // security.capability: cap_net_raw+ep, as `setcap cap_net_raw+ep` writes it (VFS v2).
    let cap: &[u8] = &[
        0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let archive = Layer::new()
        .dir_with("d/", &with(0o755, &[("trusted.berth", b"dir")]))
        .file_with(
            "d/ping",
            b"elf",
            &with(
                0o755,
                &[("user.berth", b"file"), ("security.capability", cap)],
            ),
        )
        .raw(
            b"d/link",
            EntryType::Symlink,
            b"ping",
            b"",
            &with(0o777, &[("trusted.berth", b"link")]),
        )
        .raw(
            b"d/fifo",
            EntryType::Fifo,
            b"",
            b"",
            &with(0o600, &[("trusted.berth", b"fifo")]),
        )
        .finish();
    sandbox.unpack(&archive).unwrap();
    let d = sandbox.dest.join("d");
    assert_eq!(get_xattr(&d, "trusted.berth").as_deref(), Some(&b"dir"[..]));
    assert_eq!(
        get_xattr(&d.join("ping"), "user.berth").as_deref(),
        Some(&b"file"[..])
    );
    assert_eq!(
        get_xattr(&d.join("ping"), "security.capability").as_deref(),
        Some(cap),
        "set after chown, which would drop it"
    );
    assert_eq!(
        get_xattr(&d.join("link"), "trusted.berth").as_deref(),
        Some(&b"link"[..])
    );
    assert_eq!(
        get_xattr(&d.join("fifo"), "trusted.berth").as_deref(),
        Some(&b"fifo"[..])
    );
}

#[test]
fn hard_links_share_an_inode() {
    let sandbox = Sandbox::new("unpack-hardlinks");
    let archive = Layer::new()
        .dir("bin/")
        .file("bin/busybox", b"one binary")
        .hardlink("bin/sh", "bin/busybox")
        .hardlink("bin/ls", "/bin/busybox") // absolute, as some tools write it
        .hardlink("bin/cat", "./bin/busybox")
        .finish();
    sandbox.unpack(&archive).unwrap();
    let original = lstat(&sandbox.dest.join("bin/busybox"));
    assert_eq!(original.nlink(), 4);
    for name in ["sh", "ls", "cat"] {
        assert_eq!(
            lstat(&sandbox.dest.join("bin").join(name)).ino(),
            original.ino()
        );
    }
}

#[test]
fn device_nodes_and_fifos() {
    let sandbox = Sandbox::new("unpack-nodes");
    let null = Meta {
        mode: 0o666,
        device: (1, 3),
        ..Meta::default()
    };
    let loop0 = Meta {
        mode: 0o660,
        gid: 6,
        device: (7, 0),
        ..Meta::default()
    };
    let fifo = Meta {
        mode: 0o640,
        ..Meta::default()
    };
    let archive = Layer::new()
        .dir("dev/")
        .raw(b"dev/null", EntryType::Char, b"", b"", &null)
        .raw(b"dev/loop0", EntryType::Block, b"", b"", &loop0)
        .raw(b"dev/initctl", EntryType::Fifo, b"", b"", &fifo)
        .finish();
    sandbox.unpack(&archive).unwrap();
    let dev = sandbox.dest.join("dev");
    let n = lstat(&dev.join("null"));
    assert!(n.file_type().is_char_device());
    assert_eq!(n.rdev(), libc::makedev(1, 3));
    assert_eq!(n.mode() & 0o7777, 0o666, "mode not reduced by the umask");
    let b = lstat(&dev.join("loop0"));
    assert!(b.file_type().is_block_device());
    assert_eq!(b.rdev(), libc::makedev(7, 0));
    assert_eq!(b.gid(), 6);
    let f = lstat(&dev.join("initctl"));
    assert!(f.file_type().is_fifo());
    assert_eq!(f.mode() & 0o7777, 0o640);
}

#[test]
fn whiteouts_become_overlay_markers() {
    let sandbox = Sandbox::new("unpack-whiteouts");
    let archive = Layer::new()
        .dir("etc/")
        .file("etc/.wh.gone", b"")
        .dir("var/")
        .dir("var/cache/")
        .file("var/cache/.wh..wh..opq", b"")
        .file("var/cache/new", b"fresh")
        // A whiteout in a directory the archive does not list.
        .file("usr/share/.wh.doc", b"")
        .finish();
    let unpacked = sandbox.unpack(&archive).unwrap();
    assert_eq!(unpacked.entries, 7);

    let gone = lstat(&sandbox.dest.join("etc/gone"));
    assert!(
        gone.file_type().is_char_device(),
        "a whiteout is a char device"
    );
    assert_eq!(gone.rdev(), 0, "with device number 0/0");
    assert!(
        !sandbox.dest.join("etc/.wh.gone").exists(),
        "the marker itself is not kept"
    );
    assert!(
        lstat(&sandbox.dest.join("usr/share/doc"))
            .file_type()
            .is_char_device()
    );

    let cache = sandbox.dest.join("var/cache");
    assert_eq!(
        get_xattr(&cache, "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(common::names(&cache), vec!["new".to_owned()]);
    assert_eq!(list_xattrs(&sandbox.dest.join("var")), Vec::<String>::new());
}

#[test]
fn gzip_layer_diff_id_is_the_sha256_of_the_tar() {
    let sandbox = Sandbox::new("unpack-gzip");
    let tar = Layer::new()
        .dir("app/")
        .file("app/data", &vec![42u8; 300_000])
        .finish();
    let unpacked = sandbox.unpack(&gzip(&tar)).unwrap();
    assert_eq!(unpacked.compression, Compression::Gzip);
    assert_eq!(unpacked.diff_id, Digest::of(&tar));
    assert_eq!(unpacked.size, tar.len() as u64);
    assert_eq!(
        std::fs::read(sandbox.dest.join("app/data")).unwrap(),
        vec![42u8; 300_000]
    );
}

#[test]
fn zstd_and_plain_layers_too() {
    let tar = Layer::new().file("f", b"hello").finish();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for (label, blob, kind) in [
        ("unpack-zstd", zst, Compression::Zstd),
        ("unpack-plain", tar.clone(), Compression::None),
    ] {
        let sandbox = Sandbox::new(label);
        let unpacked = sandbox.unpack(&blob).unwrap();
        assert_eq!(unpacked.compression, kind);
        assert_eq!(unpacked.diff_id, Digest::of(&tar));
        assert_eq!(std::fs::read(sandbox.dest.join("f")).unwrap(), b"hello");
    }
}

#[test]
fn trailing_zeros_after_the_end_are_part_of_the_diff_id() {
    // GNU tar pads an archive to a 10 KiB record; the diff_id covers every byte.
    let sandbox = Sandbox::new("unpack-trailing");
    let mut tar = Layer::new().file("f", b"x").finish();
    tar.resize(10240, 0);
    let unpacked = sandbox.unpack(&gzip(&tar)).unwrap();
    assert_eq!(unpacked.diff_id, Digest::of(&tar));
    assert_eq!(unpacked.size, 10240);
}

#[test]
fn archive_without_padding_and_end_blocks_is_accepted() {
    // What `umoci insert` 0.4.7 writes: 512 bytes of header, 5 bytes of data, nothing more.
    let mut layer = Layer::new();
    layer.dir("d/").file("d/f", b"hello");
    for (label, bytes) in [
        ("unpack-umoci-shape", layer.finish_like_umoci(5)),
        ("unpack-no-end-blocks", layer.finish_without_end_blocks()),
    ] {
        let sandbox = Sandbox::new(label);
        let unpacked = sandbox.unpack(&gzip(&bytes)).unwrap();
        assert_eq!(unpacked.diff_id, Digest::of(&bytes), "{label}");
        assert_eq!(std::fs::read(sandbox.dest.join("d/f")).unwrap(), b"hello");
    }
    // Part of the padding present.
    let mut partial = layer.finish_like_umoci(5);
    partial.extend_from_slice(&[0u8; 100]);
    let sandbox = Sandbox::new("unpack-partial-padding");
    assert_eq!(
        sandbox.unpack(&partial).unwrap().diff_id,
        Digest::of(&partial)
    );
}

#[test]
fn truncated_data_is_refused() {
    let mut layer = Layer::new();
    layer.file("first", b"complete").file("big", &[9u8; 2000]);
    let full = layer.finish_like_umoci(2000);
    // Cut 1000 bytes into `big`'s data.
    let cut = &full[..full.len() - 1000];
    let sandbox = Sandbox::new("unpack-truncated-data");
    let err = sandbox.unpack(&gzip(cut)).unwrap_err();
    assert!(
        matches!(
            &err,
            UnpackError::Truncated { entry, expected: 2000, got: 1000 } if entry == "big"
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"big\""), "{err}");
    // Cut one byte short: still refused.
    let sandbox = Sandbox::new("unpack-truncated-one");
    let err = sandbox.unpack(&full[..full.len() - 1]).unwrap_err();
    assert!(matches!(err, UnpackError::Truncated { .. }), "{err}");
}

#[test]
fn truncated_header_is_refused() {
    let full = Layer::new()
        .file("first", b"complete")
        .file("second", b"x")
        .finish();
    // Cut in the middle of the second header (which starts at 1024).
    let sandbox = Sandbox::new("unpack-truncated-header");
    let err = sandbox.unpack(&full[..1024 + 300]).unwrap_err();
    assert!(
        matches!(&err, UnpackError::Read { after: Some(after), .. } if after == "first"),
        "{err}"
    );
}

#[test]
fn later_entries_replace_earlier_ones() {
    let sandbox = Sandbox::new("unpack-duplicates");
    let archive = Layer::new()
        .file("f", b"first")
        .file("f", b"second")
        .symlink("s", "f")
        .file("s", b"file now")
        .file("d", b"a file")
        .dir("d/")
        .file("d/inside", b"x")
        .dir("m/")
        .file("m/a", b"a")
        .dir("m/") // directories merge
        .finish();
    sandbox.unpack(&archive).unwrap();
    assert_eq!(std::fs::read(sandbox.dest.join("f")).unwrap(), b"second");
    assert!(lstat(&sandbox.dest.join("s")).is_file());
    assert_eq!(std::fs::read(sandbox.dest.join("s")).unwrap(), b"file now");
    assert!(lstat(&sandbox.dest.join("d")).is_dir());
    assert_eq!(std::fs::read(sandbox.dest.join("m/a")).unwrap(), b"a");
}

#[test]
fn missing_parents_are_created_like_docker() {
    let sandbox = Sandbox::new("unpack-parents");
    let archive = Layer::new().file("a/b/c/file", b"deep").finish();
    sandbox.unpack(&archive).unwrap();
    for dir in ["a", "a/b", "a/b/c"] {
        let meta = lstat(&sandbox.dest.join(dir));
        assert!(meta.is_dir());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o755, "{dir}");
    }
}

#[test]
fn symlinks_inside_the_layer_are_followed() {
    // Like Docker's chroot'ed unpack: `lib -> usr/lib` then `lib/x` lands in `usr/lib/x`.
    let sandbox = Sandbox::new("unpack-inner-symlink");
    let archive = Layer::new()
        .dir("usr/")
        .dir("usr/lib/")
        .symlink("lib", "usr/lib")
        .symlink("usr/lib/self", "../lib")
        .file("lib/x", b"through")
        .file("usr/lib/self/y", b"also")
        // Symlink targets are data: absolute and climbing ones are kept as they are.
        .symlink("etc-passwd", "/etc/passwd")
        .symlink("up", "../../..")
        .finish();
    sandbox.unpack(&archive).unwrap();
    assert_eq!(
        std::fs::read(sandbox.dest.join("usr/lib/x")).unwrap(),
        b"through"
    );
    assert_eq!(
        std::fs::read(sandbox.dest.join("usr/lib/y")).unwrap(),
        b"also"
    );
    assert_eq!(
        std::fs::read_link(sandbox.dest.join("etc-passwd")).unwrap(),
        Path::new("/etc/passwd")
    );
    sandbox.assert_outside_untouched();
}

#[test]
fn long_names_from_pax_and_gnu() {
    let sandbox = Sandbox::new("unpack-long-names");
    let pax_name = format!("{}/pax", "p".repeat(150));
    let gnu_name = format!("{}/gnu", "g".repeat(150));
    let meta = Meta {
        pax: vec![("path".into(), pax_name.clone().into_bytes())],
        ..Meta::default()
    };
    let archive = Layer::new()
        .file_with("short", b"pax", &meta)
        .gnu_long_name(gnu_name.as_bytes())
        .file("short", b"gnu")
        .finish();
    sandbox.unpack(&archive).unwrap();
    assert_eq!(std::fs::read(sandbox.dest.join(&pax_name)).unwrap(), b"pax");
    assert_eq!(std::fs::read(sandbox.dest.join(&gnu_name)).unwrap(), b"gnu");
    assert!(!sandbox.dest.join("short").exists());
}

#[test]
fn root_entry_sets_the_root_directory() {
    let sandbox = Sandbox::new("unpack-root-entry");
    let root = Meta {
        mode: 0o700,
        mtime: 1_234_567_890,
        ..Meta::default()
    };
    let archive = Layer::new()
        .dir_with("./", &root)
        .file("./f", b"x")
        .finish();
    sandbox.unpack(&archive).unwrap();
    let meta = lstat(&sandbox.dest);
    assert_eq!(meta.mode() & 0o7777, 0o700);
    assert_eq!(meta.mtime(), 1_234_567_890);
}

#[test]
fn old_style_directory_with_trailing_slash() {
    let sandbox = Sandbox::new("unpack-v7-dir");
    let archive = Layer::new()
        .raw(
            b"olddir/",
            EntryType::new(0),
            b"",
            b"",
            &Meta {
                mode: 0o750,
                ..Meta::default()
            },
        )
        .finish();
    sandbox.unpack(&archive).unwrap();
    let meta = lstat(&sandbox.dest.join("olddir"));
    assert!(meta.is_dir());
    assert_eq!(meta.mode() & 0o7777, 0o750);
}

#[test]
fn a_layer_made_by_umoci() {
    // The real tool whose layers end without padding. Its config's diff_id must match ours.
    let sandbox = Sandbox::new("unpack-umoci");
    let work = sandbox.dir.path().join("umoci");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("hello"), b"hello").unwrap();
    let umoci = |args: &[&str]| {
        let out = Command::new("umoci")
            .args(args)
            .current_dir(&work)
            .output()
            .expect("umoci is missing: run scripts/install-deps.sh");
        assert!(out.status.success(), "umoci {args:?}: {out:?}");
    };
    umoci(&["init", "--layout", "img"]);
    umoci(&["new", "--image", "img:t"]);
    umoci(&["insert", "--image", "img:t", "hello", "/etc/hello"]);

    // Find the gzip blob (the layer) and the config (the JSON with diff_ids).
    let blobs = work.join("img/blobs/sha256");
    let (mut layer, mut diff_id) = (None, None);
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            layer = Some(bytes);
        } else if let Some(at) = find(&bytes, b"\"diff_ids\":[\"") {
            let start = at + b"\"diff_ids\":[\"".len();
            let text = std::str::from_utf8(&bytes[start..start + 71]).unwrap();
            diff_id = Some(text.parse::<Digest>().unwrap());
        }
    }
    let (layer, diff_id) = (layer.unwrap(), diff_id.unwrap());
    let unpacked = sandbox.unpack(&layer).unwrap();
    assert_eq!(unpacked.diff_id, diff_id);
    assert_eq!(
        std::fs::read(sandbox.dest.join("etc/hello")).unwrap(),
        b"hello"
    );
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `docker cp` sends `noOverwriteDirNonDir`: a directory of its archive must then leave a file
/// of the same name alone (and say so); without it the directory replaces the file, as in a
/// layer.
#[test]
fn docker_cp_archive_keeps_a_file_a_directory_would_replace() {
    use berth_images::unpack::{Refusal, unpack_into};
    let sandbox = Sandbox::new("unpack-into-non-dir");
    let archive = Layer::new().dir("f/").file("f/inside", b"x").finish();
    let open = |dest: &Path| std::os::fd::OwnedFd::from(std::fs::File::open(dest).unwrap());

    std::fs::write(sandbox.dest.join("f"), b"kept").unwrap();
    let refused = unpack_into(
        &archive[..],
        open(&sandbox.dest),
        None,
        true,
        Path::new("/dst"),
    )
    .expect_err("a directory replaced a file despite noOverwriteDirNonDir");
    assert_eq!(
        refused.refusal(),
        Some(&Refusal::ReplacesNonDirectory),
        "{refused}"
    );
    assert_eq!(std::fs::read(sandbox.dest.join("f")).unwrap(), b"kept");

    unpack_into(
        &archive[..],
        open(&sandbox.dest),
        None,
        false,
        Path::new("/dst"),
    )
    .unwrap();
    assert_eq!(std::fs::read(sandbox.dest.join("f/inside")).unwrap(), b"x");
}
