"""The H.264/AAC rendition ladder: rungs by the short side, upright, constant frame rate, stream copy when it fits."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.media import (
    gray_thumbnail,
    make_landscape_720p_clip,
    packets_md5,
    run_tool,
    streams_of,
    top_level_atoms,
)
from transcode.audio_edition import measure_loudness
from transcode.errors import CorruptMedia
from transcode.ladder import RenditionOutput, audio_copyable, encode_ladder, plan_ladder
from transcode.limits import MediaLimits
from transcode.probe import AudioInfo, ProbeResult, VideoInfo, probe_media

LIMITS = MediaLimits()


def _probe_of(
    width: int, height: int, *, rotation: int = 0, codec: str = "h264", fps: float = 30.0
) -> ProbeResult:
    display = (height, width) if rotation in (90, 270) else (width, height)
    video = VideoInfo(index=0, codec=codec, profile="High", pix_fmt="yuv420p", width=width, height=height,
                      rotation_deg=rotation, display_width=display[0], display_height=display[1], fps=fps,
                      is_vfr=False, bit_rate=5_000_000, level=40)  # fmt: skip
    audio = AudioInfo(index=1, codec="aac", profile="LC", sample_rate=48000, channels=2, bit_rate=128_000)
    return ProbeResult(format_name="mov,mp4,m4a,3gp,3g2,mj2", duration_s=10.0, size_bytes=1, bit_rate=5_128_000,
                       video=video, audio=audio, audio_stream_count=1, cover_art_index=None)  # fmt: skip


def _encode(src: Path, out_dir: Path) -> tuple[ProbeResult, list[RenditionOutput]]:
    probe = probe_media(src, limits=LIMITS)
    return probe, encode_ladder(src, probe, plan_ladder(probe), out_dir, limits=LIMITS)


def test_portrait_rungs_are_by_the_short_side_and_stay_portrait() -> None:
    specs = plan_ladder(_probe_of(1920, 1080, rotation=90))
    assert [(s.label, s.width, s.height) for s in specs] == [("720p", 720, 1280), ("360p", 360, 640)]


def test_landscape_1080p_gets_720p_and_360p() -> None:
    specs = plan_ladder(_probe_of(1920, 1080))
    assert [(s.label, s.width, s.height) for s in specs] == [("720p", 1280, 720), ("360p", 640, 360)]


def test_small_source_is_never_upscaled() -> None:
    specs = plan_ladder(_probe_of(176, 144))
    assert [(s.label, s.width, s.height) for s in specs] == [("144p", 176, 144)]


def test_480p_source_gets_its_own_size_and_360p() -> None:
    specs = plan_ladder(_probe_of(854, 480))
    assert [(s.label, s.width, s.height) for s in specs] == [("480p", 854, 480), ("360p", 640, 360)]


def test_odd_sizes_become_even() -> None:
    specs = plan_ladder(_probe_of(355, 199))
    assert all(s.width % 2 == 0 and s.height % 2 == 0 for s in specs)
    assert specs[0].height == 198


def test_frame_rate_is_capped_at_30() -> None:
    assert {s.fps for s in plan_ladder(_probe_of(1280, 720, fps=60.0))} == {30.0}


def test_audio_only_source_has_no_renditions() -> None:
    assert plan_ladder(replace(_probe_of(640, 360), video=None)) == []


def test_portrait_clip_comes_out_upright(rotated_portrait_clip: Path, tmp_path: Path) -> None:
    probe, outputs = _encode(rotated_portrait_clip, tmp_path)
    assert [o.spec.label for o in outputs] == ["360p"]
    out = outputs[0]
    assert (out.width, out.height) == (360, 640)
    (video,) = streams_of(out.path, "video")
    assert (video["width"], video["height"]) == (360, 640)
    assert not video.get("side_data_list")  # no display matrix left to rotate it again
    assert "rotate" not in video.get("tags", {})
    # The coded picture's white top half must now be on the right.
    pixels = gray_thumbnail(out.path, at_s=1.0, width=4, height=4)
    left = sum(pixels[r * 4 + c] for r in range(4) for c in (0, 1))
    right = sum(pixels[r * 4 + c] for r in range(4) for c in (2, 3))
    assert right > left + 8 * 60


def test_renditions_are_h264_aac_faststart_with_the_source_duration(hevc_mov: Path, tmp_path: Path) -> None:
    probe, outputs = _encode(hevc_mov, tmp_path)
    assert [o.spec.label for o in outputs] == ["240p"]
    out = outputs[0]
    (video,) = streams_of(out.path, "video")
    (audio,) = streams_of(out.path, "audio")
    assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert video["profile"] in ("High", "Main", "Constrained Baseline", "Baseline")
    assert audio["codec_name"] == "aac" and audio["channels"] in (1, 2)
    assert abs(out.duration_s - probe.duration_s) <= 0.1
    atoms = top_level_atoms(out.path)
    assert atoms.index("moov") < atoms.index("mdat")
    assert out.path.parent == tmp_path and out.size_bytes == out.path.stat().st_size


def test_720p_and_360p_come_from_one_run(landscape_720p_clip: Path, tmp_path: Path) -> None:
    src = landscape_720p_clip
    seen: list[float] = []
    probe = probe_media(src, limits=LIMITS)
    outputs = encode_ladder(src, probe, plan_ladder(probe), tmp_path, limits=LIMITS, on_progress=seen.append)
    assert [(o.spec.label, o.width, o.height) for o in outputs] == [("720p", 1280, 720), ("360p", 640, 360)]
    assert all(not o.spec.copy for o in outputs)
    assert seen and seen[-1] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["360p.mp4", "720p.mp4"]


def _keyframe_times(path: Path) -> list[float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-skip_frame", "nokey", "-select_streams", "v:0", "-show_entries",
                          "frame=pts_time", "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    return [round(float(line.strip(",")), 2) for line in out.stdout.split()]


def _x264_settings(path: Path) -> dict[str, str]:
    """The options x264 wrote into the stream's first SEI ("x264 - core ... options: cabac=1 ... subme=2 ...")."""
    head = path.read_bytes()[: 4 << 20]
    text = head[head.index(b"x264 - core"):].split(b"\x00", 1)[0].decode()
    return dict(item.split("=", 1) for item in text.partition("options: ")[2].split() if "=" in item)


