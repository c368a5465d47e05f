"""The county's archive: RealMedia, DV camcorder tapes, broadcast MXF and 1080i, old audio formats."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.media import run_tool, streams_of
from transcode.audio_edition import encode_audio_edition
from transcode.ladder import encode_ladder, plan_ladder
from transcode.limits import MediaLimits
from transcode.poster import make_poster
from transcode.probe import probe_media

LIMITS = MediaLimits()
TEST_AV = ("-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=2", "-f", "lavfi", "-i", "sine=f=440:d=2:sample_rate=48000")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    run_tool("ffmpeg", *TEST_AV, "-c:v", "rv20", "-s", "352x288", "-c:a", "ac3", "-f", "rm", folder / "旧片.rmvb")
    run_tool("ffmpeg", *TEST_AV, "-c:v", "mpeg2video", "-s", "1280x720", "-c:a", "pcm_s16le", folder / "station.mxf")
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=720x576:r=25:d=2", "-f", "lavfi", "-i",
             "sine=d=2:sample_rate=48000", "-c:v", "dvvideo", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", "-ac", "2",
             folder / "camcorder.dv")  # fmt: skip
    # 1080i from a broadcast camera: interlaced H.264 in MPEG-TS, top field first.
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=50:d=2", "-f", "lavfi", "-i", "sine=d=2",
             "-vf", "tinterlace=interleave_top,fieldorder=tff", "-c:v", "libx264", "-preset", "ultrafast",
             "-flags", "+ildct+ilme", "-x264-params", "tff=1", "-c:a", "aac", folder / "meeting.ts")  # fmt: skip
    # 576i with fast sideways motion: every moving edge shows combing until the fields are deinterlaced.
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=720x576:r=50:d=1,scroll=horizontal=0.03", "-vf",
             "tinterlace=interleave_top,fieldorder=tff", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10",
             "-flags", "+ildct+ilme", "-x264-params", "tff=1", folder / "field_camera.ts")  # fmt: skip
    for name, codec in (("music.wv", "wavpack"), ("sound.ac3", "ac3"), ("voice.au", "pcm_s16be")):
        run_tool("ffmpeg", "-f", "lavfi", "-i", "sine=f=440:d=2", "-c:a", codec, folder / name)
    return folder


@pytest.mark.parametrize("name", ["旧片.rmvb", "station.mxf", "camcorder.dv", "meeting.ts"])
def test_archive_video_becomes_renditions_poster_and_edition(archive: Path, name: str, tmp_path: Path) -> None:
    src = archive / name
    probe = probe_media(src, limits=LIMITS)
    assert probe.video is not None and probe.audio is not None
    outputs = encode_ladder(src, probe, plan_ladder(probe), tmp_path, limits=LIMITS)
    assert outputs
    for out in outputs:
        (video,) = streams_of(out.path, "video")
        assert video["codec_name"] == "h264" and video.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1")
    assert make_poster(src, probe, tmp_path / "poster.jpg", limits=LIMITS) is not None
    edition = encode_audio_edition(src, probe, tmp_path / "a.mp3", tags={}, limits=LIMITS)
    assert -17.0 <= edition.loudness.integrated_lufs <= -15.0


def test_anamorphic_dv_keeps_its_four_by_three_picture(archive: Path, tmp_path: Path) -> None:
    probe = probe_media(archive / "camcorder.dv", limits=LIMITS)
    assert probe.video is not None
    # 720x576 with 16:15 pixels is shown as 768x576 (4:3); square-pixel renditions must keep that shape.
    assert (probe.video.display_width, probe.video.display_height) == (768, 576)
    outputs = encode_ladder(archive / "camcorder.dv", probe, plan_ladder(probe), tmp_path, limits=LIMITS)
    for out in outputs:
        assert abs(out.width / out.height - 4 / 3) < 0.02, (out.spec.label, out.width, out.height)


def combing(path: Path, *, width: int, height: int, at_s: float = 0.5) -> float:
    """Mean zig-zag between neighbouring rows (a row unlike both its neighbours, the same way): interlace combing."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ss", str(at_s), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    rows = [raw[i * width:(i + 1) * width] for i in range(height)]
    total, count = 0, 0
    for above, row, below in zip(rows, rows[1:], rows[2:], strict=False):
        for x in range(0, width, 4):
            up, down = row[x] - above[x], row[x] - below[x]
            total += min(abs(up), abs(down)) if up * down > 0 else 0
            count += 1
    return total / count


def test_interlaced_camera_video_is_deinterlaced(archive: Path, tmp_path: Path) -> None:
    src = archive / "field_camera.ts"
    probe = probe_media(src, limits=LIMITS)
    assert probe.video is not None and probe.video.interlaced
    specs = plan_ladder(probe)
    assert not any(spec.copy for spec in specs)  # interlaced H.264 is never passed through
    assert combing(src, width=720, height=576) > 10
    (full, *_) = encode_ladder(src, probe, specs, tmp_path, limits=LIMITS)
    assert (full.width, full.height) == (720, 576)  # same size: combing would survive if it were there
    assert combing(full.path, width=720, height=576) < 2


@pytest.mark.parametrize("name", ["music.wv", "sound.ac3", "voice.au"])
def test_old_audio_formats_are_accepted(archive: Path, name: str, tmp_path: Path) -> None:
    probe = probe_media(archive / name, limits=LIMITS)
    assert probe.video is None and probe.audio is not None
    edition = encode_audio_edition(archive / name, probe, tmp_path / "a.mp3", tags={}, limits=LIMITS)
    assert -17.0 <= edition.loudness.integrated_lufs <= -15.0
