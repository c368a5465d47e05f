"""Finding the real services and tools the tests need.

With WEIKE_REQUIRE_SERVICES=1 (CI) a missing service or tool fails the test instead of skipping it.
"""
from __future__ import annotations

import os
import shutil
import socket

import pytest


def services_required() -> bool:
    return os.environ.get("WEIKE_REQUIRE_SERVICES", "") not in ("", "0", "false")


def missing(what: str) -> None:
    """Skip, or fail when services are required."""
    if services_required():
        pytest.fail(f"required for this test but missing: {what}", pytrace=False)
    pytest.skip(f"missing: {what}")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"command {name}")
        raise AssertionError("unreachable")
    return path


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
