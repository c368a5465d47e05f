"""Offline Mandarin speech synthesis for the spoken intros of audio packs: Kokoro-82M (default), espeak-ng (floor).

    voice = load_voice(cache_dir)               # Kokoro zf_xiaoxiao when installed, else espeak-ng
    speech = voice.synthesize("第三课。秸秆还田的好处。")   # mono float32 samples, 24 kHz for Kokoro

Kokoro-82M v1.0 (int8 ONNX, installed by `model_store.install_kokoro`) reads misaki's Mandarin phonemes with one of
eight Mandarin voice vectors; espeak-ng's `cmn-latn-pinyin` voice reads pypinyin's tone-numbered pinyin (robotic,
but always there: `make test` installs it). Which voice, and why, is measured by bench/tts_voices.py (README).
At install the graph gains its token durations as an output (transcode/kokoro_graph.py), so several texts can be
said in one run and cut apart exactly: an intro's two clips cost one run.

The ONNX session and the G2P are loaded once per process and kept (loading costs about 0.5 s and 0.6 s); a worker
synthesizing intros in two threads gives each session one thread (`threads=1`), a single process two.
Heavy packages (onnxruntime, misaki, pypinyin) are imported inside functions, so importing `transcode` stays light.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from transcode import runner
from transcode.errors import SpeechSynthesisFailed, TranscodeError, TtsModelMissing
from transcode.kokoro_graph import (
    DURATIONS_OUTPUT,
    SAMPLES_PER_FRAME,
    KokoroGraphUnexpected,
    split_by_durations,
)
from transcode.model_store import KokoroPaths, kokoro_installed, kokoro_paths

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

KOKORO_SAMPLE_RATE = 24000
KOKORO_MAX_TOKENS = 510  # the model's context, less the two boundary tokens
DEFAULT_VOICE = "zf_xiaoxiao"
ESPEAK_VOICE = "cmn-latn-pinyin"  # speaks pinyin with tone numbers as Mandarin (Debian's `cmn` reads Han as English)
ESPEAK_TIMEOUT_S = 30.0
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_ESPEAK_PAUSES = {"。": ". ", "！": ". ", "？": ". ", "；": ". ", "，": ", ", "、": ", ", "：": ", "}


@dataclass(frozen=True, eq=False)
class Speech:
    """Mono samples in -1..1 (float32) at `sample_rate`."""

    samples: npt.NDArray[np.float32]
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


class Voice(Protocol):
    @property
    def name(self) -> str:
        """Stable identifier of what the voice sounds like: part of every cache key of what it says."""
        ...

    def synthesize(self, text: str) -> Speech: ...

    def synthesize_parts(self, texts: Sequence[str]) -> list[Speech]:
        """Each of `texts` said, as if one after another (a voice may say them in one run, which costs less)."""
        ...


class KokoroVoice:
    """Kokoro-82M v1.0 int8 with a Mandarin voice vector (`zf_*` female, `zm_*` male). With the model that also
    tells its token durations (`paths.timed_model`, made at install), several texts are said in one run."""

    def __init__(self, paths: KokoroPaths, voice: str = DEFAULT_VOICE, *, threads: int = 2, speed: float = 1.0,
                 timed: bool = True):  # fmt: skip
        import json

        import numpy as np

        for path in (paths.model, paths.vocab, paths.voice(voice)):
            if not path.is_file():
                raise TtsModelMissing(f"{path} is missing")
        if threads < 1 or not 0.5 <= speed <= 2.0:
            raise ValueError("threads must be >= 1 and speed within 0.5..2")
        self.timed = timed and paths.timed_model.is_file()  # the same weights and samples, durations besides
        self._model = paths.timed_model if self.timed else paths.model
        self._threads = threads
        self._speed = speed
        self._vocab: dict[str, int] = json.loads(paths.vocab.read_text(encoding="utf-8"))
        self._styles = np.fromfile(paths.voice(voice), dtype=np.float32).reshape(-1, 256)
        self.voice = voice
        self.name = f"kokoro-v1.0-int8/{voice}" + (f"@{speed:g}" if speed != 1.0 else "")

    def synthesize(self, text: str) -> Speech:
        import numpy as np

        pieces = [self._run(ids)[0] for ids in self._token_chunks(text)]
        if not pieces:
            raise SpeechSynthesisFailed(f"nothing sayable in {text!r}")
        return Speech(np.concatenate(pieces).astype(np.float32), KOKORO_SAMPLE_RATE)

    def synthesize_parts(self, texts: Sequence[str]) -> list[Speech]:
        """Each text said, in one run when they fit in one and the model tells token durations: a run costs about a
        second of padding and final pause besides what is said. The texts are joined with a word break (misaki's
        space between sentences, which makes the voice pause) and cut at the quietest 10 ms within the 200 ms before
        and 50 ms after where the next text's first token starts (the voice's sound runs a little ahead of its
        token durations)."""

        chunks = [self._token_chunks(text) for text in texts]
        pause = [self._vocab[" "]] if " " in self._vocab else []
        if not self.timed or any(len(c) != 1 for c in chunks) or \
                sum(len(c[0]) + len(pause) for c in chunks) > KOKORO_MAX_TOKENS:  # fmt: skip
            return [self.synthesize(text) for text in texts]
        ids = [*chunks[0][0]]
        starts = []
        for c in chunks[1:]:
            ids += pause
            starts.append(1 + len(ids))  # after the leading boundary token
            ids += c[0]
        audio, durations = self._run(ids)
        try:
            if durations is None:
                raise KokoroGraphUnexpected("no durations")
            nominal = split_by_durations(len(audio), durations, starts)
        except KokoroGraphUnexpected as exc:
            log.warning("cannot cut %d texts said together (%s); saying them one by one", len(texts), exc)
            return [self.synthesize(text) for text in texts]
        cuts = [0]
        for at in nominal:
            lo, hi = max(cuts[-1], at - 8 * SAMPLES_PER_FRAME), min(len(audio), at + 2 * SAMPLES_PER_FRAME)
            cuts.append(_quietest(audio, lo, hi, default=at))
        cuts.append(len(audio))
        return [Speech(audio[a:b], KOKORO_SAMPLE_RATE) for a, b in zip(cuts, cuts[1:], strict=False)]

    def phonemes(self, text: str) -> str:
        """misaki's Mandarin phonemes for `text` (symbols outside the model's vocabulary are dropped later)."""
        with _g2p_lock:  # intros are said from two threads at once; only the model runs overlap
            phonemes, _ = _misaki_g2p()(text)
        return str(phonemes or "")

    def _token_chunks(self, text: str) -> list[list[int]]:
        """Token ids, a sentence or more at a time, each chunk within the model's context."""
        chunks: list[list[int]] = []
        for sentence in (s for s in _SENTENCE_END.split(text) if s.strip()):
            ids = [self._vocab[p] for p in self.phonemes(sentence) if p in self._vocab]
            for start in range(0, len(ids), KOKORO_MAX_TOKENS):
                part = ids[start : start + KOKORO_MAX_TOKENS]
                if chunks and len(chunks[-1]) + len(part) <= KOKORO_MAX_TOKENS:
                    chunks[-1].extend(part)
                elif part:
                    chunks.append(part)
        return chunks

    def _run(self, ids: list[int]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64] | None]:
        """The samples for `ids`, and each padded token's frames (with the timed model)."""
        import numpy as np

        feeds = {
            "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
            "style": self._styles[len(ids) - 1].reshape(1, 256),  # the voice's style for an input this long
            "speed": np.array([self._speed], dtype=np.float32),
        }
        outputs = ["audio", DURATIONS_OUTPUT] if self.timed else ["audio"]
        try:
            said = _kokoro_session(self._model, self._threads).run(outputs, feeds)
        except Exception as exc:  # onnxruntime raises its own (untyped) exceptions
            raise SpeechSynthesisFailed(f"Kokoro failed on {len(ids)} tokens: {exc}") from exc
        audio: npt.NDArray[np.float32] = np.asarray(said[0], dtype=np.float32).ravel()
        return audio, (np.asarray(said[1], dtype=np.int64).ravel() if self.timed else None)


