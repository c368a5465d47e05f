"""Audio pack tasks: the build (queue `media`) and the beat's upkeep (queue `maintenance`)."""

from __future__ import annotations

from ingest.errors import StorageUnavailable
from workers import pack_intros, packs, wiring
from workers.app import app


@app.task(name=packs.BUILD_TASK, autoretry_for=(StorageUnavailable,), retry_backoff=True, retry_backoff_max=300,
          max_retries=8, retry_jitter=True)
def build_pack(version_id: int) -> None:
    packs.build_version(wiring.context(), version_id)


@app.task(name=pack_intros.CLIP_TASK)
def intro_clips(texts: list[str]) -> int:
    """Say the spoken intros' clips ahead of the packs that will need them."""
    return pack_intros.warm_clips(wiring.context(), texts)


@app.task(name="maintenance.packs")
def pack_upkeep() -> dict[str, int]:
    """Re-enqueue dead builds, build stale packs' next versions, expire old versions, make the quarterly pack, and
    have the intros' clips said ahead of time (track numbers, newly published lessons)."""
    ctx = wiring.context()
    done = packs.sweep_packs(ctx)
    done["quarterly"] = 1 if packs.make_quarterly_pack(ctx) is not None else 0
    texts = pack_intros.clips_to_warm(ctx) if ctx.settings.pack_warm_intros else []
    if texts:
        wiring.sender_for(ctx.settings).send_task(pack_intros.CLIP_TASK, args=[texts], queue="media")
    done["clips"] = len(texts)
    return done
