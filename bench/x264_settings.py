"""Benchmark: what the ladder's x264 settings cost in CPU and in bits, against the settings they replaced.

    .venv/bin/python bench/x264_settings.py [--seconds 20]

Generates three portrait contents (a moving test pattern like bench/pipeline.py's clip; a handheld pan over a
detailed still with sensor noise; a nearly still scene with one moving subject and noise, like a lesson filmed on a
propped-up phone), scales each to the 720p and 360p rung sizes once, then encodes each rung with every setting at
four CRFs. For each it prints the encoder's CPU seconds (user + system, all four CRFs) and the Bjontegaard delta
rate against the baseline: the bit rate change at equal PSNR (negative: fewer bits for the same picture).

Baseline: veryfast with a keyframe every 2 s (the ladder until 2026-12; PeerTube's GOP). Compared: a keyframe every
4 s, and, for the 720p rung, subme=1 on top (what transcode/ladder.py now uses for rungs of 720p and up).
Run it with nothing else busy: CPU seconds on a shared 2-core VM vary by about 5% between runs.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CRFS = (20, 23, 26, 29)
RUNGS = {"720p": ("720:1280", "2500k"), "360p": ("360:640", "900k")}
# name -> (x264-params, keyframe interval in seconds), per rung
SETTINGS = {
    "720p": {
        "veryfast, keyframe every 2 s (before)": ("", 2),
        "veryfast, keyframe every 4 s": ("", 4),
        "veryfast + subme=1, every 4 s (now)": ("subme=1", 4),
    },
    "360p": {
        "veryfast, keyframe every 2 s (before)": ("", 2),
        "veryfast, keyframe every 4 s (now)": ("", 4),
    },
}
FPS = 30


def ffmpeg(*args: str | Path) -> str:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-y", *map(str, args)]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stderr


def make_contents(work: Path, seconds: int) -> dict[str, Path]:
    """Three 1080x1920 contents as lossless-enough intermediates (x264 CRF 8, ultrafast)."""
    still = work / "still.png"
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=s=2400x3600:maxiter=400:start_scale=0.8:end_scale=0.8:rate=1",
           "-frames:v", "1", still)
    graphs = {
        "test pattern": ["-f", "lavfi", "-i", f"testsrc2=size=1080x1920:rate={FPS}:duration={seconds}"],
        "handheld pan, noisy": [
            "-loop", "1", "-framerate", str(FPS), "-i", str(still), "-t", str(seconds), "-vf",
            "crop=1080:1920:x='600+300*sin(t*0.4)+14*sin(t*7.3)':y='800+400*sin(t*0.25)+11*sin(t*5.1)',"
            "noise=alls=10:allf=t",
        ],
        "still scene, one subject": [
            "-loop", "1", "-framerate", str(FPS), "-i", str(still), "-f", "lavfi", "-i",
            f"testsrc2=s=300x400:r={FPS}", "-t", str(seconds), "-filter_complex",
            "[0:v]crop=1080:1920:x='700+3*sin(t*2.1)':y='900+3*sin(t*1.7)'[bg];[1:v]hue=s=0.3[fg];"
            "[bg][fg]overlay=x='380+60*sin(t*0.9)':y='700+40*sin(t*1.3)',noise=alls=8:allf=t",
        ],
    }
    out = {}
    for i, (name, args) in enumerate(graphs.items()):
        path = work / f"content{i}.mp4"
        ffmpeg(*args, "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "8", path)
        out[name] = path
    return out


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def encode(src: Path, dst: Path, *, params: str, keyint_s: int, crf: int, maxrate: str) -> tuple[float, int, float]:
    """(CPU seconds, bytes, PSNR-Y against the source) of one encode."""
    extra = ["-x264-params", params] if params else []
    before = children_cpu_s()
    ffmpeg("-i", src, "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-profile:v", "high",
           "-g", str(FPS * keyint_s), "-maxrate", maxrate, "-bufsize", f"{int(maxrate[:-1]) * 2}k", *extra, dst)
    cpu = children_cpu_s() - before
    log = ffmpeg("-i", dst, "-i", src, "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-")
    match = re.search(r"PSNR y:([\d.]+)", log)
    assert match, log[-500:]
    size = dst.stat().st_size
    dst.unlink()
    return cpu, size, float(match.group(1))


def bd_rate(base: list[tuple[float, int, float]], test: list[tuple[float, int, float]]) -> float:
    """Bjontegaard delta rate (%), cubic fit of log rate over PSNR, integrated over the shared PSNR range."""
    def fit(rows: list[tuple[float, int, float]]) -> tuple[np.ndarray, list[float]]:
        psnr = [r[2] for r in rows]
        return np.polyfit(psnr, np.log([r[1] for r in rows]), 3), psnr

    (c1, p1), (c2, p2) = fit(base), fit(test)
    lo, hi = max(min(p1), min(p2)), min(max(p1), max(p2))
    area1 = np.polyval(np.polyint(c1), hi) - np.polyval(np.polyint(c1), lo)
    area2 = np.polyval(np.polyint(c2), hi) - np.polyval(np.polyint(c2), lo)
    return float((np.exp((area2 - area1) / (hi - lo)) - 1) * 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is missing: run `make install`")
    work = Path(tempfile.mkdtemp(prefix="weike-x264-"))
    try:
        print(f"generating three {args.seconds} s contents in {work} ...", flush=True)
        contents = make_contents(work, args.seconds)
        for rung, (size, maxrate) in RUNGS.items():
            print(f"\n{rung} rung, CRF {'/'.join(map(str, CRFS))}: encoder CPU seconds and BD-rate (PSNR) "
                  "against the first line", flush=True)
            for name, path in contents.items():
                scaled = work / f"{path.stem}-{rung}.y4m"
                ffmpeg("-i", path, "-vf", f"scale={size}:flags=bilinear", "-pix_fmt", "yuv420p", scaled)
                results = {
                    label: [encode(scaled, work / "out.mp4", params=params, keyint_s=keyint_s, crf=crf,
                                   maxrate=maxrate) for crf in CRFS]
                    for label, (params, keyint_s) in SETTINGS[rung].items()
                }
                scaled.unlink()
                base_label = next(iter(results))
                base_cpu = sum(r[0] for r in results[base_label])
                print(f"  {name}:", flush=True)
                for label, rows in results.items():
                    cpu = sum(r[0] for r in rows)
                    print(f"    {label:40} {cpu:6.1f} CPU-s ({(cpu / base_cpu - 1) * 100:+5.1f}%)  "
                          f"BD-rate {bd_rate(results[base_label], rows):+5.1f}%", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
