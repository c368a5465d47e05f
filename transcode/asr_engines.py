"""The two speech-recognition engines behind `transcode.asr`: faster-whisper (CTranslate2) and openai-whisper (torch).

Each takes 16 kHz mono float32 samples, never a path. Models are loaded once per process and kept in a cache keyed
by what loading depends on (engine, model, device, compute type, threads). Heavy packages are imported inside
functions so that importing `transcode` stays light.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from transcode.errors import TranscodeError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from transcode.asr import AsrConfig

    Samples = npt.NDArray[np.float32]

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
DETECT_WINDOW_S = 30.0  # Whisper decides the language from one 30-s window
# openai-whisper skips a 30-s window when no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob < LOGPROB_THRESHOLD.
NO_SPEECH_THRESHOLD = 0.6
LOGPROB_THRESHOLD = -1.0
COMPRESSION_RATIO_THRESHOLD = 2.4


class AsrModelUnavailable(TranscodeError):
    code = "asr_model_unavailable"
    message = "语音识别模型无法加载"


class AsrEngineMissing(TranscodeError):
    code = "asr_engine_missing"
    message = "语音识别组件未安装"


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float


@dataclass(frozen=True)
class EngineSegment:
    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    words: tuple[Word, ...] = ()


class Engine(Protocol):
    def supports_language(self, code: str) -> bool: ...

    def detect_language(self, samples: Samples) -> tuple[str, float]: ...

    def transcribe(self, samples: Samples, *, language: str, config: AsrConfig) -> list[EngineSegment]: ...


_cache: dict[tuple[str, str, str, str, int], Engine] = {}
_cache_lock = threading.Lock()


def load_engine(config: AsrConfig) -> Engine:
    """The engine for `config`, loaded on first use and kept for the life of the process."""
    key = (config.engine, config.model, config.device, config.compute_type, config.cpu_threads)
    with _cache_lock:
        engine = _cache.get(key)
        if engine is None:
            log.info(
                "loading %s model %s (%s, %s)",
                config.engine,
                config.model,
                config.device,
                config.compute_type,
            )
            if config.engine == "faster-whisper":
                engine = FasterWhisperEngine(config)
            else:
                engine = OpenAIWhisperEngine(config)
            _cache[key] = engine
        return engine


def clear_engine_cache() -> None:
    with _cache_lock:
        _cache.clear()


class FasterWhisperEngine:
    def __init__(self, config: AsrConfig) -> None:
        if config.compute_type == "float32" and config.device == "cpu":
            # CTranslate2's default float32 GEMM stalled on this kind of CPU; MKL's does not. Read at library load.
            if "ctranslate2" in sys.modules and os.environ.get("CT2_USE_MKL") != "1":
                log.warning("ctranslate2 already loaded without CT2_USE_MKL=1: float32 may be very slow")
            os.environ["CT2_USE_MKL"] = "1"
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise AsrEngineMissing(f"faster-whisper is not installed: {exc}") from exc
        try:
            self._model = WhisperModel(
                config.model,
                device=config.device,
                compute_type=config.compute_type,
                cpu_threads=config.cpu_threads,
                local_files_only=True,
            )
        except (OSError, RuntimeError, ValueError) as exc:
            raise AsrModelUnavailable(f"faster-whisper cannot load {config.model!r}: {exc}") from exc

    def supports_language(self, code: str) -> bool:
        return self._model.hf_tokenizer.token_to_id(f"<|{code}|>") is not None

    def detect_language(self, samples: Samples) -> tuple[str, float]:
        language, probability, _ = self._model.detect_language(samples[: int(DETECT_WINDOW_S * SAMPLE_RATE)])
        return str(language), float(probability)

    def transcribe(self, samples: Samples, *, language: str, config: AsrConfig) -> list[EngineSegment]:
        segments, _info = self._model.transcribe(
            samples,
            language=language,
            task="transcribe",
            beam_size=config.beam_size,
            best_of=1,
            temperature=[config.temperature],
            vad_filter=config.vad,
            condition_on_previous_text=config.condition_on_previous_text,
            initial_prompt=config.initial_prompt,
            word_timestamps=config.word_timestamps,
            log_prob_threshold=LOGPROB_THRESHOLD,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
        )
        return [
            EngineSegment(
                start_s=float(s.start),
                end_s=float(s.end),
                text=s.text,
                avg_logprob=float(s.avg_logprob),
                no_speech_prob=float(s.no_speech_prob),
                compression_ratio=float(s.compression_ratio),
                words=tuple(
                    Word(float(w.start), float(w.end), w.word, float(w.probability)) for w in s.words or ()
                ),
            )
            for s in segments  # a generator: decoding happens here
        ]


class OpenAIWhisperEngine:
    def __init__(self, config: AsrConfig) -> None:
        try:
            import torch
            import whisper
        except ImportError as exc:
            raise AsrEngineMissing(f"openai-whisper is not installed: {exc}") from exc
        if config.device == "cpu":
            torch.set_num_threads(config.cpu_threads)
        self._fp16 = config.compute_type == "float16"
        try:
            self._model: Any = whisper.load_model(config.model, device=config.device)
        except (OSError, RuntimeError, ValueError) as exc:
            raise AsrModelUnavailable(f"openai-whisper cannot load {config.model!r}: {exc}") from exc
        if self._fp16:
            self._model = self._model.half()
        self._languages = frozenset(list(whisper.tokenizer.LANGUAGES)[: self._model.num_languages])

    def supports_language(self, code: str) -> bool:
        return code in self._languages

    def detect_language(self, samples: Samples) -> tuple[str, float]:
        import whisper

        audio = whisper.pad_or_trim(samples[: int(DETECT_WINDOW_S * SAMPLE_RATE)])
        mel = whisper.log_mel_spectrogram(audio, self._model.dims.n_mels).to(self._model.device)
        if self._fp16:
            mel = mel.half()
        _tokens, probs = self._model.detect_language(mel)
        language, probability = max(probs.items(), key=lambda item: item[1])
        return str(language), float(probability)

    def transcribe(self, samples: Samples, *, language: str, config: AsrConfig) -> list[EngineSegment]:
        speech = _speech_only(samples) if config.vad else None
        if speech is not None and speech[0].size == 0:
            return []
        result = self._model.transcribe(
            speech[0] if speech is not None else samples,
            language=language,
            task="transcribe",
            beam_size=config.beam_size if config.beam_size > 1 else None,
            best_of=None,
            temperature=config.temperature,
            fp16=self._fp16,
            condition_on_previous_text=config.condition_on_previous_text,
            initial_prompt=config.initial_prompt,
            word_timestamps=config.word_timestamps,
            logprob_threshold=LOGPROB_THRESHOLD,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
            verbose=None,
        )
        to_original = speech[1] if speech is not None else (lambda t, is_end=False: t)
        return [
            EngineSegment(
                start_s=to_original(float(s["start"])),
                end_s=to_original(float(s["end"]), is_end=True),
                text=str(s["text"]),
                avg_logprob=float(s["avg_logprob"]),
                no_speech_prob=float(s["no_speech_prob"]),
                compression_ratio=float(s["compression_ratio"]),
                words=tuple(
                    Word(
                        to_original(w["start"]),
                        to_original(w["end"], True),
                        str(w["word"]),
                        float(w["probability"]),
                    )
                    for w in s.get("words", ())
                ),
            )
            for s in result["segments"]
        ]


def _speech_only(samples: Samples) -> tuple[Samples, Callable[..., float]]:
    """The speech in `samples` joined up (faster-whisper's Silero VAD), and a map from its times back to theirs.

    openai-whisper has no VAD of its own and writes confident text on noise (a repeated phrase with a no-speech
    probability of 0.97 but an average log-probability of -0.18, so its own thresholds keep it). Running the same
    VAD as the faster-whisper engine makes both engines hear the same audio.
    """
    import numpy as np

    try:
        from faster_whisper.vad import SpeechTimestampsMap, VadOptions, collect_chunks, get_speech_timestamps
    except ImportError as exc:
        raise AsrEngineMissing(f"VAD needs faster-whisper: {exc}") from exc
    chunks = get_speech_timestamps(samples, VadOptions())
    if not chunks:
        return np.zeros(0, dtype=np.float32), lambda t, is_end=False: t
    pieces, _meta = collect_chunks(samples, chunks)
    ts_map = SpeechTimestampsMap(chunks, SAMPLE_RATE)

    def to_original(t: float, is_end: bool = False) -> float:
        return float(ts_map.get_original_time(float(t), is_end=is_end))

    return np.concatenate(pieces).astype(np.float32, copy=False), to_original
