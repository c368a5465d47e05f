"""Celery tasks for resumable uploads, run by beat on the maintenance queue: expire and adopt."""

from __future__ import annotations

from workers import upload_sweeps, wiring
from workers.app import app


@app.task(name="maintenance.expire_uploads")
def expire_uploads() -> int:
    """Drop unfinished uploads past their expiry and staged bytes nobody owns (incomplete S3 multipart uploads)."""
    return upload_sweeps.expire_uploads(wiring.context())


@app.task(name="maintenance.adopt_uploads")
def adopt_uploads() -> int:
    """Turn uploads whose bytes all arrived, but whose finishing request died, into lessons."""
    return len(upload_sweeps.adopt_uploads(wiring.context()))
