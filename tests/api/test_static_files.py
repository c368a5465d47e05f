"""Static files: versioned URLs cacheable for a year, gzip for text, revalidation otherwise."""

from __future__ import annotations

import gzip
import re

from fastapi.testclient import TestClient

from api.static_files import STATIC_DIR, version_of


def test_pages_name_versioned_static_files_that_cache_for_a_year(anonymous: TestClient) -> None:
    page = anonymous.get("/login").text
    css = re.search(r'href="(?:http://testserver)?(/static/weike\.css\?v=([0-9a-f]+))"', page)
    assert css and css.group(2) == version_of("weike.css")
    r = anonymous.get(css.group(1), headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-encoding"] == "gzip" and "Accept-Encoding" in r.headers["vary"]
    assert r.content == (STATIC_DIR / "weike.css").read_bytes()  # httpx undid the gzip
    stale = anonymous.get("/static/weike.css?v=000000000000")
    assert stale.headers["cache-control"] == "no-cache"  # an old page's link still works, revalidated
    identity = anonymous.get(css.group(1), headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers and identity.headers["etag"] != r.headers["etag"]
    again = anonymous.get("/static/weike.css", headers={"If-None-Match": identity.headers["etag"]})
    assert again.status_code == 304


def test_compressed_scripts_are_much_smaller(anonymous: TestClient) -> None:
    raw = (STATIC_DIR / "vendor" / "tus-js-client-4.3.1.min.js").read_bytes()
    assert len(gzip.compress(raw)) < len(raw) / 2
    r = anonymous.get("/static/vendor/tus-js-client-4.3.1.min.js", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and int(r.headers["content-length"]) < len(raw) / 2
    assert anonymous.get("/static/nope.js").status_code == 404
