"""Speech recognition with Whisper base on real (espeak-ng) speech, silence and noise, through both engines."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from tests.support.speech import (
    MANDARIN_LESSON,
    character_error_rate,
    make_speech_pause_speech,
    make_video_with_speech,
)
from transcode.asr import AsrConfig, Transcript, plan_windows, transcribe_file
from transcode.asr_engines import load_engine
from transcode.asr_text import punctuate_chinese, to_simplified
from transcode.errors import CommandFailed
from transcode.model_store import ModelPaths

MAX_CER = 0.85  # espeak speech is robotic: this proves the pipeline, not recognition quality
ENGINES = ["faster-whisper", "openai-whisper"]


def config_for(engine: str, models: ModelPaths, **overrides: object) -> AsrConfig:
    if engine == "faster-whisper":
        return AsrConfig(model=str(models.ct2_dir), **overrides)  # type: ignore[arg-type]
    return AsrConfig(
        model=str(models.openai_checkpoint),
        engine="openai-whisper",
        compute_type="float32",
        **overrides,  # type: ignore[arg-type]
    )


def assert_well_formed(transcript: Transcript) -> None:
    previous_end = 0.0
    for s in transcript.segments:
        assert previous_end <= s.start_s <= s.end_s <= transcript.duration_s + 0.5, s
        assert s.text == s.text.strip() and s.text
        previous_end = s.end_s


def test_mandarin_speech_is_detected_as_chinese_and_transcribed(mandarin_transcript: Transcript) -> None:
    t = mandarin_transcript
    assert (t.language, t.detected_language) == ("zh", "zh")
    assert t.language_probability is not None and t.language_probability > 0.5
    assert character_error_rate(MANDARIN_LESSON, t.text) < MAX_CER, t.text
    assert 15 < t.duration_s < 20
    assert_well_formed(t)
    assert all(math.isfinite(s.avg_logprob) and 0 <= s.no_speech_prob <= 1 for s in t.segments)


def test_transcript_is_simplified_with_chinese_punctuation(mandarin_transcript: Transcript) -> None:
    text = mandarin_transcript.text
    assert to_simplified(text) == text
    assert re.search(r"[，。！？]", text), text
    assert not re.search(r"[\u4e00-\u9fff][,.?!;:]", text), text  # no ASCII punctuation after Han characters
    assert text.endswith(("。", "？", "！")), text


def test_openai_whisper_transcribes_the_same_audio(
    whisper_models: ModelPaths, mandarin_wav: Path, mandarin_transcript: Transcript
) -> None:
    t = transcribe_file(mandarin_wav, config_for("openai-whisper", whisper_models))
    assert (t.language, t.engine) == ("zh", "openai-whisper")
    assert character_error_rate(MANDARIN_LESSON, t.text) < MAX_CER, t.text
    assert to_simplified(t.text) == t.text
    assert_well_formed(t)
    # Same weights, different arithmetic (fp32 torch against int8 CTranslate2): close, not identical.
    assert character_error_rate(mandarin_transcript.text, t.text) < 0.5, (mandarin_transcript.text, t.text)


@pytest.mark.parametrize("engine", ENGINES)
def test_silence_gives_an_empty_transcript(
    engine: str, whisper_models: ModelPaths, silence_wav: Path
) -> None:
    t = transcribe_file(silence_wav, config_for(engine, whisper_models), language_hint="zh")
    assert t.segments == () and t.text == ""
    assert t.language == "zh" and t.detected_language is None
    assert 29.5 < t.duration_s < 30.5


@pytest.mark.parametrize("engine", ENGINES)
def test_noise_gives_an_empty_transcript(engine: str, whisper_models: ModelPaths, noise_wav: Path) -> None:
    t = transcribe_file(noise_wav, config_for(engine, whisper_models))
    assert t.segments == (), t.text
    assert t.language is None and not t.needs_review


def test_cantonese_hint_on_a_model_without_cantonese_is_transcribed_as_mandarin_and_flagged(
    whisper_models: ModelPaths, mandarin_wav: Path
) -> None:
    t = transcribe_file(mandarin_wav, config_for("faster-whisper", whisper_models), language_hint="yue")
    assert t.language == "zh" and t.language_hint == "yue"
    assert t.needs_review and "cantonese_transcribed_as_mandarin" in t.review_reasons
    assert t.text and to_simplified(t.text) == t.text


def test_sound_of_a_video_file_is_transcribed(
    whisper_models: ModelPaths, mandarin_wav: Path, tmp_path: Path
) -> None:
    clip = make_video_with_speech(tmp_path / "lesson.mp4", mandarin_wav)
    t = transcribe_file(
        clip, config_for("faster-whisper", whisper_models), language_hint="zh", work_dir=tmp_path
    )
    assert character_error_rate(MANDARIN_LESSON, t.text) < MAX_CER, t.text
    assert [p.name for p in tmp_path.iterdir()] == ["lesson.mp4"]  # the raw audio is gone


def test_long_input_is_transcribed_window_by_window(
    whisper_models: ModelPaths, mandarin_wav: Path, speech_dir: Path
) -> None:
    audio = make_speech_pause_speech(speech_dir / "speech-pause-speech.wav", mandarin_wav, pause_s=20)
    progress: list[float] = []
    t = transcribe_file(
        audio, config_for("faster-whisper", whisper_models, window_s=30), on_progress=progress.append
    )
    assert len(progress) >= 2 and progress[-1] == 1.0 and progress == sorted(progress)
    first = [s for s in t.segments if s.end_s < 20]
    second = [s for s in t.segments if s.start_s > 36]
    assert first and second, t.segments
    assert character_error_rate(MANDARIN_LESSON, "".join(s.text for s in second)) < MAX_CER
    assert_well_formed(t)


def test_windows_are_cut_in_the_quietest_place() -> None:
    rng = np.random.default_rng(1)
    pcm = (rng.standard_normal(16000 * 100) * 3000).astype(np.int16)
    pcm[16000 * 50 : 16000 * 51] = 0  # one quiet second, inside the last 20 s of the first 60-s window
    windows = list(plan_windows(pcm, window_s=60))
    assert windows[0][0] == 0 and windows[-1][1] == len(pcm)
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    assert 50 * 16000 <= windows[0][1] <= 51 * 16000


def test_the_model_is_loaded_once_per_process(whisper_models: ModelPaths) -> None:
    config = config_for("faster-whisper", whisper_models)
    assert load_engine(config) is load_engine(config)
    assert load_engine(config) is load_engine(config_for("faster-whisper", whisper_models, beam_size=5))


def test_a_playlist_never_reaches_the_decoder(
    whisper_models: ModelPaths, mandarin_wav: Path, tmp_path: Path
) -> None:
    playlist = tmp_path / "lesson.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXTINF:17,\n{mandarin_wav}\n#EXT-X-ENDLIST\n")
    with pytest.raises(CommandFailed):
        transcribe_file(playlist, config_for("faster-whisper", whisper_models))


def test_punctuation_is_made_chinese() -> None:
    assert (
        punctuate_chinese("從全民豹, 堅見我們學習分數的客法.先看 這道題")
        == "從全民豹，堅見我們學習分數的客法。先看，這道題。"
    )
    assert punctuate_chinese("你听懂了吗") == "你听懂了吗？"
    assert punctuate_chinese("π约等于3.14, 对") == "π约等于3.14，对。"
    assert punctuate_chinese("主妖以何以何以何以何以何以何以何以何以何") == "主妖以何以何。"
    assert punctuate_chinese("对对对，好好学习") == "对对对，好好学习。"
    assert to_simplified("這是一個測試") == "这是一个测试"