def test_keyframes_every_four_seconds_and_the_large_rung_refines_faster(tmp_path: Path) -> None:
    # A smooth 9 s clip (no scene cuts): keyframes at 0, 4 and 8 s in both rungs. The 720p rung is encoded with
    # subme=1 on top of veryfast, the 360p one with the preset as it is (subme=2).
    src = make_landscape_720p_clip(tmp_path / "nine seconds.mp4", duration_s=9.0)
    _, outputs = _encode(src, tmp_path / "out")
    by_label = {o.spec.label: o.path for o in outputs}
    for path in by_label.values():
        assert _keyframe_times(path) == [0.0, 4.0, 8.0]
        assert _x264_settings(path)["keyint"] == "120"
    assert _x264_settings(by_label["720p"])["subme"] == "1"
    assert _x264_settings(by_label["360p"])["subme"] == "2"


def test_large_rung_params_can_be_turned_off(landscape_720p_clip: Path, tmp_path: Path) -> None:
    probe = probe_media(landscape_720p_clip, limits=LIMITS)
    specs = [spec for spec in plan_ladder(probe) if spec.label == "720p"]
    (out,) = encode_ladder(landscape_720p_clip, probe, specs, tmp_path, limits=LIMITS, large_rung_params="")
    assert _x264_settings(out.path)["subme"] == "2"


def test_variable_frame_rate_becomes_constant_with_sound_in_sync(vfr_clip: Path, tmp_path: Path) -> None:
    probe, outputs = _encode(vfr_clip, tmp_path)
    (video,) = streams_of(outputs[0].path, "video")
    (audio,) = streams_of(outputs[0].path, "audio")
    assert video["r_frame_rate"] == video["avg_frame_rate"]
    assert abs(float(video["duration"]) - float(audio["duration"])) <= 0.1
    assert abs(outputs[0].duration_s - probe.duration_s) <= 0.1


def test_qcif_phone_clip_gets_one_rendition_at_its_own_size(qcif_clip: Path, tmp_path: Path) -> None:
    _, outputs = _encode(qcif_clip, tmp_path)
    assert [(o.spec.label, o.width, o.height) for o in outputs] == [("144p", 176, 144)]
    (video,) = streams_of(outputs[0].path, "video")
    assert video["codec_name"] == "h264"


def test_fitting_source_is_stream_copied(fitting_360p_clip: Path, tmp_path: Path) -> None:
    probe, outputs = _encode(fitting_360p_clip, tmp_path)
    assert [(o.spec.label, o.spec.copy) for o in outputs] == [("360p", True)]
    assert packets_md5(outputs[0].path) == packets_md5(fitting_360p_clip)
    assert packets_md5(outputs[0].path, "a") == packets_md5(fitting_360p_clip, "a")  # fitting AAC-LC kept too
    atoms = top_level_atoms(outputs[0].path)
    assert atoms.index("moov") < atoms.index("mdat")
    assert abs(outputs[0].duration_s - probe.duration_s) <= 0.1


