"""Phones trickling bytes over a weak signal must not starve the service: 100 slow PATCHes in flight, and /healthz
still answers within a second; a PATCH whose client goes quiet ends after the read timeout, keeping its bytes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.accounts import bearer, make_account, token_for
from tests.support.live import LiveServer, serve_in_thread
from tests.uploads.tus import V, upload_id_of, upload_row

SLOW_PATCHES = 100


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var", upload_read_timeout_s=3.0, upload_lock_s=30.0)
    make_account(settings, "dongfeng", "uploader", "东风村党支部")
    return settings


@pytest.fixture
def server(settings: Any) -> Iterator[LiveServer]:
    with serve_in_thread(settings) as live:
        yield live


def _create(http: httpx.Client, login: dict[str, str], length: int) -> str:
    r = http.post("/api/v1/uploads/", headers={**V, **login, "Upload-Length": str(length)})
    assert r.status_code == 201, r.text
    return "/" + r.headers["Location"].split("/", 3)[3]


def _start_patch(server: LiveServer, path: str, length: int, first: bytes) -> socket.socket:
    sock = socket.create_connection((server.host, server.port))
    sock.sendall(f"PATCH {path} HTTP/1.1\r\nHost: {server.host}\r\nTus-Resumable: 1.0.0\r\n"
                 f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                 f"Content-Length: {length}\r\n\r\n".encode() + first)
    return sock


def test_a_hundred_trickling_uploads_leave_the_service_answering(server: LiveServer, settings: Any) -> None:
    length = 1_000_000
    with httpx.Client(base_url=server.url, timeout=30) as http:
        login = bearer(token_for(http, "dongfeng"))
        paths = [_create(http, login, length) for _ in range(SLOW_PATCHES)]
        socks = [_start_patch(server, path, length, b"x" * 100) for path in paths]
        stop = threading.Event()

        def trickle() -> None:  # a byte now and then on every connection, as from a phone in the hills
            while not stop.is_set():
                for sock in socks:
                    try:
                        sock.sendall(b"y")
                    except OSError:
                        pass
                stop.wait(0.5)

        dribbler = threading.Thread(target=trickle, daemon=True)
        dribbler.start()
        try:
            time.sleep(1.0)  # every PATCH is in: those writing hold upload threads, the rest wait for one
            slowest = 0.0
            for _ in range(10):
                started = time.monotonic()
                health = http.get("/healthz", timeout=10)
                slowest = max(slowest, time.monotonic() - started)
                assert health.status_code in (200, 503)  # no worker here: 503, answered at once
                time.sleep(0.2)
            page = http.get("/login", timeout=10)
            assert page.status_code == 200
            print(f"/healthz slowest of 10 with {SLOW_PATCHES} trickling PATCHes: {slowest * 1000:.0f} ms")
            assert slowest < 1.0, f"/healthz took {slowest:.2f} s with {SLOW_PATCHES} slow uploads in flight"
        finally:
            stop.set()
            dribbler.join(timeout=5)
            for sock in socks:
                sock.close()


def test_a_patch_whose_client_goes_quiet_ends_and_keeps_its_bytes(server: LiveServer, settings: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        login = bearer(token_for(http, "dongfeng"))
        path = _create(http, login, 500_000)
        sock = _start_patch(server, path, 500_000, b"z" * 70_000)  # then nothing more: the signal is gone
        try:
            sock.settimeout(15)
            started = time.monotonic()
            answer = sock.recv(4096)  # the server gives up after the read timeout (3 s here) and answers
            waited = time.monotonic() - started
        finally:
            sock.close()
        assert 2.0 < waited < 12.0, waited
        assert answer.startswith(b"HTTP/1.1 204"), answer[:200]
        deadline = time.monotonic() + 10
        while upload_row(settings, upload_id_of(path)).lock_owner is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert upload_row(settings, upload_id_of(path)).offset == 70_000
        assert http.head(path, headers=V).headers["Upload-Offset"] == "70000"  # the phone resumes from here
