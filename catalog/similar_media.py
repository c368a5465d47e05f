"""The footage and the sound, as copy detection compares them (transcode/fingerprints.py reads them from media).

- **The footage**: 64-bit difference hashes of sampled frames. The index holds each hash as four 16-bit chunks (a
  frame within 3 bits of another shares a chunk with it, and most frames of a copy do), for the frames that show
  something new. Two lessons compare as sequences: frame pairs within FRAME_BITS, grouped by their time offset; the
  score is the share of the shorter lesson's time that matches at up to four consistent offsets (a copy cut in a
  few places).
- **The sound**: Chromaprint items. The index holds a sample of their top 20 bits; candidates are aligned at the
  offsets where items agree and scored by the share of the shorter recording whose items then differ in at most
  SOUND_BITS bits (a window's mean), which only the same recording achieves: the same script read by another
  voice does not, nor a greeting that two recordings happen to say alike (MIN_SOUND_ITEMS_MATCHED).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from catalog.similar_spans import KEY_FOOTAGE, KEY_SOUND, SignalMatch, Span, best_spans, index_key

FRAME_BITS = 10  # two frames within this many bits of 64 show the same picture
FRAME_CHUNKS = 4  # 16-bit chunks of each frame hash in the index
FRAME_REPEAT_BITS = 4  # a frame within this many bits of the last one indexed adds no keys
MIN_FRAME_S = 0.04  # the least time a sampled frame stands for (one frame at 25 fps)
MIN_FOOTAGE_S = 4.0  # a footage match covers at least this long
MAX_FOOTAGE_OFFSETS = 4  # a copy cut in a few places matches at a few offsets
MAX_OFFSETS_TRIED = 16  # the offsets at which most frames match, tried for each of those
SOUND_BITS = 6.0  # mean bits (of 32) by which aligned Chromaprint items differ, over SOUND_WINDOW items
SOUND_WINDOW = 8
SOUND_KEY_SHIFT = 12  # the index keeps an item's top 20 bits ...
SOUND_KEY_SAMPLE = 8  # ... for one item value in 8
MIN_SOUND_ITEMS = 32  # about 4 s of sound
MIN_RUN_ITEMS = 16  # a sound match runs at least 2 s ...
MIN_SOUND_ITEMS_MATCHED = 40  # ... and 5 s in all (a greeting said the same way is not a recording re-used)
MAX_SOUND_OFFSETS = 4  # alignments tried
MAX_ITEM_POSITIONS = 16  # positions of one item value that vote for offsets (silence repeats one value)
# As transcode/fingerprints.py says (catalog does not import transcode): 4096-sample frames at 11025 Hz, a third of a
# frame apart.
CHROMAPRINT_ITEM_S = 4096 / 3 / 11025


@dataclass(frozen=True)
class FootagePrint:
    times_s: NDArray[np.float32]
    hashes: NDArray[np.uint64]
    duration_s: float
    interval_s: float  # the longest gap between regular samples (transcode/fingerprints.py frame_interval_s)


def footage_keys(print_: FootagePrint) -> list[int]:
    """The chunks of the frames that show something new: a frame within FRAME_REPEAT_BITS of the last one indexed
    (the same shot, a talking head that hardly moves) adds nothing to the index, though all are compared."""
    keys: set[int] = set()
    last: int | None = None
    for h in print_.hashes.tolist():
        if last is not None and (h ^ last).bit_count() <= FRAME_REPEAT_BITS:
            continue
        last = h
        for chunk in range(FRAME_CHUNKS):
            keys.add(index_key(KEY_FOOTAGE, (chunk << 16) | ((h >> (16 * chunk)) & 0xFFFF)))
    return sorted(keys)


def _weights(times: NDArray[np.float32], duration_s: float, interval_s: float) -> NDArray[np.float64]:
    """How long each sampled frame stands for: until the next sample, at most one interval."""
    ends = np.append(times[1:].astype(np.float64), max(duration_s, float(times[-1])))
    return np.clip(ends - times, MIN_FRAME_S, interval_s)


def compare_footage(a: FootagePrint, b: FootagePrint) -> SignalMatch | None:
    """None when either lesson has no informative frame."""
    if not len(a.hashes) or not len(b.hashes):
        return None
    swap = (a.duration_s, len(a.hashes)) > (b.duration_s, len(b.hashes))
    q, o = (b, a) if swap else (a, b)  # q: the shorter lesson
    interval_s = max(q.interval_s, o.interval_s)
    weights = _weights(q.times_s, q.duration_s, interval_s)
    chosen = _matching_offsets(q, o, weights, tolerance_s=interval_s / 2 + 0.5)
    covered = np.zeros(len(q.hashes), dtype=bool)
    for _, frames in chosen:
        covered[frames] = True
    matched_s = float(weights[covered].sum())
    if matched_s < min(MIN_FOOTAGE_S, 0.5 * float(weights.sum())):
        return SignalMatch(0.0)
    spans: list[tuple[float, Span]] = []
    for offset, frames in chosen:
        for run in _runs(q.times_s[frames], gap_s=2 * interval_s + 0.5):
            end = run[-1] + float(weights[int(np.searchsorted(q.times_s, run[-1]))])
            spans.append((end - run[0], Span(run[0], end, run[0] + offset, min(end + offset, o.duration_s))))
    match = SignalMatch(round(min(1.0, matched_s / float(weights.sum())), 3), best_spans(spans))
    return match.swapped() if swap else match


def _matching_offsets(q: FootagePrint, o: FootagePrint, weights: NDArray[np.float64], *,
                      tolerance_s: float) -> list[tuple[float, NDArray[np.intp]]]:
    """Up to MAX_FOOTAGE_OFFSETS time offsets (o's time - q's), each with the frames of q (sorted indices) that
    match a frame of o at it within `tolerance_s`: picked one at a time, each the offset that adds the most of q's
    time not matched yet, while that is at least half of MIN_FOOTAGE_S."""
    distance = np.bitwise_count(q.hashes[:, None] ^ o.hashes[None, :])
    qi, oj = np.nonzero(distance <= FRAME_BITS)
    if not len(qi):
        return []
    offsets = o.times_s[oj].astype(np.float64) - q.times_s[qi]
    # The offsets (in half seconds) at which most frames match are tried: a static shot matches at every offset.
    halves = np.round(offsets * 2).astype(np.int64)
    frames_at = np.unique(np.stack([halves, qi]), axis=1)[0]
    values, counts = np.unique(frames_at, return_counts=True)
    tried = values[np.argsort(-counts, kind="stable")[:MAX_OFFSETS_TRIED]] / 2
    # at[t, f]: frame f of q matches at the t-th offset tried; each round takes the first offset adding the most.
    at = np.zeros((len(tried), len(q.hashes)), dtype=bool)
    rows, pairs = np.nonzero(np.abs(offsets[None, :] - tried[:, None]) <= tolerance_s)
    at[rows, qi[pairs]] = True
    unmatched = weights.copy()
    chosen: list[tuple[float, NDArray[np.intp]]] = []
    for _ in range(MAX_FOOTAGE_OFFSETS):
        gains = at @ unmatched
        best = int(np.argmax(gains))
        if gains[best] < MIN_FOOTAGE_S / 2:
            break
        chosen.append((float(tried[best]), np.flatnonzero(at[best])))
        unmatched[at[best]] = 0.0
    return chosen


def _runs(times: NDArray[np.float32], *, gap_s: float) -> list[list[float]]:
    runs: list[list[float]] = []
    for t in times.tolist():
        if runs and t - runs[-1][-1] <= gap_s:
            runs[-1].append(t)
        else:
            runs.append([t])
    return runs


# --------------------------------------------------------------------------------------------------- the sound


@dataclass(frozen=True)
class SoundPrint:
    items: NDArray[np.uint32]  # Chromaprint items, CHROMAPRINT_ITEM_S apart


def _informative(items: NDArray[np.uint32]) -> NDArray[np.bool_]:
    """Items that differ from the one before: silence and a steady hum repeat one item."""
    keep = np.ones(len(items), dtype=bool)
    keep[1:] = items[1:] != items[:-1]
    return keep


def sound_keys(print_: SoundPrint) -> list[int]:
    top = (print_.items[_informative(print_.items)] >> np.uint32(SOUND_KEY_SHIFT)).astype(np.int64)
    sampled = np.unique(top[(top * 0x9E3779B1 >> 8) % SOUND_KEY_SAMPLE == 0])
    return [index_key(KEY_SOUND, int(v)) for v in sampled.tolist()]


def compare_sound(a: SoundPrint, b: SoundPrint) -> SignalMatch | None:
    """None when either recording is too short to compare."""
    if min(len(a.items), len(b.items)) < MIN_SOUND_ITEMS:
        return None
    swap = len(a.items) > len(b.items)
    q, o = (b.items, a.items) if swap else (a.items, b.items)
    informative = _informative(q)
    offsets = _agreeing_offsets(q, o)
    covered = np.zeros(len(q), dtype=bool)
    runs: list[tuple[int, int, int]] = []  # (offset, first item, last item + 1)
    for offset in offsets:
        lo, hi = max(0, -offset), min(len(q), len(o) - offset)
        if hi - lo < MIN_RUN_ITEMS:
            continue
        errors = np.bitwise_count(q[lo:hi] ^ o[lo + offset: hi + offset]).astype(np.float64)
        mean = np.convolve(errors, np.ones(SOUND_WINDOW) / SOUND_WINDOW, mode="same")
        good = (mean <= SOUND_BITS) & informative[lo:hi]
        for start, stop in _true_runs(good):
            if stop - start >= MIN_RUN_ITEMS and not covered[lo + start: lo + stop].all():
                covered[lo + start: lo + stop] = True
                runs.append((offset, lo + start, lo + stop))
    if int(covered.sum()) < min(MIN_SOUND_ITEMS_MATCHED, int(informative.sum()) // 2):
        return SignalMatch(0.0)
    score = float(covered.sum()) / max(1, int(informative.sum()))
    spans = [(stop - start, Span(start * CHROMAPRINT_ITEM_S, stop * CHROMAPRINT_ITEM_S,
                                 (start + offset) * CHROMAPRINT_ITEM_S, (stop + offset) * CHROMAPRINT_ITEM_S))
             for offset, start, stop in runs]
    match = SignalMatch(round(min(1.0, score), 3), best_spans(spans))
    return match.swapped() if swap else match


def _agreeing_offsets(q: NDArray[np.uint32], o: NDArray[np.uint32]) -> list[int]:
    """Offsets (o's index - q's) at which most items' top 20 bits agree, best first."""
    o_top = (o >> np.uint32(SOUND_KEY_SHIFT)).tolist()
    where: dict[int, list[int]] = {}
    for j, value in enumerate(o_top):
        where.setdefault(value, []).append(j)
    votes: dict[int, int] = {}
    for i, value in enumerate((q >> np.uint32(SOUND_KEY_SHIFT)).tolist()):
        for j in where.get(value, ())[:MAX_ITEM_POSITIONS]:
            votes[j - i] = votes.get(j - i, 0) + 1
    ranked = sorted(votes.items(), key=lambda item: -item[1])
    return [offset for offset, count in ranked[:MAX_SOUND_OFFSETS] if count >= 2]


def _true_runs(flags: NDArray[np.bool_]) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))
