"""Starting and stopping a Celery worker process beside `weike serve` (embedded defaults).

This module starts a long-lived child process, which is not an ffmpeg run, hence not
transcode.runner; it is the one other place allowed to import subprocess.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def worker_argv(*, queues: str, concurrency: int, beat: bool, loglevel: str) -> list[str]:
    argv = ["-A", "workers.app:app", "worker", "-Q", queues, "-c", str(concurrency), "--loglevel", loglevel,
            "-n", f"weike-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    if beat:
        argv.append("-B")
    return argv


def start_worker(*, queues: str, concurrency: int, beat: bool, loglevel: str, log_path: Path,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "ab")  # noqa: SIM115 (the child keeps it open)
    cmd = [sys.executable, "-m", "celery", *worker_argv(queues=queues, concurrency=concurrency, beat=beat,
                                                        loglevel=loglevel)]
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                            start_new_session=True)
    out.close()
    log.info("started worker pid %d, log %s", proc.pid, log_path)
    return proc


def stop_worker(proc: subprocess.Popen[bytes], *, timeout_s: float = 20.0) -> None:
    """Warm shutdown: SIGTERM to the main process only (a group-wide SIGTERM once hung celery)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
