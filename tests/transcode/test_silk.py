"""WeChat voice notes (SILK v3, often named .amr): decoded to WAV for ffmpeg, refused clearly when damaged."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.media import make_wechat_voice_note
from transcode.errors import CommandFailed, CorruptMedia, TooLong
from transcode.limits import MediaLimits
from transcode.probe import probe_media
from transcode.silk import SAMPLE_RATE, decode_silk, is_silk

LIMITS = MediaLimits()


def test_wechat_voice_note_is_recognised_by_its_header(wechat_voice_note: Path, amr_voice_note: Path) -> None:
    assert wechat_voice_note.read_bytes().startswith(b"\x02#!SILK_V3")
    assert is_silk(wechat_voice_note)
    assert not is_silk(amr_voice_note)  # a real AMR file named .amr is left to ffmpeg


def test_voice_note_decodes_to_speech_as_long_as_the_original(
    wechat_voice_note: Path, mandarin_speech_wav: Path, tmp_path: Path
) -> None:
    wav = decode_silk(wechat_voice_note, tmp_path / "voice.wav", limits=LIMITS)
    probe = probe_media(wav, limits=LIMITS)
    speech = probe_media(mandarin_speech_wav, limits=LIMITS)
    assert probe.kind == "audio" and probe.audio is not None
    assert (probe.audio.sample_rate, probe.audio.channels) == (SAMPLE_RATE, 1)
    assert abs(probe.duration_s - speech.duration_s) < 0.1, (probe.duration_s, speech.duration_s)


def test_damaged_voice_note_is_corrupt_and_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.amr"
    bad.write_bytes(b"\x02#!SILK_V3" + bytes(range(256)) * 20)
    with pytest.raises(CorruptMedia):
        decode_silk(bad, tmp_path / "out.wav", limits=LIMITS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.amr"]


def test_voice_note_over_the_duration_limit_is_too_long(wechat_voice_note: Path, tmp_path: Path) -> None:
    # Decoding stops a second past the limit, so even a huge file cannot fill the disk; the probe refuses it.
    short = replace(LIMITS, max_duration_s=1.0)
    wav = decode_silk(wechat_voice_note, tmp_path / "voice.wav", limits=short)
    assert wav.stat().st_size <= 44 + 2 * SAMPLE_RATE * 2
    with pytest.raises(TooLong):
        probe_media(wav, limits=short)


def test_qq_style_voice_note_with_the_sdk_end_marker_decodes(mandarin_speech_wav: Path, tmp_path: Path) -> None:
    note = make_wechat_voice_note(tmp_path / "qq voice.slk", mandarin_speech_wav, tencent=False)
    assert note.read_bytes().startswith(b"#!SILK_V3") and note.read_bytes().endswith(b"\xff\xff")
    wav = decode_silk(note, tmp_path / "voice.wav", limits=LIMITS)
    speech = probe_media(mandarin_speech_wav, limits=LIMITS)
    assert abs(probe_media(wav, limits=LIMITS).duration_s - speech.duration_s) < 0.1


def test_a_decoder_that_cannot_run_is_not_blamed_on_the_upload(wechat_voice_note: Path, tmp_path: Path) -> None:
    # Debian's own Python has neither silk-python nor Weike: the child fails to import, which is the worker's
    # fault (a broken install), so the lesson must not be told its file is damaged.
    python_bin = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "/bin/false"
    with pytest.raises(CommandFailed) as caught:
        decode_silk(wechat_voice_note, tmp_path / "voice.wav", limits=LIMITS, python_bin=python_bin)
    assert not isinstance(caught.value, CorruptMedia)
    assert not (tmp_path / "voice.wav").exists()
