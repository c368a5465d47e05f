"""What copy detection reads from media: perceptual hashes of sampled frames, and the sound's Chromaprint.

Frames: one ffmpeg run decodes the video, keeps a frame at every scene change and at least one every
`interval_s` (a `select` expression on a small copy of each frame), writes each kept frame as 64x64 8-bit grey
to stdout and its time to a file the `metadata` filter prints. Each frame is then hashed with imagehash's
difference hash (dHash: 64 bits, whether each of 8x8 cells is brighter than its right neighbour) over its centre:
a tenth is cut from the sides and the top and a fifth from the bottom, where logos and burned-in subtitles sit.
dHash was chosen over pHash because, on the labelled copies of tests/catalog/test_copy_signals.py (re-encoded at
another size, cropped, a logo and subtitles burned in), it left a wider margin between a copy's frames and
unrelated ones. Flat frames (black, a plain colour) say nothing about where they came from and are left out.

Sound: `fpcalc -raw -json` (Debian's libchromaprint-tools) gives the whole recording's Chromaprint, one 32-bit
item every 0.124 s (chromaprint's default algorithm: 4096-sample frames at 11025 Hz, a third of a frame apart).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np
from numpy.typing import NDArray

from transcode import runner
from transcode.command import compile_ffmpeg, file_url, open_input
from transcode.errors import CorruptMedia
from transcode.limits import MediaLimits

FRAME_SIZE = 64  # frames come out of ffmpeg as FRAME_SIZE x FRAME_SIZE grey pixels
SCENE_THRESHOLD = 0.3  # ffmpeg's scene score (0..1) above which a frame starts a new shot
MIN_INTERVAL_S = 2.0  # a frame at least this often (fps=1/2) ...
MAX_REGULAR_FRAMES = 150  # ... or less often in a long lesson, so that it keeps about this many
MAX_FRAMES = 600  # scene changes in a flickering video are not all kept
FLAT_STD = 6.0  # a frame whose centre's grey levels vary less than this (0..255) is flat
# The centre that is hashed, in rows and columns of the 64x64 frame (bottom fifth: subtitles; sides: logos).
CENTRE_ROWS = slice(6, 51)
CENTRE_COLS = slice(6, 58)
SCAN_SIZE = (160, 90)  # what the scene score is computed on
CHROMAPRINT_RATE = 11025  # Hz: what Chromaprint resamples everything to
CHROMAPRINT_ITEM_S = 4096 / 3 / CHROMAPRINT_RATE  # 0.1238 s between Chromaprint items


@dataclass(frozen=True)
class FrameHash:
    time_s: float
    dhash: int  # 64 bits


@dataclass(frozen=True)
class Chromaprint:
    items: tuple[int, ...]  # unsigned 32-bit Chromaprint items, CHROMAPRINT_ITEM_S apart


def frame_interval_s(duration_s: float) -> float:
    return max(MIN_INTERVAL_S, duration_s / MAX_REGULAR_FRAMES)


def sample_frames(src: Path, work_dir: Path, *, duration_s: float, limits: MediaLimits,
                  ffmpeg_bin: str = "ffmpeg") -> list[FrameHash]:
    """Hashes of the frames kept from `src`'s first video stream (shot changes and regular samples), in time
    order; flat frames left out. Raises CommandFailed, CommandTimedOut, CorruptMedia (no frame decoded)."""
    times_file = work_dir / "frame-times.txt"
    times_file.unlink(missing_ok=True)
    interval = frame_interval_s(duration_s)
    keep = f"gt(scene,{SCENE_THRESHOLD})+isnan(prev_selected_t)+gte(t-prev_selected_t,{interval:.3f})"
    frames = (
        open_input(src)["v:0"]
        .filter("scale", *SCAN_SIZE, flags="fast_bilinear")
        .filter("select", keep)
        .filter("metadata", mode="print", key="lavfi.scene_score", file=str(times_file))
        .filter("scale", FRAME_SIZE, FRAME_SIZE, flags="area")
        .filter("format", "gray")
    )
    node = ffmpeg.output(frames, "pipe:1", format="rawvideo", fps_mode="vfr", **{"frames:v": MAX_FRAMES})
    result = runner.run(compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin), timeout_s=limits.encode_timeout_s(duration_s),
                        cwd=work_dir)
    pixels = np.frombuffer(result.stdout, dtype=np.uint8)
    count = len(pixels) // (FRAME_SIZE * FRAME_SIZE)
    times = _printed_times(times_file)[:count]
    times_file.unlink(missing_ok=True)
    if count == 0 or len(times) != count:
        raise CorruptMedia(f"{src.name}: {count} frames, {len(times)} times")
    grey = pixels[: count * FRAME_SIZE * FRAME_SIZE].reshape(count, FRAME_SIZE, FRAME_SIZE)
    out = []
    for time_s, frame in zip(times, grey, strict=True):
        centre = frame[CENTRE_ROWS, CENTRE_COLS]
        if float(centre.std()) >= FLAT_STD:
            out.append(FrameHash(time_s=round(time_s, 3), dhash=dhash_of(centre)))
    return out


def dhash_of(grey: NDArray[np.uint8]) -> int:
    """imagehash's 64-bit difference hash of a grey picture, as an unsigned integer."""
    import imagehash
    from PIL import Image

    bits = imagehash.dhash(Image.fromarray(grey, mode="L")).hash.flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def _printed_times(path: Path) -> list[float]:
    """pts_time of each frame, from the `metadata` filter's print-out ("frame:0 pts:0 pts_time:0" lines)."""
    if not path.exists():
        return []
    times = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        for field in line.split():
            name, _, value = field.partition(":")
            if name == "pts_time":
                try:
                    seconds = float(value)
                except ValueError:
                    continue
                if math.isfinite(seconds):
                    times.append(max(0.0, seconds))
    return times


