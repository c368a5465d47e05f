"""Words for the search index: Chinese word segmentation (jieba), pinyin (pypinyin), and marked snippets.

Pure functions, no database. Text is indexed as space-joined tokens: every word jieba's search mode finds (so 微党课
also yields 党课), and for each Chinese word its full pinyin and its initials (党课: `dangke`, `dk`). A query is cut
the same way, but into words only: `dk` is a Latin word that meets the initials of 党课. Latin letters are lower-cased
on both sides; converting Traditional input to Simplified is the caller's business (catalog imports no transcode).

jieba and pypinyin are imported on first use, so the API starts light. The tokenizer is this module's own jieba
instance: the county's words (branches, townships, speakers) added here do not change how transcode/captions.py,
which uses jieba's global one, breaks caption lines.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

MAX_QUERY_TOKENS = 8
MAX_USER_WORD_CHARS = 40

_RUN = re.compile(r"[^\W_]+")  # letters and digits of any script: what is left of a word without punctuation
_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")
_lock = threading.Lock()
_added: set[str] = set()
_last_words: object = None


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def add_user_words(words: Iterable[str]) -> None:
    """Teach the tokenizer the county's own words (branch, township and speaker names), so that each stays one
    word. Adding a word twice does nothing, and handing the same list again (catalog/search.py keeps it for a
    minute) costs nothing."""
    global _last_words
    if words is _last_words:
        return
    _last_words = words
    fresh = [w for w in ({_normalise(word).strip() for word in words} - _added) if w and len(w) <= MAX_USER_WORD_CHARS]
    if not fresh:
        return
    tokenizer = _tokenizer()
    with _lock:
        for word in sorted(fresh):
            if " " not in word:
                tokenizer.add_word(word)
            _added.add(word)
        _marked_words.cache_clear()  # cut with the words the tokenizer knew before


def is_han(word: str) -> bool:
    """Whether `word` is Chinese characters only."""
    return bool(_HAN.match(word))


def _normalise(text: str) -> str:
    """Lower-case Latin letters without changing the text's length (character offsets stay valid for snippets)."""
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)


def _search_words(text: str) -> Iterator[tuple[str, int, int]]:
    """Words with their offsets, jieba's search mode (long words and the dictionary words inside them)."""
    yield from _tokenizer().tokenize(_normalise(text), mode="search", HMM=False)


@lru_cache(maxsize=65536)
def _pinyin(run: str) -> tuple[str, str]:
    from pypinyin import Style, lazy_pinyin

    full = "".join(lazy_pinyin(run, style=Style.NORMAL, errors="ignore"))
    initials = "".join(lazy_pinyin(run, style=Style.FIRST_LETTER, errors="ignore"))
    return full.lower(), initials.lower()


def word_tokens(word: str) -> list[str]:
    """A word's index tokens: its letters and digits, and for Chinese its full pinyin and initials."""
    out: list[str] = []
    for run in _RUN.findall(word):
        out.append(run)
        if _HAN.match(run):
            out.extend(p for p in _pinyin(run) if p and _RUN.fullmatch(p))
    return out


PHRASE_WORDS = 4  # pinyin of up to this many neighbouring words is indexed too
PHRASE_READINGS = 3  # other full-pinyin readings of a run, one polyphonic character read another way
# Characters whose other reading is common inside words and which pypinyin, lacking the word in its dictionary,
# often reads the other way (还田 huan, 首都 du, 会计 kuai, 长大 zhang, 重新 chong, 银行 hang …). Not every
# polyphone: 的, 了, 着, 地, 得 and the like would only add readings nobody types, and tokens to the index.
POLYPHONES = frozenset("还长行重都会乐调降朝藏参传差转便率觉省教种数处当应好相间少干担弹")


@lru_cache(maxsize=65536)
def _readings(char: str) -> tuple[str, ...]:
    from pypinyin import Style, pinyin

    return tuple(pinyin(char, style=Style.NORMAL, heteronym=True)[0])


