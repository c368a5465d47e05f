"""Audio pack tasks: the build (queue `media`) and the beat's upkeep (queue `maintenance`)."""

from __future__ import annotations

from ingest.errors import StorageUnavailable
from workers import packs, wiring
from workers.app import app


@app.task(name=packs.BUILD_TASK, autoretry_for=(StorageUnavailable,), retry_backoff=True, retry_backoff_max=300,
          max_retries=8, retry_jitter=True)
def build_pack(version_id: int) -> None:
    packs.build_version(wiring.context(), version_id)


@app.task(name="maintenance.packs")
def pack_upkeep() -> dict[str, int]:
    """Re-enqueue dead builds, build stale packs' next versions, expire old versions, make the quarterly pack."""
    ctx = wiring.context()
    done = packs.sweep_packs(ctx)
    done["quarterly"] = 1 if packs.make_quarterly_pack(ctx) is not None else 0
    return done