def sound_print(src: Path, work_dir: Path, *, duration_s: float, limits: MediaLimits, ffmpeg_bin: str = "ffmpeg",
                fpcalc_bin: str = "fpcalc") -> Chromaprint:
    """The whole recording's Chromaprint. ffmpeg (with the input whitelists) decodes `src`'s first audio stream to
    raw mono PCM at Chromaprint's own rate, so fpcalc never parses a container; `fpcalc -raw -json -length 0`
    reads that. fpcalc 1.5.1 built on FFmpeg 5 reports the end of every input as a decoding error and exits 3
    (Debian bookworm's libchromaprint-tools), hence `-ignore-errors`; too little sound still fails (status 2).
    Raises CommandFailed, CommandTimedOut, CorruptMedia (no fingerprint in fpcalc's answer)."""
    pcm = work_dir / "sound.s16le"
    node = ffmpeg.output(open_input(src)["a:0"], file_url(pcm), format="s16le", ac=1, ar=CHROMAPRINT_RATE)
    timeout_s = limits.encode_timeout_s(duration_s)
    try:
        runner.run(compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin), timeout_s=timeout_s, cwd=work_dir)
        result = runner.run([fpcalc_bin, "-raw", "-json", "-length", "0", "-ignore-errors", "-format", "s16le",
                             "-rate", str(CHROMAPRINT_RATE), "-channels", "1", str(pcm)], timeout_s=timeout_s)
    finally:
        pcm.unlink(missing_ok=True)
    try:
        data = json.loads(result.stdout.decode("utf-8"))
        items = tuple(int(v) & 0xFFFFFFFF for v in data.get("fingerprint") or [])
    except (ValueError, TypeError, AttributeError) as exc:
        raise CorruptMedia(f"fpcalc gave no fingerprint for {src.name}: {exc}") from exc
    if not items:
        raise CorruptMedia(f"fpcalc gave an empty fingerprint for {src.name}")
    return Chromaprint(items=items)
