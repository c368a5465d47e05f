"""Speech recognition: a media file in, a Chinese transcript with timed, scored segments out.

    config = AsrConfig(model=str(paths.ct2_dir))                 # faster-whisper, int8, greedy, VAD, temperature 0
    transcript = transcribe_file(src, config, language_hint="zh", work_dir=tmp)

The audio is decoded by our own ffmpeg call (whitelists, `file:` name, time limit, 16 kHz mono s16le) into a raw file
in `work_dir`, read back one window at a time and handed to the engine as float32 windows of `window_s` seconds,
cut at the quietest moment near each boundary: a 60-minute lesson never sits in memory whole (Whisper's own `load_audio`
never sees an upload). Language: the hint when given (`yue` on a model without a Cantonese token is transcribed as
`zh` and flagged for review), else detected. Text comes out in Simplified Chinese with Chinese punctuation, with
Whisper's stock phrases for silence removed.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from transcode import runner
from transcode.asr_engines import (
    COMPRESSION_RATIO_THRESHOLD,
    LOGPROB_THRESHOLD,
    NO_SPEECH_THRESHOLD,
    SAMPLE_RATE,
    Engine,
    EngineSegment,
    Word,
    load_engine,
)
from transcode.asr_text import is_hallucination, punctuate_chinese, to_simplified
from transcode.command import compile_ffmpeg, file_url, open_input
from transcode.errors import TranscodeError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "AsrConfig", "AsrLanguageUnsupported", "PcmFile", "Segment", "Transcript", "Word", "decode_audio", "transcribe_file",
    "transcribe_samples",
]  # fmt: skip

log = logging.getLogger(__name__)

EngineName = Literal["faster-whisper", "openai-whisper"]
SILENT_WINDOW_DBFS = -60.0  # a window quieter than this is not given to the engine at all
LANGUAGE_SURE_PROBABILITY = 0.5
LOW_CONFIDENCE_SHARE = 0.2  # flag the lesson when more than this share of the speech time is low-confidence
_CUT_SEARCH_S = 20.0  # look this far back from a window's end for the quietest place to cut
_CUT_FRAME_S = 0.1
_CHINESE = ("zh", "yue")
_HINT_ALIASES = {
    "zh": "zh", "zh-cn": "zh", "zh-hans": "zh", "zh-sg": "zh", "zh-tw": "zh", "zh-hant": "zh", "cmn": "zh",
    "mandarin": "zh", "chinese": "zh",
    "yue": "yue", "zh-hk": "yue", "zh-yue": "yue", "cantonese": "yue",
}  # fmt: skip


class AsrLanguageUnsupported(TranscodeError):
    code = "asr_language_unsupported"
    message = "语音识别模型不支持该语言"


@dataclass(frozen=True)
class AsrConfig:
    """How to recognise speech. `model`: a CTranslate2 folder (faster-whisper) or a `.pt` file or name (openai)."""

    model: str
    engine: EngineName = "faster-whisper"
    device: Literal["cpu", "cuda"] = "cpu"
    # faster-whisper: int8, int8_float32, float32, float16 (cuda); openai-whisper: float32, float16 (cuda)
    compute_type: str = "int8"
    beam_size: int = 1
    temperature: float = 0.0  # one temperature, no sampling fallback: the same audio gives the same text
    vad: bool = True  # Silero VAD (shipped with faster-whisper) for both engines
    initial_prompt: str | None = None  # a glossary; off by default (base repeated a prompt of domain words)
    # Whisper's default is on. Measured on espeak Mandarin with base, greedy, neither is better everywhere: on, the
    # 17-s test clip looped and was cut off, and openai-whisper's CER on the 63-s sample went from 0.61 to 0.81; off,
    # faster-whisper looped on that sample ("主要以赫，主要以赫…", CER 0.67 against 0.53, twice the time). Off keeps
    # one window's loop out of the next; the loops that remain are collapsed and flagged low-confidence.
    condition_on_previous_text: bool = False
    word_timestamps: bool = False
    cpu_threads: int = 2
    window_s: float = 600.0
    expected_languages: tuple[str, ...] = ("zh", "yue", "en")

    def __post_init__(self) -> None:
        if self.engine not in ("faster-whisper", "openai-whisper"):
            raise ValueError(f"unknown ASR engine {self.engine!r}")
        if self.engine == "openai-whisper" and self.compute_type not in ("float32", "float16"):
            raise ValueError("openai-whisper runs float32 (or float16 on cuda)")
        if self.compute_type == "float16" and self.device == "cpu" and self.engine == "openai-whisper":
            raise ValueError("openai-whisper cannot run float16 on the CPU")
        if self.beam_size < 1 or self.cpu_threads < 1 or self.window_s < 30:
            raise ValueError("beam_size and cpu_threads must be >= 1, window_s >= 30")


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    low_confidence: bool
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    language: str | None  # what the speech was transcribed as; None when nothing was said
    language_hint: str | None
    detected_language: str | None
    language_probability: float | None
    segments: tuple[Segment, ...]
    duration_s: float
    engine: str
    review_reasons: tuple[str, ...] = field(default=())

    @property
    def needs_review(self) -> bool:
        return bool(self.review_reasons)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["needs_review"] = self.needs_review
        return data


def decode_audio(
    src: Path, dest: Path, *, timeout_s: float, max_duration_s: float, ffmpeg_bin: str = "ffmpeg"
) -> Path:
    """Decode the first audio stream of `src` to 16 kHz mono s16le in `dest` (2 bytes a sample, 32 kB a second)."""
    node = open_input(src)["a:0"].output(
        file_url(dest), format="s16le", acodec="pcm_s16le", ac=1, ar=SAMPLE_RATE, t=f"{max_duration_s:.3f}"
    )
    runner.run(compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin), timeout_s=timeout_s)
    return dest


def transcribe_file(
    src: Path,
    config: AsrConfig,
    *,
    language_hint: str | None = None,
    work_dir: Path | None = None,
    decode_timeout_s: float = 900.0,
    max_duration_s: float = 7200.0,
    on_progress: Callable[[float], None] | None = None,
    ffmpeg_bin: str = "ffmpeg",
) -> Transcript:
    """Transcribe the first audio stream of a local media file (already probed and accepted)."""
    with tempfile.TemporaryDirectory(prefix="weike-asr-", dir=work_dir) as tmp:
        raw = decode_audio(
            src, Path(tmp) / "audio.s16le", timeout_s=decode_timeout_s, max_duration_s=max_duration_s,
            ffmpeg_bin=ffmpeg_bin,
        )  # fmt: skip
        return transcribe_samples(PcmFile(raw), config, language_hint=language_hint, on_progress=on_progress)


class PcmFile:
    """16 kHz mono s16le samples in a file, read a slice at a time.

    Not a memory map: every page a map has touched stays in the process's RSS, 115 MB for an hour.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._length = path.stat().st_size // 2

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, key: slice) -> npt.NDArray[np.int16]:
        import numpy as np

        start, stop, step = key.indices(self._length)
        if step != 1:
            raise ValueError("PcmFile reads contiguous slices only")
        count = max(0, stop - start)
        return np.fromfile(self._path, dtype="<i2", count=count, offset=start * 2)


