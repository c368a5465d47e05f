"""Celery tasks: uploads (being built)."""

from __future__ import annotations
