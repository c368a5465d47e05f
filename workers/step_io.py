"""What a pipeline step is given and what it hands back, and how it is registered (workers/pipeline.py lists them).

A step is a function ``run(ctx, lesson, io) -> StepOutcome``: it reads its :class:`LessonInput` (read before the
work starts, with the lesson's assets as recorded then), works on local files in ``io.tmp``, publishes its outputs to
storage under keys from ingest/keys.py, and returns the assets to record and the lesson facts it found. The pipeline
records the outcome in one transaction, only while the step still holds its job's lease.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from catalog import jobs
from catalog.assets import AssetFacts
from catalog.db import unit_of_work
from catalog.models import AssetKind
from transcode.probe import ProbeResult
from workers.settings import Settings
from workers.wiring import Context


@dataclass(frozen=True)
class RecordedAsset:
    """An asset of the lesson as recorded when the step started."""

    kind: str
    label: str
    facts: AssetFacts


@dataclass(frozen=True)
class LessonInput:
    """What a step needs to know about its lesson, read before the work starts."""

    lesson_id: str
    original_key: str
    title: str
    speaker: str | None
    branch: str | None
    recorded_on: str | None
    original_sha256: str = ""
    original_size_bytes: int = 0
    revision: int = 1
    duration_s: float | None = None
    assets: tuple[RecordedAsset, ...] = ()

    def assets_of(self, kind: AssetKind) -> list[RecordedAsset]:
        return [a for a in self.assets if a.kind == kind]


@dataclass
class StepOutcome:
    """What a step produced: assets to record, and facts about the lesson (probe finds what it is)."""

    assets: list[tuple[AssetKind, str, AssetFacts]] = field(default_factory=list)
    media_kind: str | None = None
    duration_s: float | None = None
    # Probe's result: the pipeline adds every registered step that wants a lesson like this one.
    probe: ProbeResult | None = None
    next_steps: Sequence[str] = ()


class LeaseLost(Exception):
    """Another worker took this job over (our lease expired): stop working on it."""


class ProgressReporter:
    """Renews the job's lease and records progress, at most every ``interval_s``."""

    def __init__(self, ctx: Context, lesson_id: str, step: str, owner: str, interval_s: float = 2.0, *,
                 weights: Mapping[str, float] | None = None, optional: Collection[str] = ()) -> None:
        self.ctx, self.lesson_id, self.step, self.owner = ctx, lesson_id, step, owner
        self.interval_s = interval_s
        self.weights, self.optional = weights or {}, optional
        self._last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s and fraction < 1.0:
            return
        self._last = now
        with unit_of_work(self.ctx.engine) as session:
            held = jobs.renew(session, lesson_id=self.lesson_id, step=self.step, owner=self.owner,
                              lease_s=self.ctx.settings.job_lease_s, progress=fraction)
            if held:
                jobs.refresh_lesson(session, self.lesson_id, self.weights, self.optional)
        if not held:
            raise LeaseLost(f"{self.lesson_id}/{self.step}")


@dataclass(frozen=True)
class StepIO:
    """The local files a step works on, and its progress callback."""

    original: Path | None  # the local copy of the original; None for a step that does not use it
    tmp: Path  # the job's scratch folder
    progress: ProgressReporter
    # The format the original was decoded from when ffmpeg cannot read it ("silk": `original` is then a WAV).
    decoded_from: str | None = None

    @property
    def src(self) -> Path:
        if self.original is None:
            raise RuntimeError("this step was declared with uses_original=False")
        return self.original


StepFunction = Callable[[Context, LessonInput, StepIO], StepOutcome]
Wanted = Callable[[Settings, ProbeResult], bool]


@dataclass(frozen=True)
class StepSpec:
    """One registered step. Adding a step to the pipeline is one StepSpec in workers/pipeline.py."""

    name: str
    run: StepFunction
    queue: str
    weight: float  # share of the lesson's progress bar
    # Whether probe adds this step for a lesson (None: never added by probe; probe itself is the first step).
    wanted: Wanted | None = None
    after: tuple[str, ...] = ()  # steps that must be finished (done, skipped or failed) first, when the lesson has them
    # Those of `after` whose failure skips this step (default: all of them); a step that only waits for an optional
    # one (HLS waits for captions, to carry them) still runs when that one fails.
    needs: tuple[str, ...] | None = None
    optional: bool = False  # a failure stays on its job and skips what needs it; the lesson still gets ready
    uses_original: bool = True  # False: the step works from other assets, so the original is not copied locally

    @property
    def required_steps(self) -> tuple[str, ...]:
        return self.after if self.needs is None else self.needs
