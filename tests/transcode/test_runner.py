"""The runner: argument lists only, time limits that kill the whole process group, progress, stderr tails."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from tests.support.services import require_tool
from transcode import runner
from transcode.errors import CommandFailed, CommandTimedOut


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_stdout_is_captured_and_returned() -> None:
    result = runner.run([sys.executable, "-c", "print('你好')"], timeout_s=30)
    assert result.returncode == 0
    assert result.stdout.decode().strip() == "你好"
    assert result.elapsed_s > 0


def test_non_zero_exit_raises_command_failed_with_stderr_tail() -> None:
    script = "import sys; sys.stderr.write('x' * 10000 + 'the real reason'); sys.exit(3)"
    with pytest.raises(CommandFailed) as caught:
        runner.run([sys.executable, "-c", script], timeout_s=30)
    assert caught.value.code == "command_failed"
    assert "status 3" in caught.value.detail
    assert caught.value.detail.endswith("the real reason")
    assert len(caught.value.detail) < 5000


def test_large_stderr_does_not_deadlock() -> None:
    script = "import sys; sys.stderr.write('e' * 5_000_000); print('done')"
    result = runner.run([sys.executable, "-c", script], timeout_s=30)
    assert result.stdout.strip() == b"done"
    assert len(result.stderr_tail) <= runner.STDERR_TAIL_BYTES


def test_time_out_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > '{pid_file}'; wait"
    started = time.monotonic()
    with pytest.raises(CommandTimedOut) as caught:
        runner.run(["sh", "-c", script], timeout_s=1.0)
    assert time.monotonic() - started < 10
    assert caught.value.code == "transcode_timeout"
    assert caught.value.message == "处理超时"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_nostdin_is_added_right_after_ffmpeg() -> None:
    assert runner._with_nostdin(["/usr/bin/ffmpeg", "-i", "x"]) == ["/usr/bin/ffmpeg", "-nostdin", "-i", "x"]
    assert runner._with_nostdin(["ffprobe", "x"]) == ["ffprobe", "x"]


def test_progress_is_reported_and_ends_at_one() -> None:
    ffmpeg = require_tool("ffmpeg")
    seen: list[float] = []
    args = [ffmpeg, "-progress", "pipe:1", "-nostats", "-v", "error", "-re", "-f", "lavfi",
            "-i", "anullsrc=r=8000:cl=mono", "-t", "2.5", "-f", "null", "-"]  # fmt: skip
    runner.run(args, timeout_s=30, on_progress=seen.append, progress_total_s=2.5)
    assert seen[-1] == 1.0
    assert len(seen) >= 2
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert seen == sorted(seen)


def test_a_raising_progress_callback_kills_ffmpeg_and_propagates() -> None:
    ffmpeg = require_tool("ffmpeg")

    class Cancelled(Exception):
        pass

    def cancel(fraction: float) -> None:
        raise Cancelled

    args = [ffmpeg, "-progress", "pipe:1", "-nostats", "-v", "error", "-re", "-f", "lavfi",
            "-i", "anullsrc=r=8000:cl=mono", "-t", "60", "-f", "null", "-"]  # fmt: skip
    started = time.monotonic()
    with pytest.raises(Cancelled):
        runner.run(args, timeout_s=120, on_progress=cancel, progress_total_s=60)
    assert time.monotonic() - started < 10


def test_commands_run_in_their_own_session() -> None:
    result = runner.run([sys.executable, "-c", "import os; print(os.getsid(0))"], timeout_s=30)
    assert int(result.stdout) != os.getsid(0)
