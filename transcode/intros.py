"""Spoken intros for audio-pack tracks: what is said, the speech, and an MP3 that joins the audio edition as it is.

    parts = intro_parts(3, "秸秆还田的好处", "王建国", "东风村党支部")  # "第三课。" + "秸秆还田的好处。主讲人：王建国，东风村党支部。"
    synth = IntroSynthesizer(load_voice(cache_dir), clips=stored)     # the model loads once per process
    speech = synth.speech(parts)                                      # clips from `stored` when they are there
    out = encode_intro(speech, read_params(edition), work_dir / "intro.mp3", work_dir=work_dir)
    pieces = join_with_intro(out.path, edition)                       # transcode.mp3_frames

What costs time is synthesis, in proportion to what is said; so an intro is two clips joined in PCM: the number
("第三课。", the same in every pack: `IntroSynthesizer` keeps them in memory) and the lesson (title, speaker and
branch: the same for a lesson in every pack, so the caller keeps it in storage under `speech_cache_key`). When
neither is kept yet, both are said in one run and cut apart where the lesson's first token starts (a run costs about
a second of padding and pauses besides what it says; Kokoro on OpenVINO tells each token's duration). The
encoded intro is a pure function of (text, voice, edition parameters): keep it under `intro_cache_key`.

Text: digits, Latin letters and symbols are turned into what both voices read (Chinese numerals, letter names);
emoji and brackets are dropped; a title is cut to its first MAX_TITLE_CHARS characters.

Encoding: the speech with LEAD_S of silence before and PAUSE_S after, measured with ebur128 and brought to the
audio edition's -16 LUFS with a gain and a 4x-oversampled limiter, resampled to the edition's rate and channels and
encoded with libmp3lame at its constant bit rate, Xing/Info frame on. Measured again; encoded again when it misses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
import unicodedata
from collections import OrderedDict
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import ffmpeg

from transcode import runner
from transcode.audio_edition import (
    LIMITER_CEILING_DBTP,
    LIMITER_LOSS_DB,
    MAX_ENCODES,
    TARGET_LUFS,
    TARGET_TRUE_PEAK_DBTP,
    TOLERANCE_LU,
    Loudness,
    measure_loudness,
)
from transcode.command import compile_ffmpeg, file_url, open_input
from transcode.errors import Mp3ParamsMismatch, SpeechSynthesisFailed
from transcode.mp3_frames import Mp3Params, read_params
from transcode.tts import Speech, Voice, write_wav

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 30
MAX_NAME_CHARS = 20
MAX_BRANCH_CHARS = 30
LEAD_S = 0.15  # silence before the speech
GAP_S = 0.3  # between the number and the lesson clip
PAUSE_S = 0.7  # silence after the speech, before the lesson starts
TRIM_DBFS = -45.0  # a clip's quieter ends are trimmed (to the nearest 10 ms, with 30 ms kept)
MAX_GAIN_DB = 30.0
INTRO_FORMAT = 1  # part of every cache key: bump when the wording or the encoding changes
ENCODE_TIMEOUT_S = 60.0

_LETTERS = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", (
    "诶", "比", "西", "迪", "伊", "艾弗", "吉", "艾尺", "艾", "杰", "开", "艾勒", "艾姆", "恩", "欧", "批", "丘",
    "阿尔", "艾斯", "提", "优", "维", "达布溜", "艾克斯", "歪", "贼德",
), strict=True))  # fmt: skip
_DIGITS = "零一二三四五六七八九"
_MAX_SPELLED_LETTERS = 8  # a longer Latin word is dropped: spelling it out says nothing
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff"
_KEEP = re.compile(rf"[^{_HAN}A-Za-z0-9%.,;:!?，。；：！？、\s\-~～—–/·]")
_SYMBOLS = {"℃": "摄氏度", "°C": "摄氏度", "°": "度", "+": "加", "㎡": "平方米", "㎏": "公斤"}
_BRACKETS = re.compile(r"[()（）【】\[\]{}〔〕]")  # a pause where they were; 《》 and quotes just go
_PAUSE_CHARS = "，。；：！？、"
# Surnames whose sound differs from the character's everyday reading. Both voices read through pypinyin, which
# says 曾国强 as Céng Guóqiáng (曾经) and 单明 as Dān Míng; the intro says the surname with a character that has
# only that sound (增, 善). The name is written as typed everywhere else: only what is said changes.
SURNAME_SOUNDS = {
    "曾": "增", "单": "善", "解": "谢", "仇": "求", "朴": "瓢", "区": "欧", "查": "渣", "盖": "舸", "华": "化",
    "任": "人", "覃": "琴", "缪": "妙", "种": "虫", "燕": "烟", "翟": "宅", "薄": "博",
}  # fmt: skip
_COMMON_WORD = 20  # jieba's count for 区委 (271), 华县 (20): a word; for 种师 (3, from 种师道 himself): a name
_ASCII_PUNCT = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？"}


@dataclass(frozen=True)
class IntroParts:
    number: str  # "第三课。": the same in every pack
    lesson: str  # "标题。主讲人：某某，某某村党支部。": the same for a lesson in every pack ("" when nothing is known)

    @property
    def text(self) -> str:
        return self.number + self.lesson


@dataclass(frozen=True)
class IntroOutput:
    path: Path
    duration_s: float
    loudness: Loudness
    params: Mp3Params


def intro_parts(number: int, title: str, speaker: str | None = None, branch: str | None = None) -> IntroParts:
    """What the intro says, split into the number and the lesson; missing or unsayable parts are left out."""
    if number < 1:
        raise ValueError(f"lesson number {number} < 1")
    said_title = sayable(title, max_chars=MAX_TITLE_CHARS)
    said_speaker = said_name(sayable(speaker or "", max_chars=MAX_NAME_CHARS).rstrip(_PAUSE_CHARS))
    said_branch = sayable(branch or "", max_chars=MAX_BRANCH_CHARS).rstrip(_PAUSE_CHARS)
    lesson = _end_sentence(said_title)
    if said_speaker:
        lesson += f"主讲人：{said_speaker}" + (f"，{said_branch}。" if said_branch else "。")
    elif said_branch:
        lesson += f"主讲单位：{said_branch}。"
    return IntroParts(number=f"第{_number_words(number)}课。", lesson=lesson)


def said_name(name: str) -> str:
    """A speaker's name as the intro says it: a surname of SURNAME_SOUNDS said by its stand-in ("曾国强" →
    "增国强", "任老师" → "人老师"), unless the name's first two characters are a word of their own (区委宣讲团,
    华南农大专家, 单位领导: no surname there)."""
    if len(name) < 2 or name[0] not in SURNAME_SOUNDS or not re.match(rf"[{_HAN}]", name[1]):
        return name
    import jieba  # the dictionary misaki's segmentation loads anyway

    jieba.initialize()
    if (jieba.get_FREQ(name[:2]) or 0) >= _COMMON_WORD:
        return name
    return SURNAME_SOUNDS[name[0]] + name[1:]


def intro_text(number: int, title: str, speaker: str | None = None, branch: str | None = None) -> str:
    """The whole intro as said: "第三课。秸秆还田的好处。主讲人：王建国，东风村党支部。"."""
    return intro_parts(number, title, speaker, branch).text


def sayable(text: str, *, max_chars: int | None = None) -> str:
    """`text` as both voices can read it: Han characters and Chinese pauses only; numbers in Chinese numerals,
    Latin letters by name, emoji and brackets gone. With `max_chars`, cut to that many characters of the cleaned
    text first (at a pause near the end when there is one, never inside a number or a word)."""
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = unicodedata.normalize("NFKC", text)  # full-width letters and digits, ①, ...
    text = re.sub(r"\s*&\s*", "和", _BRACKETS.sub(" ", text))
    text = _KEEP.sub("", text).strip()
    text = re.sub(r"\s+", " ", text)
    if max_chars is not None and len(text) > max_chars:
        text = _cut(text, max_chars)
    text = _say_numbers(text)
    text = re.sub(r"[A-Za-z]+", _say_letters, text)
    text = re.sub(rf"(?<=[{_HAN}])\.(?=[{_HAN}]|$)|\.(?=\s)", "。", text)  # a full stop, not a decimal point
    text = "".join(_ASCII_PUNCT.get(ch, ch) for ch in text)
    text = re.sub(r"[\s\-~～—–/]+", "，", text)  # separators left between words: a short pause
    text = re.sub(rf"[^{_HAN}{_PAUSE_CHARS}]", "", text)  # "·" in names, stray dots and symbols
    text = re.sub(rf"([{_PAUSE_CHARS}])[{_PAUSE_CHARS}]+", r"\1", text)
    return text.strip(_PAUSE_CHARS)


def _cut(text: str, max_chars: int) -> str:
    cut = max_chars
    while cut > 0 and re.match(r"[A-Za-z0-9.%]", text[cut]) and re.match(r"[A-Za-z0-9.%]", text[cut - 1]):
        cut -= 1  # never half a number or a word
    for pause in range(cut, max(0, cut - 10), -1):
        if text[pause - 1] in _PAUSE_CHARS + ",;:!? ":
            return text[:pause]
    return text[:cut]


def _say_numbers(text: str) -> str:
    import cn2an

    # Codes and serial numbers digit by digit: N95, G318, 5G; phone numbers (1 as 幺, as they are read out).
    text = re.sub(r"(?<=[A-Za-z])\d+|\d+(?=[A-Za-z])", lambda m: _digit_by_digit(m.group()), text)
    text = re.sub(r"\d{7,}", lambda m: _digit_by_digit(m.group(), one="幺"), text)
    text = re.sub(r"(?<=\d)\s*[-~～—–]\s*(?=\d)", "到", text)  # 3-5天: 三到五天
    try:
        text = str(cn2an.transform(text, "an2cn"))  # 3.5亩, 50%, 1/3, 2024年5月1日, 1000斤
    except (ValueError, KeyError, IndexError) as exc:  # cn2an raises plain errors on odd input
        log.debug("cn2an could not read %r: %s", text, exc)
    return re.sub(r"\d+", lambda m: _digit_by_digit(m.group()), text)


def _digit_by_digit(digits: str, one: str = "一") -> str:
    return "".join(one if d == "1" else _DIGITS[int(d)] for d in digits)


def _say_letters(match: re.Match[str]) -> str:
    word = match.group()
    if len(word) > _MAX_SPELLED_LETTERS:
        return " "
    return "".join(_LETTERS[ch] for ch in word.upper())


def _number_words(number: int) -> str:
    import cn2an

    return str(cn2an.an2cn(number))


def _end_sentence(text: str) -> str:
    if not text:
        return ""
    return text if text[-1] in "。！？" else text.rstrip(_PAUSE_CHARS) + "。"


def speech_cache_key(text: str, voice_name: str) -> str:
    """Key for a clip of `text` said by `voice_name` (a lesson clip the caller keeps as WAV)."""
    return _sha256({"format": INTRO_FORMAT, "kind": "speech", "text": text, "voice": voice_name})


def intro_cache_key(text: str, voice_name: str, params: Mp3Params) -> str:
    """Key for the encoded intro: a pure function of what is said, by which voice, at which MP3 parameters."""
    return _sha256({
        "format": INTRO_FORMAT, "kind": "intro", "text": text, "voice": voice_name, "params": asdict(params),
        "lufs": TARGET_LUFS, "lead_s": LEAD_S, "gap_s": GAP_S, "pause_s": PAUSE_S,
    })  # fmt: skip


def _sha256(data: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class IntroSynthesizer:
    """Intro speech from one voice, as two clips: the number and the lesson, each looked up in `clips` first (the
    missing ones said in one run).

    `clips` maps `speech_cache_key(text, voice.name)` to speech: a mapping over the caller's storage keeps lesson
    clips across packs (`wav_bytes`/`speech_from_wav` convert). Number clips are also kept in memory, the last
    `cached_numbers` of them.
    """

    def __init__(
        self, voice: Voice, *, clips: MutableMapping[str, Speech] | None = None, cached_numbers: int = 200
    ) -> None:
        self.voice = voice
        self._clips = clips
        self._numbers: OrderedDict[str, Speech] = OrderedDict()
        self._cached_numbers = cached_numbers

    def clip(self, text: str) -> Speech:
        """`text` said by the voice, from `clips` when it is there (and put there when it was not)."""
        return self.clips([text])[0]

    def clips(self, texts: list[str]) -> list[Speech]:
        """Each of `texts` said, those missing from `clips` said together (one run where the voice can, which costs
        about a second less per text left out of it) and put there."""
        keys = [speech_cache_key(text, self.voice.name) for text in texts]
        found = [self._clips.get(key) if self._clips is not None else None for key in keys]
        missing = [i for i, speech in enumerate(found) if speech is None]
        if missing:
            said = self.voice.synthesize_parts([texts[i] for i in missing])
            for i, speech in zip(missing, said, strict=True):
                found[i] = speech
                if self._clips is not None:
                    self._clips[keys[i]] = speech
        return [speech for speech in found if speech is not None]

    def speech(self, parts: IntroParts) -> Speech:
        """The whole intro's speech: the number, a short gap, the lesson."""
        number = self._numbers.pop(parts.number, None)
        said = self.clips([*([parts.number] if number is None else []), *([parts.lesson] if parts.lesson else [])])
        if number is None:
            number = said[0]
        else:
            said.insert(0, number)
        self._numbers[parts.number] = number
        while len(self._numbers) > self._cached_numbers:
            self._numbers.popitem(last=False)
        return join_speech(said, gap_s=GAP_S)