@lru_cache(maxsize=65536)
def _other_readings(run: str) -> tuple[str, ...]:
    """Full pinyin of `run` with one polyphonic character read another way, at most PHRASE_READINGS of them:
    pypinyin reads 秸秆还田 as jieganhaitian, and a farmer types jieganhuantian."""
    from pypinyin import Style, lazy_pinyin

    if POLYPHONES.isdisjoint(run):
        return ()
    syllables = lazy_pinyin(run, style=Style.NORMAL, errors="ignore")
    if len(syllables) != len(run):
        return ()
    out: list[str] = []
    for i, char in enumerate(run):
        if char not in POLYPHONES:
            continue
        for other in _readings(char):
            if other != syllables[i] and other.isascii() and other.isalpha():
                out.append("".join([*syllables[:i], other, *syllables[i + 1:]]).lower())
                if len(out) == PHRASE_READINGS:
                    return tuple(out)
    return tuple(out)


def phrase_tokens(text: str) -> Iterator[str]:
    """Full pinyin and initials of runs of 2..PHRASE_WORDS neighbouring Chinese words: jieba cuts 秸秆还田 into
    秸秆/还/田 and 共富工坊 into four characters, and an old phone's keyboard types `jght` or `gongfugongfang`."""
    words = [w for w, _, _ in _tokenizer().tokenize(_normalise(text), mode="default", HMM=False)]
    for i in range(len(words)):
        for n in range(2, PHRASE_WORDS + 1):
            run = words[i:i + n]
            if len(run) < n or not all(_HAN.match(w) for w in run):
                break
            joined = "".join(run)
            yield from (p for p in _pinyin(joined) if p and _RUN.fullmatch(p))
            yield from _other_readings(joined)


def index_tokens(text: str) -> list[str]:
    """Every token of `text` for the index, each once, in order of appearance: words, their pinyin and initials, and
    the pinyin and initials of short runs of neighbouring words."""
    words = (t for word, _, _ in _search_words(text) for t in word_tokens(word))
    return list(dict.fromkeys((*words, *phrase_tokens(text))))


def query_tokens(text: str) -> list[str]:
    """The words of a search (no pinyin added: a query in pinyin is already Latin words), at most
    MAX_QUERY_TOKENS."""
    words = (run for word, _, _ in _search_words(" ".join(text.split())) for run in _RUN.findall(word))
    return list(dict.fromkeys(words))[:MAX_QUERY_TOKENS]


def token_match(query_token: str, tokens: Iterable[str]) -> int:
    """2 when an indexed token is the query token, 1 when one starts with it (a partial word), else 0."""
    best = 0
    for token in tokens:
        if token == query_token:
            return 2
        if token.startswith(query_token):
            best = 1
    return best


@lru_cache(maxsize=4096)
def _marked_words(text: str) -> tuple[tuple[str, int, int, tuple[str, ...]], ...]:
    """The words of a caption sentence with their offsets and index tokens, for marking a pinyin or Latin query:
    kept for the sentences searched most (cutting and reading one costs about 0.4 ms, a page of hits 10 ms)."""
    return tuple((word, start, end, tuple(tokens)) for word, start, end in _search_words(text)
                 if (tokens := word_tokens(word)))


def marked_snippet(text: str, query: Sequence[str]) -> str:
    """`text` as HTML with the words that match the query wrapped in <mark>: the text is escaped piece by piece
    (so a caption's own `<`, `&` or `"` never becomes markup) and the marks are added around escaped pieces."""
    spans: list[tuple[int, int]] = []
    if all(_HAN.match(q) for q in query):  # Chinese words only: where they occur is where to mark (no pinyin)
        for q in query:
            at = text.find(q)
            while at >= 0:
                spans.append((at, at + len(q)))
                at = text.find(q, at + len(q))
    else:
        spans += [(start, end) for word, start, end, tokens in _marked_words(text)
                  if any(token_match(q, tokens) for q in query)]
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        out.append(html.escape(text[at:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out)
