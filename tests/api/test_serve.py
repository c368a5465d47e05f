"""`weike serve` (what `make run` starts): API, a media worker with the sweep and a speech worker, no configuration."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.support.services import free_port

REPO = Path(__file__).resolve().parents[2]


def test_serve_runs_api_and_workers_and_processes_an_upload(tmp_path: Path, silent_video: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "WEIKE_DATA_DIR": str(tmp_path / "var"), "COLUMNS": "200", "WEIKE_ASR_ENABLED": "false"}
    env.pop("WEIKE_DATABASE_URL", None)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    workers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert health is not None and health.status_code == 200, log.read_text(errors="replace")
        output = log.read_text(errors="replace")
        assert f"http://127.0.0.1:{port}/" in output and "worker-asr" in output, output
        workers = [p for p in psutil.Process(proc.pid).children() if "celery" in " ".join(p.cmdline())]
        assert len(workers) == 2, [p.cmdline() for p in workers]
        assert sum("-B" in p.cmdline() for p in workers) == 1  # one sweep

        # The first start made the administrator and said its password once.
        found = re.search(r"password: (\S+)", output)
        assert found and "admin" in output, output
        token = httpx.post(f"{base}/api/v1/auth/token", data={"username": "admin", "password": found.group(1)},
                           timeout=10).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        with silent_video.open("rb") as fh:
            anonymous = httpx.post(f"{base}/api/v1/lessons", files={"file": ("无声.mp4", fh)}, timeout=30)
        assert anonymous.status_code == 401, anonymous.text
        with silent_video.open("rb") as fh:
            created = httpx.post(f"{base}/api/v1/lessons", files={"file": ("无声.mp4", fh)}, headers=admin,
                                 timeout=30)
        assert created.status_code == 201, created.text
        lesson_id = created.json()["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            body = httpx.get(f"{base}/api/v1/lessons/{lesson_id}", headers=admin, timeout=5).json()
            if body["status"] in ("ready", "failed"):
                break
            time.sleep(0.5)
        assert body["status"] == "ready" and body["review_state"] == "awaiting_review", body
        assert httpx.get(f"{base}/api/v1/lessons/{lesson_id}", timeout=5).status_code == 404  # not yet public
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    # Stopping serve stops its workers.
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, [p.cmdline() for p in alive]


def test_workers_do_not_outlive_a_killed_serve(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "WEIKE_DATA_DIR": str(tmp_path / "var"), "WEIKE_ASR_ENABLED": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
            workers = [p for p in psutil.Process(proc.pid).children() if "celery" in " ".join(p.cmdline())]
        assert len(workers) == 2
    finally:
        proc.kill()  # no chance to clean up: the terminal closed, or the OOM killer
        proc.wait(timeout=10)
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, [p.cmdline() for p in alive]


def test_serve_on_a_taken_port_says_so_and_starts_no_worker(tmp_path: Path) -> None:
    # A second `make run` beside a running one: a clear message and a failing exit, not a "started" banner
    # followed by uvicorn's English error and an exit status of 0.
    port = free_port()
    env = {**os.environ, "WEIKE_DATA_DIR": str(tmp_path / "var"), "WEIKE_ASR_ENABLED": "false", "COLUMNS": "200"}
    env.pop("WEIKE_DATABASE_URL", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"端口 {port} 已被占用" in done.stdout, done.stdout
    assert "已启动" not in done.stdout and " pid " not in done.stdout
    assert not (tmp_path / "var" / "logs").exists()  # no worker was started
