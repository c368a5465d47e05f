"""Speech for the ASR tests: espeak-ng Mandarin from a known text, silence, noise, and the prepared Whisper models.

A pytest plugin (test modules name it in `pytest_plugins`). Every file is made once per session in one folder;
the models are prepared once per machine in the model cache (`WEIKE_MODEL_CACHE`, else ~/.cache/weike-models),
which takes a few seconds the first time and nothing after.

espeak-ng's `cmn-latn-pinyin` voice speaks Han characters as Mandarin (Debian's `cmn` voice reads them as English).
The speech is robotic: Whisper base gets roughly half of the characters right, and the language detection is
borderline for some sentences (this text is detected as `zh` with p > 0.95 by both engines).
"""

from __future__ import annotations

import importlib.util
import os
import wave
from pathlib import Path

import pytest

from tests.support.media import run_tool as _run
from tests.support.services import missing, require_tool
from transcode.asr import AsrConfig, Transcript, transcribe_file
from transcode.asr_text import normalize_for_match
from transcode.model_store import (
    ModelPaths,
    ModelsMissing,
    default_cache_dir,
    find_part_files,
    install_models,
)

MANDARIN_LESSON = (
    "大家好，欢迎来到今天的数学课。我们一起来认识长方形和正方形。"
    "长方形有四条边，对边相等，四个角都是直角。正方形的四条边都相等。"
)



def wav_duration_s(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def make_mandarin(dest: Path, text: str = MANDARIN_LESSON) -> Path:
    require_tool("espeak-ng")
    if not dest.exists():
        _run("espeak-ng", "-v", "cmn-latn-pinyin", "-w", dest, text)
    return dest


def make_silence(dest: Path, seconds: float) -> Path:
    require_tool("ffmpeg")
    if not dest.exists():
        _run("ffmpeg", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", f"{seconds}", dest)
    return dest


def make_noise(dest: Path, seconds: float) -> Path:
    """Pink noise with a 50 Hz hum at a loud level: a fan, a bad cable."""
    require_tool("ffmpeg")
    if not dest.exists():
        _run("ffmpeg", "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.3:r=16000:seed=7",
             "-f", "lavfi", "-i", "sine=frequency=50:sample_rate=16000",
             "-filter_complex", "[0][1]amix=inputs=2:weights=1 0.3", "-ac", "1", "-t", f"{seconds}", dest)  # fmt: skip
    return dest


def make_speech_pause_speech(dest: Path, speech: Path, pause_s: float) -> Path:
    """The speech, `pause_s` of silence, the speech again (for windowing)."""
    if not dest.exists():
        _run("ffmpeg", "-i", speech, "-f", "lavfi", "-t", f"{pause_s}", "-i", "anullsrc=r=22050:cl=mono", "-i", speech,
             "-filter_complex", "[0:a][1:a][2:a]concat=n=3:v=0:a=1", "-ar", "16000", dest)  # fmt: skip
    return dest


def make_video_with_speech(dest: Path, speech: Path) -> Path:
    """A small H.264 + AAC MP4 whose sound is the speech: what a teacher's phone uploads."""
    if not dest.exists():
        _run("ffmpeg", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15", "-i", speech, "-shortest",
             "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "64k", dest)  # fmt: skip
    return dest


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over characters (letters, digits and CJK only) divided by the reference length."""
    ref, hyp = normalize_for_match(reference), normalize_for_match(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i]
        for j, h in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(1, len(ref))


def model_cache_dir() -> Path:
    return Path(os.environ.get("WEIKE_MODEL_CACHE") or default_cache_dir())


def asr_packages_missing() -> str | None:
    for module in ("faster_whisper", "whisper", "torch", "opencc", "jieba"):
        if importlib.util.find_spec(module) is None:
            return f"Python package {module}"
    try:
        find_part_files()
    except ModelsMissing as exc:
        return exc.detail
    return None


@pytest.fixture(scope="session")
def whisper_models() -> ModelPaths:
    """Whisper base prepared for both engines; skips (or fails, in CI) when the packages are not installed."""
    absent = asr_packages_missing()
    if absent:
        missing(absent)
    return install_models(model_cache_dir())


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def mandarin_wav(speech_dir: Path) -> Path:
    """About 17 s of espeak Mandarin speaking MANDARIN_LESSON."""
    return make_mandarin(speech_dir / "mandarin.wav")


@pytest.fixture(scope="session")
def silence_wav(speech_dir: Path) -> Path:
    return make_silence(speech_dir / "silence-30s.wav", 30)


@pytest.fixture(scope="session")
def noise_wav(speech_dir: Path) -> Path:
    return make_noise(speech_dir / "noise-15s.wav", 15)


@pytest.fixture(scope="session")
def mandarin_transcript(whisper_models: ModelPaths, mandarin_wav: Path) -> Transcript:
    """The default engine's transcript of `mandarin_wav`, with no language hint."""
    return transcribe_file(mandarin_wav, AsrConfig(model=str(whisper_models.ct2_dir)))
