"""Starting and stopping a Celery worker process beside `weike serve` (embedded defaults).

This module starts a long-lived child process, which is not an ffmpeg run, hence not
transcode.runner; it is the one other place allowed to import subprocess.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def embedded_worker_groups(queues: list[str]) -> list[tuple[str, list[str]]]:
    """The worker processes `weike serve` starts: speech recognition in a process of its own, so that an hour of
    Whisper never holds back the next upload's renditions (and the model stays loaded in one place)."""
    rest = [q for q in queues if q != "asr"]
    groups = [("worker", rest)] if rest else []
    if "asr" in queues:
        groups.append(("worker-asr", ["asr"]))
    return groups


def worker_argv(*, queues: str, concurrency: int, beat: bool, loglevel: str, name: str = "weike") -> list[str]:
    argv = ["-A", "workers.app:app", "worker", "-Q", queues, "-c", str(concurrency), "--loglevel", loglevel,
            "-n", f"{name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    if beat:
        argv.append("-B")
    return argv


def start_worker(*, queues: str, concurrency: int, beat: bool, loglevel: str, log_path: Path,
                 env: dict[str, str] | None = None, name: str = "weike") -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "ab")  # noqa: SIM115 (the child keeps it open)
    cmd = [sys.executable, "-m", "celery", *worker_argv(queues=queues, concurrency=concurrency, beat=beat,
                                                        loglevel=loglevel, name=name)]
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                            start_new_session=True, preexec_fn=_stop_with_parent)
    out.close()
    log.info("started worker pid %d, log %s", proc.pid, log_path)
    return proc


def _stop_with_parent() -> None:
    """In the child before exec: ask Linux to send SIGTERM when `weike serve` dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the worker outlives a killed parent, as before


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
