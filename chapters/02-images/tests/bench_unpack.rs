//! A rough benchmark, not a test: unpacking a ~100 MB gzip layer of mixed files with
//! `unpack_layer` against GNU `tar -xzf` of the same blob. Run it with
//!
//! ```text
//! cargo test --release -p berth-images --test bench_unpack -- --ignored --nocapture
//! ```
//!
//! Both write to the same filesystem from a warm page cache, without fsync, best of three,
//! after a `sync` so that no run pays for the previous one's writeback.

mod common;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_images::unpack_layer;

/// Deterministic pseudo-random numbers (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const WORDS: [&str; 16] = [
    "container",
    "layer",
    "image",
    "overlay",
    "digest",
    "manifest",
    "config",
    "root",
    "mount",
    "namespace",
    "cgroup",
    "network",
    "volume",
    "registry",
    "blob",
    "whiteout",
];

/// Text-like content (compresses about 4:1, like source and config files).
fn text(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        let r = rng.next();
        out.extend_from_slice(WORDS[(r % 16) as usize].as_bytes());
        out.push(if r.is_multiple_of(11) { b'\n' } else { b' ' });
        if r.is_multiple_of(7) {
            out.extend_from_slice(format!("{}", r % 100_000).as_bytes());
        }
    }
    out.truncate(len);
    out
}

/// Binary-like content: random bytes with repeats (compresses a little, like executables).
fn binary(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let r = rng.next();
        if r.is_multiple_of(16) && out.len() > 4096 {
            let start = (r as usize >> 8) % (out.len() - 4096);
            let n = 64 + (r as usize >> 20) % 256;
            let chunk = out[start..start + n].to_vec();
            out.extend_from_slice(&chunk);
        } else {
            out.extend_from_slice(&r.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

/// Writes the layer: 4 000 small text files in 100 directories, 20 binaries of 1.5 MB, two of
/// 15 MB, some symlinks and hard links. About 100 MB of tar.
fn make_layer(path: &Path, plain: &Path) -> (u64, u64) {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut layer = common::Layer::new();
    for d in 0..100 {
        layer.dir(&format!("usr/share/pkg{d}/"));
        for f in 0..40 {
            let len = 512 + (rng.next() % 16_000) as usize;
            let data = text(&mut rng, len);
            layer.file(&format!("usr/share/pkg{d}/file{f}.txt"), &data);
        }
        layer.symlink(&format!("usr/share/pkg{d}/link"), "file0.txt");
    }
    layer.dir("usr/bin/");
    for b in 0..20 {
        let data = binary(&mut rng, 1_500_000);
        layer.file(&format!("usr/bin/tool{b}"), &data);
        layer.hardlink(&format!("usr/bin/alias{b}"), &format!("usr/bin/tool{b}"));
    }
    layer.dir("opt/");
    for b in 0..2 {
        let data = binary(&mut rng, 15_000_000);
        layer.file(&format!("opt/big{b}"), &data);
    }
    let tar = layer.finish();
    std::fs::write(plain, &tar).unwrap();
    let file = BufWriter::new(File::create(path).unwrap());
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap().flush().unwrap();
    (tar.len() as u64, std::fs::metadata(path).unwrap().len())
}

fn best_of(runs: usize, dir: &Path, mut f: impl FnMut(&Path)) -> Duration {
    (0..runs)
        .map(|i| {
            let dest = dir.join(format!("run{i}"));
            std::fs::create_dir(&dest).unwrap();
            // Start each run with no dirty pages of the previous one still being written.
            nix::unistd::sync();
            let start = Instant::now();
            f(&dest);
            let took = start.elapsed();
            std::fs::remove_dir_all(&dest).unwrap();
            took
        })
        .min()
        .unwrap()
}

#[test]
#[ignore = "a benchmark: run with --release -- --ignored --nocapture"]
fn unpack_speed_against_gnu_tar() {
    let dir = berth_tests::test_dir("bench-unpack");
    let blob = dir.path().join("layer.tar.gz");
    let plain = dir.path().join("layer.tar");
    let (tar_len, gz_len) = make_layer(&blob, &plain);
    let mb = |n: u64| n as f64 / 1e6;
    println!(
        "layer: {:.1} MB of tar, {:.1} MB gzip, 4 000 small files + 42 large",
        mb(tar_len),
        mb(gz_len)
    );

    let berth = best_of(3, dir.path(), |dest| {
        let unpacked = unpack_layer(File::open(&blob).unwrap(), dest).unwrap();
        assert_eq!(unpacked.size, tar_len);
    });
    let gnu = best_of(3, dir.path(), |dest| {
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(&blob)
            .arg("-C")
            .arg(dest)
            .status()
            .unwrap();
        assert!(status.success());
    });
    let berth_plain = best_of(3, dir.path(), |dest| {
        unpack_layer(File::open(&plain).unwrap(), dest).unwrap();
    });
    let gnu_plain = best_of(3, dir.path(), |dest| {
        let status = Command::new("tar")
            .arg("-xf")
            .arg(&plain)
            .arg("-C")
            .arg(dest)
            .status()
            .unwrap();
        assert!(status.success());
    });
    let rate = |d: Duration| mb(tar_len) / d.as_secs_f64();
    println!(
        "berth unpack_layer (gunzip + sha256 + unpack, one thread): {:>6.0} ms  {:>5.0} MB/s",
        berth.as_secs_f64() * 1e3,
        rate(berth)
    );
    println!(
        "GNU tar -xzf (gzip in a second process):                  {:>6.0} ms  {:>5.0} MB/s",
        gnu.as_secs_f64() * 1e3,
        rate(gnu)
    );
    println!(
        "ratio berth / tar: {:.2}",
        berth.as_secs_f64() / gnu.as_secs_f64()
    );
    println!(
        "the same tar uncompressed: berth {:.0} ms (sha256 + unpack), GNU tar -xf {:.0} ms",
        berth_plain.as_secs_f64() * 1e3,
        gnu_plain.as_secs_f64() * 1e3
    );
}
