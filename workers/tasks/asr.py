"""Celery tasks: asr (being built)."""

from __future__ import annotations
