"""The portable audio edition: mono MP3 for cheap small speakers, loudness-normalised, with Chinese ID3v2.3 tags.

EBU R128 `loudnorm` in two passes, measure then apply (linear gain when the target can be reached under the
true-peak ceiling, otherwise loudnorm's dynamic mode), after a gain towards the target and a gentle compressor
(measured in a pass of its own). The result is measured with `ebur128`; when it misses the target by more than
TOLERANCE_LU or peaks above the ceiling, the apply pass runs once more, aimed off by the error.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from transcode import runner
from transcode.command import PROGRESS, QUIET, compile_ffmpeg, file_url, open_input
from transcode.errors import CommandFailed, NoAudio
from transcode.limits import MediaLimits
from transcode.probe import ProbeResult, probe_media

log = logging.getLogger(__name__)

TARGET_LUFS = -16.0
TARGET_TRUE_PEAK_DBTP = -1.5
TARGET_LRA = 11.0
# loudnorm aims a little under the ceiling: MP3 encoding adds a few tenths of a dB of overshoot.
LOUDNORM_TRUE_PEAK_DBTP = -2.0
HIGHPASS_HZ = 100
SAMPLE_RATE = 44100
MP3_BITRATE = "64k"
ID3_VERSION = 3  # ID3v2.3: what old MP3 players read; ffmpeg writes non-ASCII v2.3 text as UTF-16 with BOM
TOLERANCE_LU = 0.5  # re-encode once when the first result is further than this from the target
SILENCE_LUFS = -60.0
MAX_GAIN_DB = 30.0
COMPRESSOR = {"threshold": "-21dB", "ratio": 4, "attack": 5, "release": 120, "knee": 4}
INFO_LOG = ("-hide_banner", "-nostats", "-loglevel", "info")
_TAG_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float
    true_peak_dbtp: float
    lra: float


@dataclass(frozen=True)
class AudioEditionOutput:
    path: Path
    duration_s: float
    size_bytes: int
    loudness: Loudness


def encode_audio_edition(
    src: Path,
    probe: ProbeResult,
    out_path: Path,
    *,
    tags: Mapping[str, str],
    limits: MediaLimits,
    on_progress: Callable[[float], None] | None = None,
    ffmpeg_bin: str = "ffmpeg",
) -> AudioEditionOutput:
    """Write the edition of `probe.audio` (the chosen stream only) to `out_path`; progress covers the second pass."""
    if probe.audio is None:
        raise NoAudio(f"{src.name} has no audio stream")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    timeout_s = limits.encode_timeout_s(probe.duration_s)
    index = probe.audio.index

    def measure(chain: Callable[[Any], Any]) -> dict[str, Any]:
        sound = chain(open_input(src)[str(index)]).filter("loudnorm", **_loudnorm_targets(TARGET_LUFS))
        node = ffmpeg.output(sound, "-", format="null")
        result = runner.run(
            compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin, global_args=INFO_LOG), timeout_s=timeout_s
        )
        return _loudnorm_json(result.stderr_tail)

    # Pass 1: how loud the mono, high-passed speech is. Pass 2: the same after a gain towards the target and a
    # gentle compressor (speech peaks sit ~20 dB over its loudness; without it loudnorm's limiter falls short of
    # the target), measured for loudnorm. Pass 3: loudnorm applies that measurement, MP3 out.
    gain_db = _gain_towards_target(_number(measure(_prepared), "input_i"))
    chain = _compressed(gain_db)
    measured = measure(chain)
    try:
        target_lufs, ceiling_dbtp = TARGET_LUFS, LOUDNORM_TRUE_PEAK_DBTP
        for attempt in range(2):
            _encode_mp3(
                src, index, chain, measured, out_path, tags=tags, target_lufs=target_lufs, ceiling_dbtp=ceiling_dbtp,
                timeout_s=timeout_s, on_progress=on_progress if attempt == 0 else None,
                duration_s=probe.duration_s, ffmpeg_bin=ffmpeg_bin,
            )  # fmt: skip
            loudness = measure_loudness(out_path, ffmpeg_bin=ffmpeg_bin, timeout_s=timeout_s)
            error_lu = TARGET_LUFS - loudness.integrated_lufs
            overshoot_db = loudness.true_peak_dbtp - TARGET_TRUE_PEAK_DBTP
            if loudness.integrated_lufs < SILENCE_LUFS or (
                abs(error_lu) <= TOLERANCE_LU and overshoot_db <= 0
            ):
                break
            # loudnorm's dynamic mode lands a little low on peaky speech: aim off by the error once.
            log.info("audio edition %s measured %s; encoding once more", out_path.name, loudness)
            target_lufs = min(-5.0, max(-30.0, target_lufs + error_lu))
            ceiling_dbtp = max(-9.0, ceiling_dbtp - max(0.0, overshoot_db + 0.2))
        out = probe_media(out_path, limits=limits)
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    log.info("audio edition %s: %s", out_path.name, loudness)
    return AudioEditionOutput(
        path=out_path, duration_s=out.duration_s, size_bytes=out.size_bytes, loudness=loudness
    )


def _encode_mp3(
    src: Path,
    index: int,
    chain: Callable[[Any], Any],
    measured: Mapping[str, Any],
    out_path: Path,
    *,
    tags: Mapping[str, str],
    target_lufs: float,
    ceiling_dbtp: float,
    timeout_s: float,
    on_progress: Callable[[float], None] | None,
    duration_s: float,
    ffmpeg_bin: str,
) -> None:
    sound = chain(open_input(src)[str(index)]).filter(
        "loudnorm",
        **_loudnorm_targets(target_lufs, ceiling_dbtp),
        **_measured_options(measured),
        linear="true",
    )
    node = ffmpeg.output(
        sound.filter("aresample", SAMPLE_RATE),
        file_url(out_path),
        format="mp3",
        ac=1,
        ar=SAMPLE_RATE,
        map_metadata=-1,
        map_chapters=-1,
        id3v2_version=ID3_VERSION,
        **{"c:a": "libmp3lame", "b:a": MP3_BITRATE},
    )
    args = compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin, global_args=(*QUIET, *PROGRESS))
    args[-1:-1] = _metadata_args(tags)  # ffmpeg-python 0.2 cannot repeat an option; they go before the output
    runner.run(args, timeout_s=timeout_s, on_progress=on_progress, progress_total_s=duration_s)


def _gain_towards_target(input_lufs: float) -> float:
    """Gain (dB) that brings speech measured at `input_lufs` near the target; none for silence."""
    if math.isnan(input_lufs) or input_lufs < SILENCE_LUFS:
        return 0.0
    return min(MAX_GAIN_DB, max(-MAX_GAIN_DB, TARGET_LUFS - input_lufs))


def measure_loudness(path: Path, *, ffmpeg_bin: str = "ffmpeg", timeout_s: float = 600) -> Loudness:
    """EBU R128 integrated loudness, true peak and loudness range of the first audio stream (ffmpeg `ebur128`)."""
    sound = open_input(path)["a:0"].filter("ebur128", peak="true", framelog="verbose")
    node = ffmpeg.output(sound, "-", format="null")
    result = runner.run(
        compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin, global_args=INFO_LOG), timeout_s=timeout_s
    )
    summary = result.stderr_tail.rpartition("Summary:")[2]
    values = {}
    for name, pattern in (("i", r"\bI:\s*(-?[\d.]+|-inf)"), ("lra", r"\bLRA:\s*(-?[\d.]+)"),
                          ("peak", r"\bPeak:\s*(-?[\d.]+|-inf)")):  # fmt: skip
        match = re.search(pattern, summary)
        if match is None:
            raise CommandFailed(f"no ebur128 summary for {path.name}:\n{result.stderr_tail}")
        values[name] = float(match.group(1))
    return Loudness(integrated_lufs=values["i"], true_peak_dbtp=values["peak"], lra=values["lra"])


def _prepared(stream: Any) -> Any:
    """Mono, with rumble and handling noise below HIGHPASS_HZ removed."""
    return stream.filter("aformat", channel_layouts="mono").filter("highpass", f=HIGHPASS_HZ)


def _compressed(gain_db: float) -> Callable[[Any], Any]:
    def chain(stream: Any) -> Any:
        louder = _prepared(stream).filter("volume", f"{gain_db:.2f}dB")
        return louder.filter("acompressor", **COMPRESSOR)

    return chain


def _loudnorm_targets(target_lufs: float, ceiling_dbtp: float = LOUDNORM_TRUE_PEAK_DBTP) -> dict[str, Any]:
    return {
        "I": round(target_lufs, 2),
        "TP": round(ceiling_dbtp, 2),
        "LRA": TARGET_LRA,
        "print_format": "json",
    }


def _loudnorm_json(stderr_tail: str) -> dict[str, Any]:
    """The JSON block loudnorm prints (print_format=json) at the end of its run."""
    start = stderr_tail.rfind("{")
    end = stderr_tail.find("}", start)
    if start < 0 or end < 0:
        raise CommandFailed(f"loudnorm printed no measurement:\n{stderr_tail}")
    try:
        data = json.loads(stderr_tail[start : end + 1])
    except ValueError as exc:
        raise CommandFailed(f"unreadable loudnorm measurement:\n{stderr_tail}") from exc
    if not isinstance(data, dict) or "input_i" not in data:
        raise CommandFailed(f"unexpected loudnorm measurement:\n{stderr_tail}")
    return data


def _number(data: Mapping[str, Any], key: str) -> float:
    try:
        return float(data[key])  # "-inf" for silence parses too
    except (KeyError, TypeError, ValueError):
        return math.nan


def _clamped(data: Mapping[str, Any], key: str, low: float, high: float) -> float:
    value = _number(data, key)
    if math.isnan(value):
        value = low
    return min(high, max(low, value))


def _measured_options(measured: Mapping[str, Any]) -> dict[str, float]:
    """First-pass values within the ranges loudnorm accepts (silence measures -inf)."""
    return {
        "measured_I": round(_clamped(measured, "input_i", -99.0, 0.0), 2),
        "measured_TP": round(_clamped(measured, "input_tp", -99.0, 99.0), 2),
        "measured_LRA": round(_clamped(measured, "input_lra", 0.0, 99.0), 2),
        "measured_thresh": round(_clamped(measured, "input_thresh", -99.0, 0.0), 2),
        "offset": round(_clamped(measured, "target_offset", -99.0, 99.0), 2),
    }


def _metadata_args(tags: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for key, value in tags.items():
        if not _TAG_KEY.match(key):
            raise ValueError(f"unsupported tag name {key!r}")
        if value:
            args += ["-metadata", f"{key}={value}"]
    return args
