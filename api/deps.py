"""Request dependencies: settings, database session, storage, worker context."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from catalog.db import unit_of_work
from ingest.storage import Storage
from workers.settings import Settings, get_settings
from workers.wiring import Context, context_for


def get_app_settings(request: Request) -> Settings:
    settings = getattr(request.app.state, "settings", None)
    return settings if settings is not None else get_settings()


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_context(settings: SettingsDep) -> Context:
    return context_for(settings)


ContextDep = Annotated[Context, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    with unit_of_work(ctx.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_storage(ctx: ContextDep) -> Storage:
    return ctx.storage


StorageDep = Annotated[Storage, Depends(get_storage)]
