#!/usr/bin/env python3
"""Benchmark: deleting flushed small files on one thread and on several, on a disk.

Why chapter 2's store deletes a removed image's files on 8 threads (`store/delete.rs`): on a
filesystem mounted with `discard` (and on ext4 without a journal, where the discard is sent at
once), each freed file waits for the device, which can take many at a time.

Usage: python3 scripts/bench/deletion.py [DIR] [--runs N]   (DIR default /var/tmp, 3 runs)
Makes DIRS x FILES files of 4 KB under a fresh directory in DIR, flushes them (`sync -f`, as a
pulled image is flushed), deletes them with 1, 4, 8 and 16 threads in turn, and prints
medians. Removes everything it made, also when interrupted.
"""
import os, shutil, statistics, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor

args = sys.argv[1:]
runs = 3
if "--runs" in args:
    i = args.index("--runs")
    runs = int(args[i + 1])
    del args[i:i + 2]
parent = args[0] if args else "/var/tmp"
DIRS, FILES, THREADS = 8, 500, (1, 4, 8, 16)
fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,OPTIONS", "-T", parent],
                    capture_output=True, text=True).stdout.strip()
base = tempfile.mkdtemp(prefix="berth-bench-deletion.", dir=parent)
try:
    def make(tag):
        root = f"{base}/{tag}"
        paths = []
        for d in range(DIRS):
            os.makedirs(f"{root}/d{d}")
            for f in range(FILES):
                paths.append(f"{root}/d{d}/f{f}")
                with open(paths[-1], "wb") as out:
                    out.write(os.urandom(4096))
        subprocess.run(["sync", "-f", base], check=True)
        return root, paths

    def delete(paths, threads):
        start = time.perf_counter()
        if threads == 1:
            for path in paths:
                os.unlink(path)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(os.unlink, paths, chunksize=64))
        return time.perf_counter() - start

    times = {n: [] for n in THREADS}
    for run in range(runs):
        for n in THREADS:  # interleaved: 1 4 8 16 1 4 8 16 ...
            root, paths = make(f"t{n}-r{run}")
            times[n].append(delete(paths, n))
            shutil.rmtree(root)
    print(f"deleting {DIRS * FILES} flushed 4 KB files under {parent} ({fs}); "
          f"{runs} interleaved runs, medians; load {os.getloadavg()[0]:.1f}")
    serial = statistics.median(times[1])
    for n, ts in times.items():
        m = statistics.median(ts)
        print(f"  {n:>2} thread{'s' if n > 1 else ' '} {m:7.3f} s  {m / (DIRS * FILES) * 1000:6.3f} ms a file"
              f"  {serial / m:5.2f}x faster than one")
finally:
    shutil.rmtree(base, ignore_errors=True)
