"""Upload throughput on loopback: one multipart POST /api/v1/lessons versus tus in 5 MB PATCHes, and the API
process's peak RSS while it receives, on the folder store and on S3 (a loopback moto server).

    .venv/bin/python bench/upload.py                 # 1 GB (the issue's target: tus >= 80% of plain, RSS +<50 MB)
    .venv/bin/python bench/upload.py --size-mb 50    # a quick sanity run

Each measurement starts a fresh API process (uvicorn api.asgi:app, SQLite, no worker) and uploads fresh random
bytes (no dedup). Baseline RSS is measured after a warm-up request; peak RSS is sampled every 20 ms.
It also times SHA-256 over the file: hashlib, and the resumable libcrypto hasher the tus path uses, which is
what a re-hash on completion would cost instead.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

V = {"Tus-Resumable": "1.0.0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def make_file(path: Path, size_bytes: int) -> None:
    with path.open("wb") as out:
        left = size_bytes
        while left:
            block = os.urandom(min(left, 4 << 20))
            out.write(block)
            left -= len(block)


class PeakRss:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Result:
    backend: str
    method: str
    seconds: float
    size_bytes: int
    baseline_rss: int
    peak_rss: int

    @property
    def mb_s(self) -> float:
        return self.size_bytes / self.seconds / 1e6


BENCH_USER, BENCH_PASSWORD = "bench", "bench-password-2026"


def make_bench_account(env: dict[str, str]) -> None:
    """A reviewer account, made by `weike users create` as an administrator would (the password on stdin)."""
    subprocess.run([sys.executable, "-m", "api.cli", "users", "create", BENCH_USER, "--role", "reviewer"],
                   input=BENCH_PASSWORD + "\n", text=True, env=env, cwd=REPO, check=True, capture_output=True)


def login(base: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": BENCH_USER, "password": BENCH_PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def plain_upload(base: str, path: Path, auth: dict[str, str]) -> None:
    with path.open("rb") as fh, httpx.Client(timeout=None, headers=auth) as http:
        r = http.post(f"{base}/api/v1/lessons", files={"file": (path.name, fh, "video/mp4")},
                      data={"title": "bench plain"})
    if r.status_code not in (200, 201):
        raise SystemExit(f"plain upload failed: {r.status_code} {r.text[:300]}")


def tus_upload(base: str, path: Path, chunk_bytes: int, auth: dict[str, str]) -> None:
    size = path.stat().st_size
    with httpx.Client(timeout=None) as http, path.open("rb") as fh:
        r = http.post(f"{base}/api/v1/uploads/", headers={**V, **auth, "Upload-Length": str(size)})
        if r.status_code != 201:
            raise SystemExit(f"tus create failed: {r.status_code} {r.text[:300]}")
        location = r.headers["Location"]
        offset = 0
        while offset < size:
            chunk = fh.read(chunk_bytes)
            r = http.patch(location, content=chunk, headers={
                **V, "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)})
            if r.status_code != 204:
                raise SystemExit(f"tus PATCH failed at {offset}: {r.status_code} {r.text[:300]}")
            offset = int(r.headers["Upload-Offset"])
        if "Weike-Lesson-Id" not in r.headers:
            raise SystemExit("tus upload finished without a lesson")


def start_moto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = Path(sys.executable).parent / "moto_server"
    port = free_port()
    log = (workdir / "moto.log").open("wb")
    proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"})
    wait_port(port, proc)
    return proc, port


def start_api(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    api = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.asgi:app", "--host", "127.0.0.1", "--port",
                            str(port), "--log-level", "warning"], cwd=REPO, env=env, start_new_session=True)
    wait_port(port, api)
    return api, f"http://127.0.0.1:{port}"


def stop_api(api: subprocess.Popen[bytes]) -> None:
    api.send_signal(signal.SIGTERM)
    try:
        api.wait(timeout=20)
    except subprocess.TimeoutExpired:
        api.kill()


def run_backend(backend: str, workdir: Path, files: dict[str, Path], chunk_bytes: int) -> list[Result]:
    """One fresh API process per method, warmed up with a small upload of that kind before measuring."""
    from catalog.migrate import upgrade

    data_dir = workdir / f"var-{backend}"
    data_dir.mkdir()
    env = {**os.environ, "WEIKE_DATA_DIR": str(data_dir), "WEIKE_LOG_LEVEL": "WARNING",
           "WEIKE_MAX_UPLOAD_BYTES": str(8 << 30), "PYTHONUNBUFFERED": "1"}
    moto = None
    results = []
    try:
        if backend == "s3":
            from ingest.storage import storage_from_url

            moto, moto_port = start_moto(workdir)
            url = (f"s3://weike-bench?endpoint=http://127.0.0.1:{moto_port}&access_key=bench"
                   "&secret_key=bench-secret&region=us-east-1")
            storage_from_url(url).ensure_bucket()  # type: ignore[attr-defined]
            env["WEIKE_STORAGE_URL"] = url
        upgrade(f"sqlite:///{data_dir / 'weike.sqlite3'}")
        make_bench_account(env)
        for method in ("plain", "tus"):
            api, base = start_api(env)
            try:
                auth = login(base)
                warm = workdir / f"warm-{backend}-{method}"
                warm.write_bytes(os.urandom(200_000))
                plain_upload(base, warm, auth) if method == "plain" else tus_upload(base, warm, chunk_bytes, auth)
                baseline = psutil.Process(api.pid).memory_info().rss
                path = files[f"{backend}-{method}"]
                with PeakRss(api.pid) as rss:
                    started = time.perf_counter()
                    plain_upload(base, path, auth) if method == "plain" else tus_upload(base, path, chunk_bytes, auth)
                    seconds = time.perf_counter() - started
                results.append(Result(backend, method, seconds, path.stat().st_size, baseline, rss.peak))
            finally:
                stop_api(api)
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(timeout=20)
    return results


def hash_rates(path: Path) -> tuple[float, float | None]:
    from ingest.resumable_hash import new_sha256

    size = path.stat().st_size
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    plain = size / (time.perf_counter() - started) / 1e6
    resumable = new_sha256()
    if resumable is None:
        return plain, None
    started = time.perf_counter()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            resumable.update(block)
    assert resumable.hexdigest() == digest.hexdigest()
    return plain, size / (time.perf_counter() - started) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MB (default 1024)")
    parser.add_argument("--chunk-mb", type=int, default=5, help="tus PATCH size in MB (default 5)")
    parser.add_argument("--backends", default="folder,s3", help="folder,s3 (default both)")
    args = parser.parse_args()
    size = args.size_mb * 1_000_000
    workdir = Path(tempfile.mkdtemp(prefix="weike-bench-upload-"))
    results: list[Result] = []
    try:
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        files = {}
        for backend in backends:
            for method in ("plain", "tus"):
                files[f"{backend}-{method}"] = workdir / f"{backend}-{method}.mp4"
                make_file(files[f"{backend}-{method}"], size)
        print(f"file {args.size_mb} MB, tus chunks {args.chunk_mb} MB, loopback, {os.cpu_count()} CPUs")
        hashlib_rate, resumable_rate = hash_rates(files[f"{backends[0]}-plain"])
        for backend in backends:
            results += run_backend(backend, workdir, files, args.chunk_mb * 1_000_000)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{'backend':8} {'method':6} {'seconds':>8} {'MB/s':>8} {'RSS base':>9} {'RSS peak':>9} {'growth':>8}")
    for r in results:
        print(f"{r.backend:8} {r.method:6} {r.seconds:8.2f} {r.mb_s:8.1f} {r.baseline_rss / 2**20:8.1f}M "
              f"{r.peak_rss / 2**20:8.1f}M {(r.peak_rss - r.baseline_rss) / 2**20:7.1f}M")
    print()
    for backend in {r.backend for r in results}:
        plain = next(r for r in results if r.backend == backend and r.method == "plain")
        tus = next(r for r in results if r.backend == backend and r.method == "tus")
        growth = (tus.peak_rss - tus.baseline_rss) / 2**20
        print(f"{backend}: tus at {tus.mb_s / plain.mb_s:.0%} of plain (target >= 80%), "
              f"tus RSS growth {growth:.1f} MB (target < 50 MB)")
    print(f"SHA-256: hashlib {hashlib_rate:.0f} MB/s; resumable libcrypto hasher "
          f"{resumable_rate:.0f} MB/s" if resumable_rate else "resumable hasher unavailable")
    print(f"re-hashing on completion instead would read the file again: about {size / hashlib_rate / 1e6:.2f} s "
          "at hashlib speed from page cache, plus the read back from S3")


if __name__ == "__main__":
    main()