@pytest.mark.parametrize(
    ("sound", "channels"),
    [(["-c:a", "libmp3lame", "-b:a", "128k", "-ac", "2"], 2), (["-c:a", "aac", "-b:a", "384k", "-ac", "6"], 2)],
    ids=["mp3", "aac-5.1"],
)
def test_fitting_picture_is_copied_when_only_its_sound_needs_encoding(
    sound: list[str], channels: int, tmp_path: Path
) -> None:
    # A phone clip the 360p rung fits, but whose sound a browser may not play (MP3 in MP4) or that is 5.1: the
    # picture is still copied, and only the sound is encoded.
    src = tmp_path / "src" / "fits 360p.mp4"
    src.parent.mkdir()
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=2", "-f", "lavfi",
             "-i", "sine=d=2:sample_rate=48000", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
             "-pix_fmt", "yuv420p", "-crf", "28", "-maxrate", "600k", "-bufsize", "1200k", *sound, src)  # fmt: skip
    probe, outputs = _encode(src, tmp_path / "out")
    assert [(o.spec.label, o.spec.copy) for o in outputs] == [("360p", True)]
    assert packets_md5(outputs[0].path) == packets_md5(src)
    (audio,) = streams_of(outputs[0].path, "audio")
    assert audio["codec_name"] == "aac" and audio["channels"] == channels
    assert int(audio["bit_rate"]) <= 110_000
    assert abs(outputs[0].duration_s - probe.duration_s) <= 0.1
    assert measure_loudness(outputs[0].path).integrated_lufs > -40


def test_copy_and_encode_share_one_run(tmp_path: Path, fitting_360p_clip: Path) -> None:
    probe = probe_media(fitting_360p_clip, limits=LIMITS)
    specs = plan_ladder(probe, rungs=(360, 240))
    assert [(s.label, s.copy) for s in specs] == [("360p", True), ("240p", False)]
    outputs = encode_ladder(fitting_360p_clip, probe, specs, tmp_path, limits=LIMITS)
    assert [(o.width, o.height) for o in outputs] == [(640, 360), (426, 240)]


def test_encoded_rungs_keep_fitting_aac_sound_as_it_is(landscape_720p_clip: Path, tmp_path: Path) -> None:
    probe, outputs = _encode(landscape_720p_clip, tmp_path)
    assert probe.audio is not None and probe.audio.bit_rate and probe.audio.bit_rate <= 134_000
    assert [o.spec.label for o in outputs] == ["720p", "360p"]
    source_sound = packets_md5(landscape_720p_clip, "a")
    assert [packets_md5(o.path, "a") for o in outputs] == [source_sound, source_sound]


def test_loud_or_variable_rate_sound_is_encoded_to_the_rung_bit_rate(tmp_path: Path) -> None:
    src = tmp_path / "src" / "phone 256k.mp4"
    src.parent.mkdir()
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=2", "-f", "lavfi",
             "-i", "sine=d=2:sample_rate=48000", "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast",
             "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "256k", src)  # fmt: skip
    probe, outputs = _encode(src, tmp_path / "out")
    assert probe.audio is not None and probe.audio.bit_rate and probe.audio.bit_rate > 180_000
    for out in outputs:
        assert packets_md5(out.path, "a") != packets_md5(src, "a")
        (audio,) = streams_of(out.path, "audio")
        assert audio["codec_name"] == "aac" and int(audio["bit_rate"]) <= 140_000
    assert not audio_copyable(replace(probe.audio, bit_rate=96_000), replace(probe.video, is_vfr=True), 360)
    assert audio_copyable(replace(probe.audio, bit_rate=96_000), probe.video, 360)


def test_video_without_sound_gives_renditions_without_audio(silent_video: Path, tmp_path: Path) -> None:
    _, outputs = _encode(silent_video, tmp_path)
    assert outputs
    assert streams_of(outputs[0].path, "audio") == []


def test_only_the_default_audio_track_is_kept(two_audio_tracks: Path, tmp_path: Path) -> None:
    _, outputs = _encode(two_audio_tracks, tmp_path)
    (audio,) = streams_of(outputs[0].path, "audio")
    assert measure_loudness(outputs[0].path).integrated_lufs > -40  # the tone, not the silent first track
    assert audio["codec_name"] == "aac"


def test_truncated_source_that_still_probes_is_corrupt(truncated_faststart_mp4: Path, tmp_path: Path) -> None:
    probe = probe_media(truncated_faststart_mp4, limits=LIMITS)
    with pytest.raises(CorruptMedia):
        encode_ladder(truncated_faststart_mp4, probe, plan_ladder(probe), tmp_path, limits=LIMITS)
    assert list(tmp_path.iterdir()) == []


def test_other_presets_stand_as_they_are_on_the_large_rung(landscape_720p_clip: Path, tmp_path: Path) -> None:
    # subme=1 was measured as a speed-up of veryfast; ultrafast (subme=0) or slow (subme=8) keep their own.
    probe = probe_media(landscape_720p_clip, limits=LIMITS)
    specs = [spec for spec in plan_ladder(probe) if spec.label == "720p"]
    (out,) = encode_ladder(landscape_720p_clip, probe, specs, tmp_path, limits=LIMITS, preset="ultrafast")
    assert _x264_settings(out.path)["subme"] == "0"
