"""What copy detection's signals have in common: a match's score and where it lies (its spans), and the index keys
every signal writes into one table (the signal in a key's top bits)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_SPANS = 5
KEY_TRANSCRIPT, KEY_FOOTAGE, KEY_SOUND = 1, 2, 3
_KIND_SHIFT = 60
_VALUE_MASK = (1 << _KIND_SHIFT) - 1


@dataclass(frozen=True)
class Span:
    """Where a match lies: seconds in this lesson and in the other."""

    start_s: float
    end_s: float
    other_start_s: float
    other_end_s: float

    def swapped(self) -> Span:
        return Span(self.other_start_s, self.other_end_s, self.start_s, self.end_s)


@dataclass(frozen=True)
class SignalMatch:
    score: float  # the share of the shorter lesson found in the other, 0..1
    spans: tuple[Span, ...] = ()

    def swapped(self) -> SignalMatch:
        return SignalMatch(self.score, tuple(s.swapped() for s in self.spans))


def index_key(kind: int, value: int) -> int:
    return (kind << _KIND_SHIFT) | (value & _VALUE_MASK)


def kind_range(kind: int) -> tuple[int, int]:
    """The keys of one signal: from the first (inclusive) to the last (exclusive)."""
    return kind << _KIND_SHIFT, (kind + 1) << _KIND_SHIFT


def best_spans(weighted: Sequence[tuple[float, Span]]) -> tuple[Span, ...]:
    """The MAX_SPANS heaviest spans, in time order, to the tenth of a second."""
    best = sorted(weighted, key=lambda item: -item[0])[:MAX_SPANS]
    return tuple(sorted((_rounded(s) for _, s in best), key=lambda s: s.start_s))


def _rounded(span: Span) -> Span:
    return Span(*(round(max(0.0, v), 1) for v in (span.start_s, span.end_s, span.other_start_s, span.other_end_s)))
