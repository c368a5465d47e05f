"""The FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.caching import ConditionalGet
from api.errors import install_error_handlers
from api.limits import BodySizeLimit, SecurityHeaders, body_limit_for
from api.routes import (
    accounts,
    broadcast,
    captions,
    feeds,
    health,
    lessons,
    library,
    library_browse,
    meta,
    pack_pages,
    pages,
    popularity,
    ratings,
    report_pages,
    reports,
    review,
    revisions,
    similar,
    structure,
    uploads,
)
from api.routes import packs as pack_routes
from api.routes import search as search_routes
from api.static_files import STATIC_DIR, VersionedStaticFiles
from catalog.accounts import has_admin, use_password_hashing
from catalog.db import unit_of_work
from workers.settings import Settings, get_settings
from workers.wiring import context_for

log = logging.getLogger(__name__)


class NoAdministrator(RuntimeError):
    pass


def require_administrator(settings: Settings) -> None:
    """Production starts only with an administrator (`weike users create NAME --role admin`): a service that
    nobody can manage would accept uploads that nobody can review."""
    if settings.environment != "production":
        return
    with unit_of_work(context_for(settings).engine) as session:
        if not has_admin(session):
            raise NoAdministrator("no administrator: run `weike users create NAME --role admin` first")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    use_password_hashing(settings.password_hashing)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        require_administrator(settings)
        yield

    app = FastAPI(title="微课 Weike", version="0.1.0", lifespan=lifespan,
                  description="县级微党课片库：上传、转码、审核与发布。Micro-lesson library and transcoding pipeline.")
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(accounts.router)
    app.include_router(lessons.router)
    app.include_router(review.router)
    app.include_router(similar.router)
    app.include_router(revisions.router)
    app.include_router(meta.router)
    app.include_router(captions.router)
    app.include_router(uploads.router)
    app.include_router(pages.router)
    app.include_router(library.router)
    app.include_router(library_browse.router)
    app.include_router(popularity.router)
    app.include_router(search_routes.router)
    app.include_router(structure.router)
    app.include_router(feeds.router)
    app.include_router(broadcast.router)
    app.include_router(broadcast.page_router)
    app.include_router(pack_routes.router)
    app.include_router(pack_pages.router)
    app.include_router(reports.router)
    app.include_router(report_pages.router)
    app.include_router(ratings.router)
    app.include_router(ratings.page_router)
    app.mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(ConditionalGet)
    app.add_middleware(BodySizeLimit, limit_for=body_limit_for(settings.max_upload_bytes))
    app.add_middleware(SecurityHeaders, media_origins=settings.media_origins())
    return app
