"""Copy detection: a lesson's three signals, and how two lessons compare on them. Pure functions, no database
(catalog/similar_index.py stores the prints, keeps the index and the matches).

- what was said: shingles of the published captions (catalog/similar_text.py);
- the footage: hashes of sampled frames, compared as sequences (catalog/similar_media.py);
- the sound: the Chromaprint of the audio edition (catalog/similar_media.py).

Each signal's score is the share of the shorter lesson (its text, its time) found in the other, 0..1. A lesson's
score against another is the largest of its signals. REPORT_THRESHOLD and FLAG_THRESHOLD were chosen from the
labelled set in tests/catalog/test_copy_signals.py, which prints its precision and recall and the weakest copy and
strongest unrelated pair per signal (the README keeps the figures): both sit in the gap between the two, the report
threshold above what word salad on one topic reached in bench/similar.py's synthetic library.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from catalog.similar_media import (
    FootagePrint,
    SoundPrint,
    compare_footage,
    compare_sound,
    footage_keys,
    sound_keys,
)
from catalog.similar_spans import KEY_FOOTAGE, KEY_SOUND, KEY_TRANSCRIPT, SignalMatch, Span
from catalog.similar_text import (
    TimedText,
    TranscriptPrint,
    compare_transcripts,
    transcript_keys,
    transcript_print,
)

__all__ = ["FLAG_THRESHOLD", "KEY_FOOTAGE", "KEY_SOUND", "KEY_TRANSCRIPT", "REPORT_THRESHOLD", "SIGNALS", "Comparison",
           "FootagePrint", "LessonPrints", "SignalMatch", "SoundPrint", "Span", "TimedText", "TranscriptPrint",
           "compare", "footage_keys", "sound_keys", "transcript_keys", "transcript_print"]

# What a lesson's score must reach to be listed as similar (GET /similar), and to flag it as a possible copy.
REPORT_THRESHOLD = 0.40
FLAG_THRESHOLD = 0.50


SIGNALS = ("transcript", "footage", "sound")


@dataclass(frozen=True)
class LessonPrints:
    transcript: TranscriptPrint | None = None
    footage: FootagePrint | None = None
    sound: SoundPrint | None = None

    def keys_of(self, signal: str) -> list[int]:
        """The index keys of one signal; none where the lesson lacks it."""
        if signal == "transcript":
            return transcript_keys(self.transcript) if self.transcript else []
        if signal == "footage":
            return footage_keys(self.footage) if self.footage else []
        return sound_keys(self.sound) if self.sound else []

    def keys(self) -> list[int]:
        return [key for signal in SIGNALS for key in self.keys_of(signal)]


@dataclass(frozen=True)
class Comparison:
    transcript: SignalMatch | None
    footage: SignalMatch | None
    sound: SignalMatch | None

    @property
    def score(self) -> float:
        return max((m.score for m in (self.transcript, self.footage, self.sound) if m is not None), default=0.0)

    @property
    def spans(self) -> tuple[Span, ...]:
        """The spans of the strongest signal."""
        best = max((m for m in (self.transcript, self.footage, self.sound) if m is not None),
                   key=lambda m: m.score, default=None)
        return best.spans if best is not None else ()

    def swapped(self) -> Comparison:
        return Comparison(*(m.swapped() if m is not None else None
                            for m in (self.transcript, self.footage, self.sound)))


def compare(a: LessonPrints, b: LessonPrints, signals: Collection[str] = SIGNALS) -> Comparison:
    """The two lessons on `signals` (the others are left None), each where both lessons have it."""
    transcript = footage = sound = None
    if "transcript" in signals and a.transcript and b.transcript:
        transcript = compare_transcripts(a.transcript, b.transcript, spans_from=REPORT_THRESHOLD)
    if "footage" in signals and a.footage and b.footage:
        footage = compare_footage(a.footage, b.footage)
    if "sound" in signals and a.sound and b.sound:
        sound = compare_sound(a.sound, b.sound)
    return Comparison(transcript, footage, sound)
