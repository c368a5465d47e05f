"""Audio pack ZIP speed: `transcode.pack_zip.write_stored_zip` against a plain copy of the same bytes, in one run.

    .venv/bin/python bench/pack_zip.py                      # 40 x 15 MB (the issue's target: zip >= 80% of copy)
    .venv/bin/python bench/pack_zip.py --files 8 --file-mb 5  # a quick sanity run

Makes --files files of --file-mb MB of random bytes (MP3 frames do not compress either) in a temporary folder,
then, --rounds times, alternating which goes first:
- copy: `shutil.copyfile` of each file into a fresh folder (the kernel's sendfile: no bytes through Python);
- loop: a Python read/write loop of the files, one after the other, into one file (4 MiB chunks);
- zip: `write_stored_zip` of the same files, each preceded by a 40 KB ID3-sized piece of bytes, as a pack's tracks
  are (a tag, then a FileSpan of the audio edition).
Each is timed twice over: to the page cache (the `write` calls returning) and to the disk (with an fsync of every
output file inside the timing). The inputs are in the page cache throughout (they were just written and fit in
memory), so the figures compare the writing side. Medians are reported, and zlib's CRC-32 speed on a buffer in
memory, which bounds what the ZIP writer can reach.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from transcode import pack_zip  # noqa: E402
from transcode.pack_zip import ZipEntry, write_stored_zip  # noqa: E402
from transcode.spans import FileSpan  # noqa: E402

MB = 1_000_000
TAG_BYTES = 40_000
LOOP_CHUNK = 4 << 20


def make_files(folder: Path, count: int, size_bytes: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"track{i:03d}.mp3"
        with path.open("wb") as out:
            left = size_bytes
            while left:
                block = os.urandom(min(left, 4 << 20))
                out.write(block)
                left -= len(block)
        paths.append(path)
    return paths


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_files(sources: list[Path], dest: Path) -> list[Path]:
    dest.mkdir()
    outputs = [dest / src.name for src in sources]
    for src, out in zip(sources, outputs, strict=True):
        shutil.copyfile(src, out)
    return outputs


def loop_copy(sources: list[Path], dest: Path) -> list[Path]:
    out_path = dest.with_suffix(".bin")
    buf = bytearray(LOOP_CHUNK)
    view = memoryview(buf)
    with out_path.open("wb") as out:
        for src in sources:
            with src.open("rb", buffering=0) as f:
                while n := f.readinto(buf):
                    out.write(view[:n])
    return [out_path]


def zip_files(sources: list[Path], dest: Path) -> list[Path]:
    out_path = dest.with_suffix(".zip")
    tag = os.urandom(TAG_BYTES)
    entries = [ZipEntry(f"{i + 1:02d}_第{i + 1}课.mp3", [tag, FileSpan(src, 0, src.stat().st_size)])
               for i, src in enumerate(sources)]
    write_stored_zip(out_path, entries, modified=datetime(2026, 7, 1, 9, 0))
    return [out_path]


METHODS: dict[str, Callable[[list[Path], Path], list[Path]]] = {
    "copy": copy_files, "loop": loop_copy, "zip": zip_files,
}  # fmt: skip


def timed(method: str, sources: list[Path], workdir: Path, run: int, *, sync: bool) -> float:
    dest = workdir / f"out-{method}-{run}-{'sync' if sync else 'cache'}"
    started = time.perf_counter()
    outputs = METHODS[method](sources, dest)
    if sync:
        for out in outputs:
            fsync_path(out)
    elapsed = time.perf_counter() - started
    for out in outputs:
        out.unlink()
    if dest.is_dir():
        dest.rmdir()
    os.sync()  # leave no dirty pages behind for the next measurement
    return elapsed


def crc32_mb_s(crc32: Callable[[bytes, int], int], seconds: float = 0.5) -> float:
    data = os.urandom(1 << 20)  # a chunk as the writer checksums it
    crc, done = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(64):
            crc = crc32(data, crc)
        done += 64 * len(data)
    return done / MB / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40, help="files (tracks) to pack (default 40)")
    parser.add_argument("--file-mb", type=float, default=15.0, help="MB per file (default 15)")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of each method and mode (default 5)")
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: the system temp folder)")
    args = parser.parse_args()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="weike-bench-pack-", dir=args.dir))
    try:
        sources = make_files(workdir, args.files, int(args.file_mb * MB))
        total_mb = sum(p.stat().st_size for p in sources) / MB
        os.sync()
        print(f"{args.files} files, {total_mb:.0f} MB in {workdir}; {args.rounds} rounds; {os.cpu_count()} CPUs",
              flush=True)
        results: dict[tuple[str, bool], list[float]] = {}
        for sync in (False, True):
            for run in range(args.rounds):
                order = list(METHODS) if run % 2 == 0 else list(reversed(METHODS))
                for method in order:
                    elapsed = timed(method, sources, workdir, run, sync=sync)
                    results.setdefault((method, sync), []).append(elapsed)
        print(f"\n{'method':6} {'to':6} {'MB/s (median)':>14} {'runs, MB/s':>12}")
        speed: dict[tuple[str, bool], float] = {}
        for (method, sync), times in results.items():
            speed[method, sync] = total_mb / statistics.median(times)
            runs = " ".join(f"{total_mb / t:.0f}" for t in times)
            print(f"{method:6} {'disk' if sync else 'cache':6} {speed[method, sync]:14.0f}   {runs}")
        print(f"\nCRC-32 of 1 MiB in memory: zlib {crc32_mb_s(zlib.crc32):.0f} MB/s; the writer uses "
              f"{pack_zip.crc32.__module__} ({crc32_mb_s(pack_zip.crc32):.0f} MB/s)")
        print("\ntargets (zip >= 80% of a plain copy):")
        for sync in (False, True):
            for base in ("copy", "loop"):
                ratio = speed["zip", sync] / speed[base, sync]
                print(f"  to {'disk' if sync else 'page cache'}: zip {speed['zip', sync]:.0f} MB/s vs {base} "
                      f"{speed[base, sync]:.0f} MB/s: {ratio:.0%} {'met' if ratio >= 0.8 else 'NOT met'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nwhole run {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
