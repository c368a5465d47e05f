"""A real S3-protocol server on loopback for the tests: moto_server (in memory, any credentials).

Registered as a pytest plugin: `s3_server` (session) starts it once; `s3_storage` gives an S3Store on a fresh
bucket. A missing moto_server skips the tests, or fails them with WEIKE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest

from tests.support.services import free_port, missing, port_open

if TYPE_CHECKING:
    from ingest.s3_store import S3Store

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class S3Server:
    host: str
    port: int
    access_key: str = "weike-test"
    secret_key: str = "weike-test-secret"
    region: str = "us-east-1"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def storage_url(self, bucket: str, **options: object) -> str:
        query = {"endpoint": self.endpoint, "access_key": self.access_key, "secret_key": self.secret_key,
                 "region": self.region, "retries": "1", **{k: str(v) for k, v in options.items()}}
        return f"s3://{bucket}?{urlencode(query)}"


def _moto_server_bin() -> str | None:
    beside_python = Path(sys.executable).parent / "moto_server"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("moto_server")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    binary = _moto_server_bin()
    if binary is None:
        missing("moto_server (pip install 'moto[server]')")
        raise AssertionError("unreachable")
    port = free_port()
    log_path = tmp_path_factory.mktemp("s3server") / "moto.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([binary, "-H", HOST, "-p", str(port)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"})
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_open(HOST, port, timeout_s=0.2):
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                missing(f"moto_server exited with {proc.returncode}: {tail}")
            if time.monotonic() > deadline:
                missing(f"moto_server did not answer on {HOST}:{port} within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)
        yield S3Server(host=HOST, port=port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def s3_storage(s3_server: S3Server) -> S3Store:
    """An S3Store on a fresh, empty bucket."""
    from ingest.s3_store import S3Store

    store = S3Store.from_url(s3_server.storage_url(f"weike-test-{uuid.uuid4().hex[:12]}"))
    store.ensure_bucket()
    return store
