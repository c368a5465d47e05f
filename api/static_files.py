"""Our own scripts and styles, served so a phone on a weak signal downloads each once: gzip-compressed when the
browser accepts it, and cacheable for a year under a versioned URL (`/static/weike.css?v=<hash>`), which changes
whenever the file does. Without the right `v` an answer must be revalidated (its ETag makes that a 304)."""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from starlette.datastructures import URL, QueryParams
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
COMPRESSIBLE = (".js", ".css", ".svg", ".json", ".txt", ".html")
YEAR_S = 365 * 24 * 3600


@lru_cache(maxsize=256)
def _version(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def version_of(relative: str) -> str:
    path = (STATIC_DIR / relative).resolve()
    if not path.is_relative_to(STATIC_DIR.resolve()) or not path.is_file():
        return ""
    return _version(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=256)
def _gzipped(path: Path, mtime_ns: int) -> bytes:
    return gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)


class VersionedStaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code not in (200, 304):
            return response
        wanted = QueryParams(scope.get("query_string", b"")).get("v")
        current = version_of(path)
        response.headers["Cache-Control"] = (f"public, max-age={YEAR_S}, immutable"
                                             if current and wanted == current else "no-cache")
        accepts = dict(scope.get("headers", [])).get(b"accept-encoding", b"")
        file = (STATIC_DIR / path).resolve()
        if response.status_code == 200 and file.suffix in COMPRESSIBLE and b"gzip" in accepts and \
                scope["method"] == "GET" and file.is_file():
            body = _gzipped(file, file.stat().st_mtime_ns)
            headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length",)}
            headers["Content-Encoding"] = "gzip"
            if (etag := headers.get("etag", "")).endswith('"'):
                headers["etag"] = etag[:-1] + '-gz"'  # another representation, another validator
            headers["Vary"] = "Accept-Encoding"
            return Response(body, status_code=200, headers=headers, media_type=response.media_type)
        return response


def version_static_urls(templates: Jinja2Templates) -> None:
    """`url_for('static', path=...)` in templates names the file's current version."""

    @pass_context
    def url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> URL:
        url: URL = context["request"].url_for(name, **path_params)
        if name == "static" and (version := version_of(str(path_params.get("path", "")))):
            return url.include_query_params(v=version)
        return url

    templates.env.globals["url_for"] = url_for
