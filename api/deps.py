"""Request dependencies: settings, database session, storage, worker context, and who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from api.auth import Caller, check_csrf, identify, not_authenticated
from catalog.db import unit_of_work
from catalog.lifecycle import Viewer
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


def get_caller(request: Request, session: SessionDep, settings: SettingsDep) -> Caller:
    """The caller, for HTML form routes that check the CSRF token in the form themselves."""
    return identify(request, session, settings)


FormCallerDep = Annotated[Caller, Depends(get_caller)]


def get_viewer(request: Request, caller: FormCallerDep) -> Viewer:
    """Whoever is asking (anonymous included); a cookie session's state changes must carry the CSRF header."""
    check_csrf(request, caller)
    return caller.viewer


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def get_current_user(viewer: ViewerDep) -> Viewer:
    """An account is required: 401 with a Bearer challenge otherwise."""
    if viewer.anonymous:
        raise not_authenticated()
    return viewer


CurrentUser = Annotated[Viewer, Depends(get_current_user)]