class EspeakVoice:
    """espeak-ng reading tone-numbered pinyin (`di4 san1 ke4.`): the floor, always available."""

    name = f"espeak-ng/{ESPEAK_VOICE}"

    def __init__(self, *, espeak_bin: str = "espeak-ng", words_per_minute: int = 150) -> None:
        self._bin = espeak_bin
        self._wpm = words_per_minute

    def synthesize(self, text: str) -> Speech:
        pinyin = to_tone_pinyin(text)
        if not pinyin.strip(" ,."):
            raise SpeechSynthesisFailed(f"nothing sayable in {text!r}")
        args = [self._bin, "-v", ESPEAK_VOICE, "-s", str(self._wpm), "--stdout", pinyin]
        return speech_from_wav(runner.run(args, timeout_s=ESPEAK_TIMEOUT_S).stdout)

    def synthesize_parts(self, texts: Sequence[str]) -> list[Speech]:
        return [self.synthesize(text) for text in texts]


def _quietest(samples: npt.NDArray[np.float32], lo: int, hi: int, *, default: int) -> int:
    """The middle of the quietest 10 ms (by RMS) of samples[lo:hi]; `default` when the span is shorter."""
    import numpy as np

    hop = KOKORO_SAMPLE_RATE // 100
    frames = samples[lo : lo + (hi - lo) // hop * hop].reshape(-1, hop)
    if not len(frames):
        return default
    return lo + hop * int(np.argmin(np.sqrt(np.mean(frames**2, axis=1)))) + hop // 2


def to_tone_pinyin(text: str) -> str:
    """Han characters as pinyin with tone numbers (neutral tone 5), Chinese punctuation as pauses, the rest dropped."""
    from pypinyin import Style, lazy_pinyin

    out: list[str] = []
    pos = 0
    for match in _HAN_RUN.finditer(text):
        out += [_ESPEAK_PAUSES.get(ch, "") for ch in text[pos : match.start()]]
        out.append(" ".join(lazy_pinyin(match.group(), style=Style.TONE3, neutral_tone_with_five=True)) + " ")
        pos = match.end()
    out += [_ESPEAK_PAUSES.get(ch, "") for ch in text[pos:]]
    return re.sub(r"\s+", " ", "".join(out)).strip()


def load_voice(cache_dir: Path, voice: str = DEFAULT_VOICE, *, threads: int = 2) -> Voice:
    """Kokoro's `voice` when Kokoro is installed in `cache_dir`; else espeak-ng (logged). Raises TtsModelMissing
    when neither is there."""
    runtime_missing = [m for m in ("onnxruntime", "misaki") if importlib.util.find_spec(m) is None]
    if runtime_missing:
        log.warning("Python packages %s missing; spoken intros use espeak-ng", ", ".join(runtime_missing))
    elif kokoro_installed(cache_dir):
        try:
            return KokoroVoice(kokoro_paths(cache_dir), voice, threads=threads)
        except TtsModelMissing as exc:
            log.warning("Kokoro voice unavailable (%s); using espeak-ng", exc.detail)
    else:
        log.warning("Kokoro is not installed in %s; spoken intros use espeak-ng", cache_dir)
    if shutil.which("espeak-ng") is None:
        raise TtsModelMissing(f"neither Kokoro (in {cache_dir}) nor espeak-ng is installed")
    return EspeakVoice()


_session_lock = threading.Lock()
_g2p_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _kokoro_session_cached(model: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting on shared cores
    try:
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a truncated or foreign file
        raise TtsModelMissing(f"cannot load {model}: {exc}") from exc


def _kokoro_session(model: Path, threads: int) -> Any:
    with _session_lock:
        return _kokoro_session_cached(model, threads)


@functools.lru_cache(maxsize=1)
def _misaki_g2p() -> Any:
    try:
        from misaki import zh
    except ImportError as exc:
        raise TtsModelMissing("Python package misaki[zh] is not installed") from exc
    return zh.ZHG2P()


def wav_bytes(speech: Speech) -> bytes:
    """16-bit mono WAV; speech peaking above full scale is scaled down to fit (loudness is set later anyway)."""
    import io
    import wave

    import numpy as np

    samples = speech.samples
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 0.999:
        samples = samples * (0.999 / peak)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(speech.sample_rate)
        w.writeframes(np.round(samples * 32767).astype("<i2").tobytes())
    return out.getvalue()


def write_wav(speech: Speech, path: Path) -> Path:
    path.write_bytes(wav_bytes(speech))
    return path


def speech_from_wav(data: bytes) -> Speech:
    """A 16-bit mono WAV (as `wav_bytes` writes it, or espeak-ng) as Speech."""
    return _parse_wav(data)


def _parse_wav(data: bytes) -> Speech:
    """16-bit PCM WAV (as espeak-ng writes to stdout, whose sizes may say 'unknown') to a Speech."""
    import numpy as np

    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise TranscodeError("not a WAV file")
    pos, rate, channels, bits = 12, 0, 0, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"fmt ":
            channels = int.from_bytes(data[pos + 10 : pos + 12], "little")
            rate = int.from_bytes(data[pos + 12 : pos + 16], "little")
            bits = int.from_bytes(data[pos + 22 : pos + 24], "little")
        elif chunk == b"data":
            if (bits, channels) != (16, 1) or rate <= 0:
                raise TranscodeError(f"unexpected WAV format: {bits}-bit, {channels} channels, {rate} Hz")
            body = data[pos + 8 : pos + 8 + min(size, len(data) - pos - 8)]
            samples = np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
            return Speech(samples, rate)
        pos += 8 + size + (size & 1)
    raise TranscodeError("WAV without a data chunk")
