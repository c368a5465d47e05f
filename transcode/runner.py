"""The one place that starts subprocesses (ffmpeg, ffprobe, and tools the tests use).

Arguments are a list, never a shell string. Each command runs in its own process group, which is killed as a
whole on time-out, on an exception in a progress callback, or on KeyboardInterrupt. stderr goes to a temporary
file (so a chatty ffmpeg can never block on a full pipe); its tail is logged and kept in the result and errors.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from transcode.errors import CommandFailed, CommandTimedOut

log = logging.getLogger(__name__)

STDERR_TAIL_BYTES = 4096
PROGRESS_INTERVAL_S = 1.0
_POLL_S = 0.1


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: bytes
    stderr_tail: str
    elapsed_s: float


class _StdoutReader(threading.Thread):
    """Drains stdout: keeps it all, or parses ffmpeg `-progress` key=value lines into the latest out_time."""

    def __init__(self, stream: IO[bytes], *, parse_progress: bool) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._parse_progress = parse_progress
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._out_time_s: float | None = None

    @property
    def out_time_s(self) -> float | None:
        with self._lock:
            return self._out_time_s

    def data(self) -> bytes:
        return b"".join(self._chunks)

    def run(self) -> None:
        if not self._parse_progress:
            while chunk := self._stream.read(65536):
                self._chunks.append(chunk)
            return
        for raw in self._stream:
            key, sep, value = raw.decode("ascii", "replace").strip().partition("=")
            # ffmpeg 5.1 writes out_time_ms in microseconds too (a long-standing naming bug).
            if sep and key in ("out_time_us", "out_time_ms"):
                try:
                    micros = int(value)
                except ValueError:
                    continue  # "N/A" before the first frame
                with self._lock:
                    self._out_time_s = max(0.0, micros / 1_000_000)


def _with_nostdin(args: Sequence[str]) -> list[str]:
    cmd = [str(a) for a in args]
    if not cmd:
        raise ValueError("empty command")
    if Path(cmd[0]).name.startswith("ffmpeg") and "-nostdin" not in cmd:
        cmd.insert(1, "-nostdin")
    return cmd


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _read_tail(f: IO[bytes]) -> str:
    f.flush()
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - STDERR_TAIL_BYTES))
    return f.read().decode("utf-8", "replace")


def run(
    args: Sequence[str],
    *,
    timeout_s: float,
    cwd: Path | None = None,
    on_progress: Callable[[float], None] | None = None,
    progress_total_s: float | None = None,
    env: Mapping[str, str] | None = None,
) -> CommandResult:
    """Run `args` to completion within `timeout_s`; raise CommandFailed or CommandTimedOut otherwise.

    With `on_progress`, the caller has put `-progress pipe:1 -nostats` into ffmpeg's arguments; the callback gets
    the fraction done (0..1 of `progress_total_s`) about once a second and 1.0 at the end. It may raise: the
    command is then killed and the exception propagates. `env` adds to (or overrides) the inherited environment.
    """
    cmd = _with_nostdin(args)
    parse_progress = on_progress is not None
    started = time.monotonic()
    deadline = started + timeout_s
    with tempfile.TemporaryFile(prefix="weike-stderr-") as err:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            start_new_session=True,
        )
        assert proc.stdout is not None
        reader = _StdoutReader(proc.stdout, parse_progress=parse_progress)
        reader.start()
        try:
            last_reported = started
            last_time: float | None = None
            while True:
                try:
                    proc.wait(timeout=max(0.0, min(_POLL_S, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    pass
                now = time.monotonic()
                if now >= deadline:
                    _kill_group(proc)
                    tail = _read_tail(err)
                    log.warning("timed out after %.1f s: %s\n%s", timeout_s, cmd[0], tail)
                    raise CommandTimedOut(f"{cmd[0]} exceeded {timeout_s:.0f} s; stderr tail:\n{tail}")
                if on_progress is not None and now - last_reported >= PROGRESS_INTERVAL_S:
                    out_time = reader.out_time_s
                    if out_time is not None and out_time != last_time:
                        last_reported, last_time = now, out_time
                        on_progress(_fraction(out_time, progress_total_s))
            reader.join(timeout=max(0.1, deadline - time.monotonic()))
            if reader.is_alive():  # a left-behind child still holds stdout open
                _kill_group(proc)
                reader.join()
        except BaseException:
            # Time-out, a raising callback, KeyboardInterrupt: never leave the group running.
            if proc.poll() is None:
                _kill_group(proc)
            reader.join(timeout=5)
            proc.stdout.close()
            raise
        proc.stdout.close()
        elapsed_s = time.monotonic() - started
        tail = _read_tail(err)
    if proc.returncode != 0:
        log.warning("%s exited with %s after %.1f s\n%s", cmd[0], proc.returncode, elapsed_s, tail)
        raise CommandFailed(f"{cmd[0]} exited with status {proc.returncode}; stderr tail:\n{tail}",
                            returncode=proc.returncode)
    log.debug("%s finished in %.1f s\n%s", cmd[0], elapsed_s, tail)
    if on_progress is not None:
        on_progress(1.0)
    return CommandResult(returncode=0, stdout=reader.data(), stderr_tail=tail, elapsed_s=elapsed_s)


def _fraction(out_time_s: float, total_s: float | None) -> float:
    if not total_s or total_s <= 0:
        return 0.0
    return min(1.0, max(0.0, out_time_s / total_s))
