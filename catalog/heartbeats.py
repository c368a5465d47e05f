"""Workers report in; /healthz asks whether one did recently."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from catalog.models import WorkerHeartbeat, utcnow


def record_heartbeat(session: Session, *, hostname: str, queues: str) -> None:
    beat = session.get(WorkerHeartbeat, hostname)
    if beat is None:
        beat = WorkerHeartbeat(hostname=hostname, queues=queues)
    beat.queues = queues
    beat.seen_at = utcnow()
    session.add(beat)
    session.flush()


def fresh_workers(session: Session, *, within_s: float) -> list[WorkerHeartbeat]:
    since = utcnow() - timedelta(seconds=within_s)
    stmt = select(WorkerHeartbeat).where(col(WorkerHeartbeat.seen_at) >= since)
    return list(session.exec(stmt).all())


def forget_worker(session: Session, *, hostname: str) -> None:
    beat = session.get(WorkerHeartbeat, hostname)
    if beat is not None:
        session.delete(beat)
        session.flush()
