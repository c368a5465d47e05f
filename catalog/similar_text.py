"""What was said, as copy detection compares it: the published captions as tokens (Simplified, letters and digits only,
each Han character read as its toneless pinyin syllable, so that a recogniser's homophone slips, 的/得, 在/再,
秸秆/结杆, change nothing; stock greetings and sign-offs left out), cut into shingles of SHINGLE_TOKENS tokens.

The index holds MinHash (datasketch) LSH band keys of the shingle set. Candidates are compared exactly: the score is
the containment |A ∩ B| / min(|A|, |B|) of the two sets, which a few sentences added or cut barely move, doubled
(TRANSCRIPT_SCALE) and scaled down when fewer than TRANSCRIPT_EVIDENCE shingles are shared. Spans come from runs of
shared shingles that keep their order in both transcripts, timed by the segments they were said in.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from numpy.typing import NDArray

from catalog.similar_spans import KEY_TRANSCRIPT, SignalMatch, Span, best_spans, index_key

SHINGLE_TOKENS = 3
MIN_TRANSCRIPT_TOKENS = 24  # fewer (a greeting, a clip with a few words): no transcript signal
NUM_PERM = 128
# One band per MinHash value: a pair is a candidate when any of its NUM_PERM values agree, with probability
# 1 - (1 - J) ** NUM_PERM for Jaccard similarity J, and candidates are ranked by how many agree, the MinHash estimate
# of J (catalog/similar_index.py). The score is a containment, and the reporting threshold (score 0.40: containment
# 0.2) means J of 0.11 for two lessons of one length and less when one lesson is a part of a longer one; bands of
# two values would find such a pair about half the time, one value almost always.
LSH_BANDS, LSH_ROWS = NUM_PERM, 1
MINHASH_SEED = 17
# A verbatim re-reading, recognised twice, shares only about half of its shingles (each recogniser gets about one
# character in eight wrong): containment is doubled, at most 1, to be on the same scale as footage and sound.
TRANSCRIPT_SCALE = 2.0
# A short lesson shares a few phrases with any other on its topic (党员要按时…, 每个月…, 请大家…): below this many
# shingles shared (about two sentences said alike) the score is scaled down in proportion.
TRANSCRIPT_EVIDENCE = 20


@dataclass(frozen=True)
class TimedText:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class TranscriptPrint:
    distinct: NDArray[np.uint32]  # the shingles, sorted, each once
    first_at: NDArray[np.uint32]  # where each is first said: shingle i spans tokens i .. i + SHINGLE_TOKENS - 1
    token_times_s: NDArray[np.float32]  # when each token is said

    @property
    def tokens(self) -> int:
        return len(self.token_times_s)

    @cached_property
    def signature(self) -> NDArray[np.uint32]:
        """The MinHash signature (NUM_PERM values) of the shingle set."""
        from datasketch import MinHash

        minhash = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, hashfunc=int)
        minhash.update_batch(self.distinct.tolist())
        return np.asarray(minhash.hashvalues, dtype=np.uint32)

    @cached_property
    def keys(self) -> list[int]:
        """The LSH band keys: a band of LSH_ROWS MinHash values, hashed with its number."""
        values = self.signature.astype(np.uint64)
        keys = []
        for band in range(LSH_BANDS):
            chunk = values[band * LSH_ROWS: (band + 1) * LSH_ROWS].astype("<u8").tobytes()
            digest = hashlib.blake2b(struct.pack("<H", band) + chunk, digest_size=8).digest()
            keys.append(index_key(KEY_TRANSCRIPT, int.from_bytes(digest, "little")))
        return keys


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Greetings and sign-offs every lesson says: not evidence that one lesson copies another. On the labelled set the
# opening alone made up an eighth of a short lesson's shingles and put unrelated lessons at the reporting threshold.
STOCK_PHRASES = ("同志们", "大家好", "今天我们来讲一讲", "今天我们讲一讲", "今天我们来学习", "今天我们一起学习", "谢谢大家",
                 "谢谢各位")
_STOCK = re.compile("|".join(sorted(STOCK_PHRASES, key=len, reverse=True)))


@lru_cache(maxsize=65536)
def _token(ch: str) -> int:
    """A character's token: its toneless pinyin syllable for Han, itself (lower-cased) for letters and digits,
    0 for anything else (punctuation, spaces, symbols), which is dropped."""
    if not ch.isalnum():
        return 0
    if _HAN.match(ch):
        from pypinyin import Style, lazy_pinyin

        syllable = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")
        if syllable and syllable[0].isascii() and syllable[0].isalpha():
            return zlib.crc32(b"py:" + syllable[0].encode()) or 1
    return zlib.crc32(unicodedata.normalize("NFKC", ch).lower().encode()) or 1


def _tokens(text: str) -> list[int]:
    return [t for t in map(_token, text) if t]


def _mix64(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """MurmurHash3's 64-bit finaliser (wrapping arithmetic)."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _shingle_hashes(tokens: NDArray[np.uint64]) -> NDArray[np.uint32]:
    n = len(tokens) - SHINGLE_TOKENS + 1
    h = np.zeros(n, dtype=np.uint64)
    for k in range(SHINGLE_TOKENS):
        h = _mix64(h * np.uint64(0x100000001B3) ^ tokens[k: k + n])
    return (h >> np.uint64(32)).astype(np.uint32)