def join_speech(clips: list[Speech], *, gap_s: float) -> Speech:
    """The clips, each trimmed of its quiet ends, one after another with `gap_s` of silence between them."""
    import numpy as np

    rate = clips[0].sample_rate
    if any(c.sample_rate != rate for c in clips):
        raise ValueError("clips of different sample rates")
    gap = np.zeros(int(gap_s * rate), dtype=np.float32)
    parts: list[npt.NDArray[np.float32]] = []
    for clip in clips:
        if parts:
            parts.append(gap)
        parts.append(trim_silence(clip).samples)
    return Speech(np.concatenate(parts).astype(np.float32), rate)


def trim_silence(speech: Speech, *, threshold_dbfs: float = TRIM_DBFS) -> Speech:
    import numpy as np

    frame = max(1, speech.sample_rate // 100)  # 10 ms
    frames = len(speech.samples) // frame
    if frames == 0:
        return speech
    peaks = np.abs(speech.samples[: frames * frame]).reshape(frames, frame).max(axis=1)
    loud = np.flatnonzero(peaks >= 10 ** (threshold_dbfs / 20))
    if loud.size == 0:
        raise SpeechSynthesisFailed("the voice said nothing audible")
    start = max(0, (int(loud[0]) - 3) * frame)
    end = min(len(speech.samples), (int(loud[-1]) + 4) * frame)
    return Speech(speech.samples[start:end], speech.sample_rate)


def encode_intro(
    speech: Speech,
    params: Mp3Params,
    out_path: Path,
    *,
    work_dir: Path | None = None,
    ffmpeg_bin: str = "ffmpeg",
    timeout_s: float = ENCODE_TIMEOUT_S,
) -> IntroOutput:
    """Encode the speech, with its lead-in and pause, at the edition's exact MP3 parameters and -16 LUFS."""
    import numpy as np

    if params.bitrate_kbps is None:
        raise Mp3ParamsMismatch(f"cannot encode an intro to join a variable-bit-rate edition ({params.describe()})")
    rate = speech.sample_rate
    padded = np.concatenate([np.zeros(int(LEAD_S * rate), np.float32), speech.samples,
                             np.zeros(int(PAUSE_S * rate), np.float32)])  # fmt: skip
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="weike-intro-", dir=work_dir) as tmp:
        wav = write_wav(Speech(padded, rate), Path(tmp) / "intro.wav")
        source = measure_loudness(wav, ffmpeg_bin=ffmpeg_bin, timeout_s=timeout_s)
        if not source.integrated_lufs > -70:
            raise SpeechSynthesisFailed("the intro's speech is silent")
        gain_db = min(MAX_GAIN_DB, TARGET_LUFS - source.integrated_lufs + LIMITER_LOSS_DB)
        ceiling_dbtp = LIMITER_CEILING_DBTP
        try:
            for _ in range(MAX_ENCODES):
                _encode(wav, out_path, params, gain_db=gain_db, ceiling_dbtp=ceiling_dbtp, ffmpeg_bin=ffmpeg_bin,
                        timeout_s=timeout_s)  # fmt: skip
                loudness = measure_loudness(out_path, ffmpeg_bin=ffmpeg_bin, timeout_s=timeout_s)
                error_lu = TARGET_LUFS - loudness.integrated_lufs
                overshoot_db = loudness.true_peak_dbtp - TARGET_TRUE_PEAK_DBTP
                if abs(error_lu) <= TOLERANCE_LU and overshoot_db <= 0:
                    break
                log.info("intro %s measured %s; encoding once more", out_path.name, loudness)
                gain_db = min(MAX_GAIN_DB, gain_db + error_lu)
                ceiling_dbtp = max(-12.0, ceiling_dbtp - max(0.0, overshoot_db + 0.3))
            encoded = read_params(out_path)
            if encoded != params:
                raise Mp3ParamsMismatch(f"intro came out {encoded.describe()}, wanted {params.describe()}")
        except BaseException:
            out_path.unlink(missing_ok=True)
            raise
    duration_s = len(padded) / rate
    return IntroOutput(path=out_path, duration_s=duration_s, loudness=loudness, params=params)


def _encode(wav: Path, out_path: Path, params: Mp3Params, *, gain_db: float, ceiling_dbtp: float, ffmpeg_bin: str,
            timeout_s: float) -> None:  # fmt: skip
    assert params.bitrate_kbps is not None
    limited = (
        open_input(wav)["a:0"]
        .filter("volume", f"{gain_db:.2f}dB")
        .filter("aresample", 4 * params.sample_rate)  # true peaks: limit 4x oversampled, as the edition does
        .filter("alimiter", limit=f"{10 ** (ceiling_dbtp / 20):.4f}", attack=5, release=80, level="disabled")
        .filter("aresample", params.sample_rate)
    )
    node = ffmpeg.output(
        limited, file_url(out_path), format="mp3", ac=params.channels, ar=params.sample_rate, map_metadata=-1,
        id3v2_version=0, write_id3v1=0, write_xing=1,
        **{"c:a": "libmp3lame", "b:a": f"{params.bitrate_kbps}k"},
    )  # fmt: skip
    runner.run(compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin), timeout_s=timeout_s)
