"""The Celery app: reliable delivery settings in one place, queues, the sweep schedule, worker signals.

Delivery: ``acks_late`` + ``task_reject_on_worker_lost`` + prefetch 1, so a task whose pool process
dies is delivered again. A hard crash of the whole worker can still lose a message on the embedded
broker (see FACTS.md), so the database keeps job leases and ``maintenance.sweep`` (run by beat)
re-enqueues jobs whose worker stopped renewing them. Tasks are idempotent; see workers/pipeline.py.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from workers.settings import Settings

log = logging.getLogger(__name__)

# workers.tasks.asr first: it prepares the process for CTranslate2 before anything can import it.
TASK_MODULES = ["workers.tasks.asr", "workers.tasks.media", "workers.tasks.uploads", "workers.tasks.maintenance",
                "workers.tasks.packs"]


def celery_config(settings: Settings) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "task_default_queue": "media",
        "task_routes": {
            "media.*": {"queue": "media"},
            "asr.*": {"queue": "asr"},
            "maintenance.*": {"queue": "maintenance"},
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_concurrency": settings.worker_concurrency,
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "sweep-jobs": {"task": "maintenance.sweep", "schedule": settings.sweep_interval_s},
            "expire-uploads": {"task": "maintenance.expire_uploads", "schedule": settings.upload_sweep_interval_s},
            "adopt-uploads": {"task": "maintenance.adopt_uploads", "schedule": settings.upload_sweep_interval_s},
            "pack-upkeep": {"task": "maintenance.packs", "schedule": settings.pack_sweep_interval_s},
        },
        "beat_schedule_filename": str(settings.data_dir / "celerybeat-schedule"),
    }
    if settings.broker_url.startswith("redis"):
        # Our own lease sweep re-enqueues lost work quickly; Redis's redelivery is only a safety net,
        # so its visibility timeout may be long enough for any transcode.
        conf["broker_transport_options"] = {"visibility_timeout": 4 * 3600}
    elif settings.broker_url.startswith("sqla+"):
        conf["broker_polling_interval"] = 0.5
    return conf


def make_celery(settings: Settings) -> Celery:
    app = Celery("weike")
    app.conf.update(celery_config(settings))
    return app


def _build_worker_app() -> Celery:
    from workers import wiring

    settings = wiring.settings()
    wiring.prepare_data_dir(settings)
    app = make_celery(settings)
    app.conf.include = TASK_MODULES
    return app


app = _build_worker_app()


class _Heartbeat:
    """Records in the database that this worker is alive, for /healthz."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.name = ""

    def start(self, queues: str) -> None:
        from workers import wiring

        self.name = wiring.worker_name()
        self._thread = threading.Thread(target=self._loop, args=(queues,), daemon=True, name="weike-heartbeat")
        self._thread.start()

    def _loop(self, queues: str) -> None:
        from catalog.db import unit_of_work
        from catalog.heartbeats import record_heartbeat
        from workers import wiring

        ctx = wiring.context()
        while not self._stop.is_set():
            try:
                with unit_of_work(ctx.engine) as session:
                    record_heartbeat(session, hostname=self.name, queues=queues)
            except Exception:  # the database may be briefly busy; try again next beat
                log.warning("could not record worker heartbeat", exc_info=True)
            self._stop.wait(ctx.settings.worker_heartbeat_s)

    def stop(self) -> None:
        from catalog.db import unit_of_work
        from catalog.heartbeats import forget_worker
        from workers import wiring

        self._stop.set()
        if self.name:
            try:
                with unit_of_work(wiring.context().engine) as session:
                    forget_worker(session, hostname=self.name)
            except Exception:
                log.warning("could not remove worker heartbeat", exc_info=True)


_heartbeat = _Heartbeat()


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    from workers import wiring

    settings = wiring.settings()
    removed = wiring.clean_orphaned_scratch(settings)
    if removed:
        log.info("removed %d scratch folders left by dead workers", removed)
    queues = ",".join(sorted(q.name for q in sender.task_consumer.queues)) if sender is not None else ""
    _heartbeat.start(queues)


@worker_shutdown.connect
def _on_worker_shutdown(**_: Any) -> None:
    _heartbeat.stop()


@worker_process_init.connect
def _on_child_start(**_: Any) -> None:
    # Engines are cached per process id; nothing inherited from the parent is reused.
    log.debug("worker child started")