def transcript_print(segments: Iterable[TimedText], *,
                     simplify: Callable[[str], str] = lambda text: text) -> TranscriptPrint | None:
    """The transcript's shingles and when each token is said; None when too little was said to compare.
    `simplify` turns Traditional characters into Simplified (the worker passes OpenCC's t2s)."""
    tokens: list[int] = []
    times: list[float] = []
    for segment in segments:
        found = _tokens(_STOCK.sub(" ", simplify(segment.text)))
        if not found:
            continue
        step = max(0.0, segment.end_s - segment.start_s) / len(found)
        tokens += found
        times += [segment.start_s + step * (k + 0.5) for k in range(len(found))]
    if len(tokens) < MIN_TRANSCRIPT_TOKENS:
        return None
    distinct, first_at = np.unique(_shingle_hashes(np.array(tokens, dtype=np.uint64)), return_index=True)
    return TranscriptPrint(distinct=distinct, first_at=first_at.astype(np.uint32),
                           token_times_s=np.array(times, dtype=np.float32))


def transcript_keys(print_: TranscriptPrint) -> list[int]:
    return print_.keys


def compare_transcripts(a: TranscriptPrint, b: TranscriptPrint, *, spans_from: float = 0.0) -> SignalMatch:
    """Spans only for a pair scoring at least `spans_from`."""
    small, large = (a, b) if len(a.distinct) <= len(b.distinct) else (b, a)
    at = np.searchsorted(large.distinct, small.distinct)
    at[at == len(large.distinct)] = 0
    shared = large.distinct[at] == small.distinct
    count = int(shared.sum())
    containment = count / max(1, len(small.distinct))
    score = round(min(1.0, TRANSCRIPT_SCALE * containment) * min(1.0, count / TRANSCRIPT_EVIDENCE), 3)
    if score < spans_from or not count:
        return SignalMatch(score)
    in_small, in_large = small.first_at[shared], large.first_at[at[shared]]
    pairs = zip(in_small.tolist(), in_large.tolist(), strict=True) if small is a else \
        zip(in_large.tolist(), in_small.tolist(), strict=True)
    return SignalMatch(score, _text_spans(a, b, sorted(pairs)))


# A span is a run of shared shingles (in a's order) at most SPAN_GAP_TOKENS apart in a, whose distance between where
# they are said in a and in b drifts by at most SPAN_DRIFT_TOKENS (words added, cut or misheard), of at least
# MIN_SPAN_SHINGLES.
SPAN_GAP_TOKENS = 8
SPAN_DRIFT_TOKENS = 12
MIN_SPAN_SHINGLES = 4


def _text_spans(a: TranscriptPrint, b: TranscriptPrint, pairs: Sequence[tuple[int, int]]) -> tuple[Span, ...]:
    """Runs of shared shingles (`pairs`: where each is first said in a, and in b, in a's order) that keep their
    order in both."""
    runs: list[list[tuple[int, int]]] = []
    for i, j in pairs:
        run = runs[-1] if runs else None
        if run and i - run[-1][0] <= SPAN_GAP_TOKENS and \
                abs((j - i) - (run[-1][1] - run[-1][0])) <= SPAN_DRIFT_TOKENS:
            run.append((i, j))
        else:
            runs.append([(i, j)])
    last = SHINGLE_TOKENS - 1
    spans = [(len(run), Span(float(a.token_times_s[run[0][0]]), float(a.token_times_s[run[-1][0] + last]),
                             float(b.token_times_s[min(j for _, j in run)]),
                             float(b.token_times_s[max(j for _, j in run) + last])))
             for run in runs if len(run) >= MIN_SPAN_SHINGLES]
    return best_spans(spans)
