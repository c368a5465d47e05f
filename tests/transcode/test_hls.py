"""HLS from the renditions by stream copy: fMP4 variants whose packets are the renditions' own, a master playlist
listing every rung with bandwidth, resolution and codecs, a subtitles group, and ffprobe reading it all."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.support.media import make_landscape_720p_clip, packets_md5, run_tool
from transcode.hls import (
    SubtitleRendition,
    master_playlist,
    package_rendition,
    parse_media_playlist,
    subtitle_playlist,
    webvtt_for_hls,
)
from transcode.ladder import encode_ladder, plan_ladder
from transcode.limits import MediaLimits
from transcode.probe import ffprobe_json, probe_media

LIMITS = MediaLimits()
CLIP_S = 10.0
VTT = "WEBVTT\n\n1\n00:00:00.500 --> 00:00:03.000\n同志们好。\n\n2\n00:00:03.000 --> 00:00:06.000\n今天讲一堂党课。\n"


@pytest.fixture(scope="module")
def renditions(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], float]:
    """The 720p and 360p renditions as the pipeline makes them (keyframe every 4 s), and how long the encode took."""
    work = tmp_path_factory.mktemp("hls-ladder")
    src = make_landscape_720p_clip(work / "source.mp4", duration_s=CLIP_S)
    probe = probe_media(src, limits=LIMITS)
    started = time.monotonic()
    outputs = encode_ladder(src, probe, plan_ladder(probe), work, limits=LIMITS)
    encode_s = time.monotonic() - started
    return {out.spec.label: out.path for out in outputs}, encode_s


def test_variants_are_stream_copies_packaged_far_faster_than_the_encode(
        renditions: tuple[dict[str, Path], float], tmp_path: Path) -> None:
    paths, encode_s = renditions
    started = time.monotonic()
    variants = [package_rendition(path, tmp_path, name=label, limits=LIMITS) for label, path in paths.items()]
    package_s = time.monotonic() - started
    assert package_s < encode_s / 3, (package_s, encode_s)
    for variant in variants:
        rendition = paths[variant.name]
        for name in variant.files:
            assert (tmp_path / name).is_file()
        assert variant.files[-1] == f"{variant.name}.m3u8" and variant.files[0] == f"{variant.name}-init.mp4"
        init, segments = parse_media_playlist((tmp_path / variant.playlist).read_text())
        assert init == f"{variant.name}-init.mp4" and len(segments) >= 2
        assert all(s.duration_s <= 4.5 for s in segments)  # cut at the ladder's 4 s keyframes
        # The same packets as the rendition: nothing was encoded again.
        packaged = tmp_path / f"{variant.name}-joined.mp4"
        run_tool("ffmpeg", "-allowed_extensions", "ALL", "-i", tmp_path / variant.playlist, "-c", "copy", packaged)
        assert packets_md5(packaged, "v") == packets_md5(rendition, "v")
        assert packets_md5(packaged, "a") == packets_md5(rendition, "a")
        assert abs(variant.duration_s - CLIP_S) < 0.5
        assert variant.average_bandwidth <= variant.bandwidth
        # CODECS from the avcC box agree with ffprobe's profile and level.
        video = next(s for s in ffprobe_json(rendition, timeout_s=30)["streams"] if s["codec_type"] == "video")
        profile_idc = {"High": 0x64, "Main": 0x4D, "Constrained Baseline": 0x42}[video["profile"]]
        assert re.fullmatch(rf"avc1\.{profile_idc:02x}[0-9a-f]{{2}}{int(video['level']):02x},mp4a\.40\.2",
                            variant.codecs), variant.codecs


def test_master_playlist_lists_every_rung_and_the_subtitles_and_ffprobe_reads_it(
        renditions: tuple[dict[str, Path], float], tmp_path: Path) -> None:
    paths, _ = renditions
    variants = [package_rendition(path, tmp_path, name=label, limits=LIMITS) for label, path in paths.items()]
    (tmp_path / "subtitles-v1.vtt").write_text(webvtt_for_hls(VTT), encoding="utf-8")
    (tmp_path / "subtitles-v1.m3u8").write_text(subtitle_playlist("subtitles-v1.vtt", duration_s=CLIP_S))
    master = master_playlist(variants, subtitles=SubtitleRendition("subtitles-v1.m3u8"))
    (tmp_path / "master.m3u8").write_text(master, encoding="utf-8")

    lines = master.splitlines()
    assert lines[0] == "#EXTM3U"
    media = [line for line in lines if line.startswith("#EXT-X-MEDIA:")]
    assert media == ['#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="中文",LANGUAGE="zh-CN",DEFAULT=YES,'
                     'AUTOSELECT=YES,URI="subtitles-v1.m3u8"']
    stream_infs = [(line, lines[i + 1]) for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:")]
    assert [uri for _, uri in stream_infs] == ["360p.m3u8", "720p.m3u8"]  # lowest first
    for (info, _uri), size in zip(stream_infs, ("640x360", "1280x720"), strict=True):
        attrs = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', info.split(":", 1)[1]))
        assert int(attrs["BANDWIDTH"]) > 0 and int(attrs["AVERAGE-BANDWIDTH"]) > 0
        assert attrs["RESOLUTION"] == size and attrs["SUBTITLES"] == '"subs"'
        assert re.fullmatch(r'"avc1\.[0-9a-f]{6},mp4a\.40\.2"', attrs["CODECS"])
    vtt = (tmp_path / "subtitles-v1.vtt").read_text()
    assert vtt.splitlines()[:2] == ["WEBVTT", "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"] and "同志们好" in vtt

    # ffprobe (hls demuxer) reads the master: one program per rung, each with its video and audio.
    import json
    import subprocess

    proc = subprocess.run(["ffprobe", "-v", "error", "-allowed_extensions", "ALL", "-show_programs", "-show_format",
                           "-of", "json", str(tmp_path / "master.m3u8")], capture_output=True, timeout=60, check=True)
    info = json.loads(proc.stdout)
    assert info["format"]["format_name"] == "hls"
    assert abs(float(info["format"]["duration"]) - CLIP_S) < 0.5
    heights = sorted(s["height"] for p in info["programs"] for s in p["streams"] if s["codec_type"] == "video")
    assert heights == [360, 720]
