"""The `weike` command line: serve, worker, migrate, import."""

from __future__ import annotations

import csv
import errno
import hashlib
import logging
import os
import signal
import socket
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from catalog.db import unit_of_work
from catalog.lessons import LessonFields, find_by_sha256
from catalog.migrate import upgrade
from workers.settings import Settings, get_settings

cli = typer.Typer(help="微课 Weike: county micro-lesson library and transcoding pipeline.", no_args_is_help=True,
                  add_completion=False)
console = Console()

MEDIA_SUFFIXES = {".mp4", ".mov", ".m4v", ".3gp", ".mkv", ".webm", ".avi", ".flv", ".ts", ".mpg", ".mpeg", ".wmv",
                  ".asf", ".mp3", ".m4a", ".aac", ".amr", ".wav", ".flac", ".ogg", ".opus", ".wma", ".aiff", ".caf",
                  ".rm", ".rmvb", ".dv", ".mxf", ".mts", ".m2ts", ".vob", ".ac3", ".dts", ".wv", ".ape", ".au",
                  ".slk", ".silk"}


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    console.print(f"数据库已就绪: {settings.public_summary()['database']}")


@cli.command()
def worker(
    queues: Annotated[str | None, typer.Option(help="comma-separated queues (default: all)")] = None,
    concurrency: Annotated[int | None, typer.Option(help="parallel jobs")] = None,
    beat: Annotated[bool, typer.Option(help="also run the periodic sweep (one per deployment)")] = True,
) -> None:
    """Run a Celery worker in the foreground."""
    from workers.app import app
    from workers.embedded import worker_argv

    settings = get_settings()
    upgrade(settings.database_url)
    app.worker_main(worker_argv(queues=queues or settings.worker_queues,
                                concurrency=concurrency or settings.worker_concurrency, beat=beat,
                                loglevel=settings.log_level)[2:])


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="do not start a worker beside the API")] = False,
) -> None:
    """Run the API (and, by default, a media worker with the sweep) on this machine."""
    import uvicorn

    from api.app import create_app
    from workers.embedded import embedded_worker_groups, start_worker, stop_worker

    settings = get_settings()
    _setup_logging(settings)
    problem = _address_problem(host, port)
    if problem is not None:
        # Before any worker starts: a second `make run` beside a running one must not leave workers behind.
        console.print(f"[bold red]无法启动：{problem}[/]")
        raise typer.Exit(2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    procs = []
    if not no_worker:
        logs = settings.data_dir / "logs"
        for index, (name, queues) in enumerate(embedded_worker_groups(settings.queue_list())):
            # Beat (the sweep) runs once, in the first worker.
            concurrency = 1 if queues == ["asr"] else settings.worker_concurrency  # one Whisper model in memory
            procs.append((name, start_worker(queues=",".join(queues), concurrency=concurrency,
                                             beat=index == 0, loglevel=settings.log_level, name=name,
                                             log_path=logs / f"{name}.log"), logs / f"{name}.log"))
    for key, value in settings.public_summary().items():
        console.print(f"  {key:9} {value}")
    for name, proc, log_path in procs:
        console.print(f"  {name:9} pid {proc.pid}, log {log_path}")
    console.print(f"\n[bold green]微课 Weike 已启动:[/] http://{host}:{port}/  (API 文档: http://{host}:{port}/docs)")
    if settings.upload_token:
        console.print("上传需要令牌（WEIKE_UPLOAD_TOKEN）：请求头 Authorization: Bearer <令牌>")
    else:
        console.print("[yellow]上传未设令牌：上传是开放的，任何能访问此地址的人都可以上传"
                      "（设置 WEIKE_UPLOAD_TOKEN 可加口令）。[/]")
    console.print(f"  上传页面  http://{host}:{port}/upload   可续传上传接口 /api/v1/uploads/ (tus 1.0.0)")
    # uvicorn re-raises the SIGTERM/SIGINT it caught once it has shut down; with the default handler that kills
    # this process before the `finally` below could stop the workers. Turn it into an exception instead.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    failed = 0
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:  # a signal (stopped on purpose) or uvicorn giving up (the port was taken meanwhile)
        code = exc.code if isinstance(exc.code, int) else 1
        failed = 0 if code in (0, 128 + signal.SIGTERM, 128 + signal.SIGINT) else code
    finally:
        for _, proc, _ in procs:
            stop_worker(proc)
    if failed:
        raise typer.Exit(failed)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _address_problem(host: str, port: int) -> str | None:
    """Why the API could not listen on host:port (in Chinese, for the console), or None when it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return f"无法解析地址 {host}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"端口 {port} 已被占用。微课可能已在运行（打开 http://{host}:{port}/healthz 查看），"
                        f"或换一个端口（make run PORT=8001，或 weike serve --port 8001）。")
            return f"无法在 {host}:{port} 上监听（{exc.strerror}）"
    return None


@dataclass(frozen=True)
class ImportRow:
    path: Path
    fields: LessonFields


# CSV headers, English or Chinese.
CSV_COLUMNS = {
    "file": ("file", "path", "filename", "文件", "文件名"),
    "title": ("title", "标题", "课程名称"),
    "branch": ("branch", "支部", "党支部"),
    "category": ("category", "分类", "类别"),
    "speaker": ("speaker", "主讲人", "讲师"),
    "recorded_on": ("recorded_on", "date", "日期", "录制日期"),
    "language": ("language", "语言"),
}
LANGUAGE_NAMES = {"普通话": "zh", "粤语": "yue", "其他方言": "other", "方言": "other"}


def _read_csv(csv_path: Path) -> dict[str, dict[str, str]]:
    """Metadata rows keyed by file name (and by relative path as written)."""
    rows: dict[str, dict[str, str]] = {}
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        for raw in csv.DictReader(fh):
            row = {}
            for field, names in CSV_COLUMNS.items():
                value = next((raw[n] for n in names if raw.get(n)), "")
                row[field] = value.strip()
            if row["file"]:
                rows[row["file"]] = row
                rows.setdefault(Path(row["file"]).name, row)
    return rows


def _fields_for(path: Path, meta: dict[str, str] | None) -> LessonFields:
    meta = meta or {}
    recorded = None
    if meta.get("recorded_on"):
        try:
            recorded = date.fromisoformat(meta["recorded_on"].replace("/", "-"))
        except ValueError:
            console.print(f"[yellow]{path.name}: 日期无法识别（{meta['recorded_on']}），已忽略[/]")
    language = meta.get("language") or "zh"
    return LessonFields(title=meta.get("title") or path.stem, branch=meta.get("branch") or None,
                        category=meta.get("category") or None, speaker=meta.get("speaker") or None,
                        recorded_on=recorded, language=LANGUAGE_NAMES.get(language, language))


def _collect(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES)
        elif p.is_file():
            found.append(p)
        else:
            console.print(f"[red]找不到: {p}[/]")
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@cli.command("import")
def import_files(
    paths: Annotated[list[Path], typer.Argument(help="files or folders of lesson recordings")],
    csv_file: Annotated[Path | None, typer.Option("--csv", help="metadata: file,title,branch,category,speaker,"
                                                                 "recorded_on,language (Chinese headers work too)")] = None,
) -> None:
    """Bulk-import existing lesson files, skipping those already imported."""
    from workers.intake import admit_stream
    from workers.wiring import context_for

    settings = get_settings()
    upgrade(settings.database_url)
    ctx = context_for(settings)
    meta = _read_csv(csv_file) if csv_file else {}
    files = _collect(paths)
    total = sum(f.stat().st_size for f in files)
    counts = {"new": 0, "skipped": 0, "failed": 0}
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("导入中", total=total)
        for path in files:
            progress.update(task, description=f"导入 {path.name[:30]}")
            row = meta.get(str(path)) or meta.get(path.name)
            try:
                with unit_of_work(ctx.engine) as session:
                    known = find_by_sha256(session, _sha256(path)) is not None
                if known:
                    counts["skipped"] += 1
                else:
                    with path.open("rb") as fh:
                        admitted = admit_stream(ctx, fh, filename=path.name, fields=_fields_for(path, row))
                    counts["new" if admitted.created else "skipped"] += 1
            except Exception as exc:  # report and go on with the next file
                counts["failed"] += 1
                message = getattr(exc, "message", str(exc))
                progress.console.print(f"[red]{path}: {message}[/]")
            progress.advance(task, path.stat().st_size)
    console.print(f"完成：新导入 {counts['new']} 个，已存在跳过 {counts['skipped']} 个，失败 {counts['failed']} 个")
    if counts["failed"]:
        raise typer.Exit(code=1)


models_cli = typer.Typer(help="Speech-recognition models (Whisper base, offline).", no_args_is_help=True)
cli.add_typer(models_cli, name="models")


@models_cli.command("install")
def models_install(
    openai: Annotated[bool | None, typer.Option(
        "--openai/--no-openai", help="also convert the openai-whisper checkpoint (default: only when "
                                     "WEIKE_ASR_ENGINE=openai-whisper)")] = None,
) -> None:
    """Prepare Whisper base in WEIKE_MODELS_DIR (workers also do it by themselves on first use)."""
    from transcode.errors import TranscodeError
    from workers.asr_models import install_default_models, models_dir

    settings = get_settings()
    _setup_logging(settings)
    folder = models_dir(settings)
    try:
        with console.status(f"正在准备语音识别模型（Whisper base）：{folder}"):
            paths = install_default_models(settings, openai_checkpoint=openai)
    except TranscodeError as exc:
        console.print(f"[red]{exc.message}[/]：{exc}")
        raise typer.Exit(code=1) from exc
    table = Table(title="语音识别模型", show_header=True)
    table.add_column("引擎")
    table.add_column("位置")
    table.add_column("大小", justify="right")
    for engine, path in (("faster-whisper", paths.ct2_dir), ("openai-whisper", paths.openai_checkpoint)):
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path] if path.exists() else []
        size = f"{sum(p.stat().st_size for p in files) / 1e6:.0f} MB" if files else "未安装"
        table.add_row(engine, str(path), size)
    console.print(table)
    console.print(f"[green]已就绪[/]：当前引擎 {settings.asr_engine}")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    cli()


if __name__ == "__main__":
    main()
