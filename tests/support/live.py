"""The API on a real socket: uvicorn in a thread of the test process, or as a separate process to kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.services import free_port, port_open

REPO = Path(__file__).resolve().parents[2]


@dataclass
class LiveServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def serve_in_thread(settings: Any) -> Iterator[LiveServer]:
    import uvicorn

    from api.app import create_app

    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="uvicorn-test")
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer("127.0.0.1", port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def api_env(settings: Any, **extra: str) -> dict[str, str]:
    from tests.support.stacks import settings_env

    env = {**os.environ, **settings_env(settings), "PYTHONUNBUFFERED": "1",
           "WEIKE_UPLOAD_LOCK_S": str(settings.upload_lock_s),
           "WEIKE_MAX_UPLOAD_BYTES": str(settings.max_upload_bytes)}
    env.update(extra)
    return env


@dataclass
class ApiProcess:
    proc: subprocess.Popen[bytes]
    server: LiveServer
    log_path: Path

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a crash or an OOM kill."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_api_process(settings: Any, *, port: int | None = None, log_path: Path,
                      env: dict[str, str] | None = None) -> ApiProcess:
    """`uvicorn api.asgi:app` in its own process (its own process group), configured by WEIKE_* variables."""
    port = port or free_port()
    out = open(log_path, "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.asgi:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        stdout=out, stderr=subprocess.STDOUT, env=env or api_env(settings), cwd=REPO, start_new_session=True)
    out.close()
    api = ApiProcess(proc, LiveServer("127.0.0.1", port), log_path)
    deadline = time.monotonic() + 60
    while not port_open("127.0.0.1", port, timeout_s=0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            api.kill() if proc.poll() is None else None
            raise AssertionError(f"API process did not start:\n{api.log_tail()}")
        time.sleep(0.1)
    return api