Pcm = Union["npt.NDArray[Any]", PcmFile]


def transcribe_samples(
    pcm: Pcm,
    config: AsrConfig,
    *,
    language_hint: str | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Transcript:
    """Transcribe 16 kHz mono samples: int16 or float32 (-1..1) in an array, or a PcmFile read window by window."""
    engine = load_engine(config)
    language, reasons = _language_from_hint(language_hint, engine)
    detected: tuple[str, float] | None = None
    detection_confirmed = False
    segments: list[Segment] = []
    total = len(pcm)
    for start, end in plan_windows(pcm, window_s=config.window_s):
        window = _as_float32(pcm[start:end])
        if _level_dbfs(window) >= SILENT_WINDOW_DBFS:
            if not detection_confirmed:
                detected = engine.detect_language(_from_first_sound(window))
            use = language or (detected[0] if detected else "zh")
            raw = engine.transcribe(window, language=use, config=config)
            kept = _clean_segments(
                raw, offset_s=start / SAMPLE_RATE, language=use, previous_end_s=_last_end(segments)
            )
            if kept and language is None and detected:
                language, detection_confirmed = detected[0], True
            elif kept:
                detection_confirmed = True
            segments.extend(kept)
        del window
        if on_progress is not None:
            on_progress(end / total if total else 1.0)
    if not segments:
        language = language if language_hint else None
        detected = None
    reasons = reasons + _review_reasons(language_hint, detected, segments, config)
    return Transcript(
        language=language,
        language_hint=language_hint,
        detected_language=detected[0] if detected else None,
        language_probability=detected[1] if detected else None,
        segments=tuple(segments),
        duration_s=total / SAMPLE_RATE,
        engine=config.engine,
        review_reasons=reasons,
    )


def normalize_language_hint(hint: str | None) -> str | None:
    if hint is None or not hint.strip():
        return None
    key = hint.strip().lower().replace("_", "-")
    return _HINT_ALIASES.get(key, key)


def _language_from_hint(hint: str | None, engine: Engine) -> tuple[str | None, tuple[str, ...]]:
    code = normalize_language_hint(hint)
    if code is None:
        return None, ()
    if code == "yue" and not engine.supports_language("yue"):
        return "zh", ("cantonese_transcribed_as_mandarin",)
    if not engine.supports_language(code):
        raise AsrLanguageUnsupported(f"language hint {hint!r} is not in the model")
    return code, ()


def _review_reasons(
    hint: str | None, detected: tuple[str, float] | None, segments: list[Segment], config: AsrConfig
) -> tuple[str, ...]:
    reasons: list[str] = []
    if hint is None and detected is not None:
        if detected[0] not in config.expected_languages:
            reasons.append("unexpected_language")
        elif detected[1] < LANGUAGE_SURE_PROBABILITY:
            reasons.append("language_uncertain")
    speech_s = sum(s.end_s - s.start_s for s in segments)
    unsure_s = sum(s.end_s - s.start_s for s in segments if s.low_confidence)
    if speech_s > 0 and unsure_s / speech_s > LOW_CONFIDENCE_SHARE:
        reasons.append("low_confidence")
    return tuple(reasons)


def _clean_segments(
    raw: list[EngineSegment], *, offset_s: float, language: str, previous_end_s: float
) -> list[Segment]:
    kept: list[Segment] = []
    for s in raw:
        if s.no_speech_prob > NO_SPEECH_THRESHOLD and s.avg_logprob < LOGPROB_THRESHOLD:
            continue  # Whisper's own rule for "nothing was said", applied per segment
        if is_hallucination(s.text, no_speech_prob=s.no_speech_prob, avg_logprob=s.avg_logprob):
            continue
        text = _clean_text(s.text, language)
        if not text:
            continue
        if kept and text == kept[-1].text and s.no_speech_prob > NO_SPEECH_THRESHOLD:
            continue  # a decoder loop on something that is probably not speech
        start = max(offset_s + s.start_s, previous_end_s)
        end = max(start, offset_s + s.end_s)
        words = tuple(
            Word(
                offset_s + w.start_s,
                offset_s + w.end_s,
                _clean_text(w.text, language, words=True),
                w.probability,
            )
            for w in s.words
        )
        low = (
            s.avg_logprob < LOGPROB_THRESHOLD
            or s.no_speech_prob > NO_SPEECH_THRESHOLD
            or s.compression_ratio > COMPRESSION_RATIO_THRESHOLD
        )
        kept.append(
            Segment(start, end, text, s.avg_logprob, s.no_speech_prob, s.compression_ratio, low, words)
        )
        previous_end_s = end
    return kept


def _clean_text(text: str, language: str, *, words: bool = False) -> str:
    text = text.replace("\ufffd", "")  # half a character: a token boundary cut a UTF-8 sequence
    if language != "ja":  # Japanese kanji must not be "simplified"
        text = to_simplified(text)
    if language in _CHINESE:
        return text.strip() if words else punctuate_chinese(text)
    return text if words else text.strip()


def _last_end(segments: list[Segment]) -> float:
    return segments[-1].end_s if segments else 0.0


def plan_windows(pcm: Pcm, *, window_s: float) -> Iterator[tuple[int, int]]:
    """(start, end) sample ranges of about `window_s`, each cut at the quietest 0.1 s in its last 20 s."""
    total = len(pcm)
    size = int(window_s * SAMPLE_RATE)
    start = 0
    while start < total:
        end = min(total, start + size)
        if end < total:
            end = _quietest_cut(
                pcm, lo=max(start + size // 2, end - int(_CUT_SEARCH_S * SAMPLE_RATE)), hi=end
            )
        yield start, end
        start = end


def _quietest_cut(pcm: Pcm, *, lo: int, hi: int) -> int:
    import numpy as np

    frame = int(_CUT_FRAME_S * SAMPLE_RATE)
    frames = (hi - lo) // frame
    if frames < 1:
        return hi
    chunk = _as_float32(pcm[lo : lo + frames * frame]).reshape(frames, frame)
    energy = np.einsum("ij,ij->i", chunk, chunk)
    return lo + int(np.argmin(energy)) * frame + frame // 2


def _as_float32(samples: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    import numpy as np

    if samples.dtype == np.float32:
        return np.ascontiguousarray(samples)
    return samples.astype(np.float32) / 32768.0


def _level_dbfs(samples: npt.NDArray[np.float32]) -> float:
    import numpy as np

    if samples.size == 0:
        return -math.inf
    peak = float(np.max(np.abs(samples)))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def _from_first_sound(window: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The window from its first 0.1 s louder than the silence level (language detection skips a quiet intro)."""
    import numpy as np

    frame = int(_CUT_FRAME_S * SAMPLE_RATE)
    frames = len(window) // frame
    if frames == 0:
        return window
    peaks = np.abs(window[: frames * frame]).reshape(frames, frame).max(axis=1)
    loud = np.flatnonzero(peaks >= 10 ** (SILENT_WINDOW_DBFS / 20) * 10)  # 20 dB above the silence level
    return window[int(loud[0]) * frame :] if loud.size else window
