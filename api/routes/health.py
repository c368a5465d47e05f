"""/healthz: 200 once the database and storage answer and a worker reported in recently."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import ContextDep
from api.schemas import HealthPublic
from catalog.db import unit_of_work
from catalog.heartbeats import fresh_workers
from ingest.errors import IngestError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
def healthz(ctx: ContextDep) -> JSONResponse:
    detail: dict[str, str] = {}
    database = storage = False
    workers: list[str] = []
    try:
        with unit_of_work(ctx.engine) as session:
            session.execute(text("SELECT 1"))
            database = True
            workers = [w.hostname for w in fresh_workers(session, within_s=ctx.settings.worker_fresh_s)]
    except Exception as exc:
        detail["database"] = f"数据库无法连接：{type(exc).__name__}"
    try:
        ctx.storage.check()
        storage = True
    except IngestError as exc:
        detail["storage"] = exc.message
    if not workers:
        detail["workers"] = "没有处理进程在线，上传的课程会排队等待"
    ok = database and storage and bool(workers)
    body = HealthPublic(ok=ok, database=database, storage=storage, workers=workers, detail=detail)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})
