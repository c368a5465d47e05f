"""Cleaning what Whisper writes: Simplified script, Chinese punctuation, and the phrases it invents from silence.

Whisper base writes Mandarin in Traditional characters about as often as in Simplified, separates clauses with
ASCII commas or plain spaces, and, on silence, music or noise, produces stock phrases learnt from subtitled videos
("you", "谢谢观看", subtitle-credit lines). Everything here is pure text handling and cheap.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

# Han ideographs (with extension A and compatibility ideographs), kana and hangul count as CJK text.
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_CJK_PUNCT = "，。！？；：、…—·「」『』（）《》“”‘’"
_HALF_TO_FULL = {",": "，", "?": "？", "!": "！", ";": "；", ":": "：", ".": "。"}
_SENTENCE_END = "。！？…"

_ASCII_PUNCT_AFTER_CJK = re.compile(rf"(?<=[{_CJK}])\s*([,?!;:]|\.(?!\d))\s*")
_ASCII_PUNCT_BEFORE_CJK = re.compile(rf"\s*([,?!;:])\s*(?=[{_CJK}])")
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_SPACE_AROUND_CJK_PUNCT = re.compile(rf"\s*([{_CJK_PUNCT}])\s*")
_REPEATED_PUNCT = re.compile(r"([，、；：])[，、；：。！？]+|([。！？])[，、；：。]+")
_LOOP = re.compile(r"(.{1,8}?)\1{3,}")  # a unit of 1-8 characters said 4 or more times in a row
_LEADING_PUNCT = re.compile(rf"^[\s{_CJK_PUNCT},.?!;:]+")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)

# Whole-segment phrases Whisper produces on silence or noise. Dropped only when the segment is also unsure (a
# teacher may really close with "谢谢大家"), see `is_hallucination`.
STOCK_PHRASES = frozenset({
    "you", "thankyou", "thankyouforwatching", "thanksforwatching", "bye", "ok",
    "谢谢", "谢谢观看", "谢谢收看", "感谢观看", "谢谢大家", "谢谢大家观看", "谢谢您的观看", "多谢观看", "拜拜", "嗯", "啊", "好",
})  # fmt: skip
# Subtitle-credit and channel lines: never speech in a lesson, dropped whatever the confidence.
CREDIT_MARKERS = (
    "字幕由", "字幕提供", "字幕志愿者", "字幕by", "字幕制作", "amaraorg", "明镜与点点", "点点栏目",
    "请不吝点赞", "订阅转发", "打赏支持", "yoyotelevision", "优优独播", "索兰娅",
)  # fmt: skip
UNSURE_NO_SPEECH_PROB = 0.3
UNSURE_AVG_LOGPROB = -0.6


@functools.lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional -> Simplified Chinese (OpenCC's t2s: characters and phrases); other scripts pass unchanged."""
    if not text:
        return text
    converted: str = _t2s().convert(text)
    return converted


def punctuate_chinese(text: str, *, end_sentence: bool = True) -> str:
    """Full-width punctuation around Chinese, clause pauses written as spaces made into "，", a final "。"."""
    text = unicodedata.normalize("NFC", text).replace("\ufffd", "").strip()  # half a character cut by a token
    text = _LOOP.sub(r"\1\1", text)  # a greedy decoder stuck in a loop ("以何以何以何以何…")
    text = _ASCII_PUNCT_AFTER_CJK.sub(lambda m: _HALF_TO_FULL[m.group(1)], text)
    text = _ASCII_PUNCT_BEFORE_CJK.sub(lambda m: _HALF_TO_FULL[m.group(1)], text)
    text = _SPACE_BETWEEN_CJK.sub("，", text)
    text = _SPACE_AROUND_CJK_PUNCT.sub(r"\1", text)
    text = _REPEATED_PUNCT.sub(lambda m: m.group(1) or m.group(2), text)
    text = _LEADING_PUNCT.sub("", text)
    if end_sentence and text and re.match(rf"[{_CJK}]", text[-1]):
        text += "？" if text.endswith("吗") else "。"
    return text


def normalize_for_match(text: str) -> str:
    """Lower-case letters, digits and CJK only: for comparing phrases and measuring error rates."""
    return _NOT_WORD.sub("", to_simplified(text)).lower()


def is_hallucination(text: str, *, no_speech_prob: float, avg_logprob: float) -> bool:
    """A stock phrase on an unsure segment, or a subtitle-credit line."""
    key = normalize_for_match(text)
    if not key:
        return True
    if any(marker in key for marker in CREDIT_MARKERS):
        return True
    unsure = no_speech_prob > UNSURE_NO_SPEECH_PROB or avg_logprob < UNSURE_AVG_LOGPROB
    return unsure and key in STOCK_PHRASES
