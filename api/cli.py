"""The `weike` command line: serve, worker, migrate, import."""

from __future__ import annotations

import csv
import errno
import hashlib
import logging
import os
import secrets
import signal
import socket
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
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


@cli.callback()
def _configure() -> None:
    """微课 Weike: county micro-lesson library and transcoding pipeline."""
    from catalog.accounts import use_password_hashing

    use_password_hashing(get_settings().password_hashing)

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
    _index_lessons(settings, only_missing=True)
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
    _index_lessons(settings, only_missing=True)  # lessons from before the search index (migration 0006)
    if not _first_administrator(settings):
        raise typer.Exit(2)
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
    console.print(f"  登录页面  http://{host}:{port}/login   上传页面 http://{host}:{port}/upload   "
                  "可续传上传接口 /api/v1/uploads/ (tus 1.0.0)")
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


def _first_administrator(settings: Settings) -> bool:
    """Embedded defaults: with no administrator yet, make `admin` with a random password and say it once.
    Production: refuse to start without one (`weike users create NAME --role admin`)."""
    from catalog.accounts import create_account, has_admin
    from catalog.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            if has_admin(session):
                return True
            if settings.environment == "production":
                console.print("[bold red]无法启动：还没有管理员账号。请先运行 weike users create 用户名 --role admin[/]\n"
                              "Refusing to start: no administrator (weike users create NAME --role admin).")
                return False
            password = secrets.token_urlsafe(12)
            create_account(session, username="admin", role="admin", password=password, display_name="管理员",
                           actor="weike serve")
    finally:
        engine.dispose()
    console.print(Panel(f"已创建管理员账号（只显示这一次，请记下）/ Administrator created (shown once):\n"
                        f"  用户名 username: [bold]admin[/]\n  密码 password: [bold]{password}[/]\n"
                        "用 weike users set-password admin 可以改密码 / change it with weike users set-password admin",
                        title="管理员 Administrator", border_style="yellow"))
    return True


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
# Excel on Chinese Windows saves "CSV" in GBK: refuse it plainly rather than guess (a wrong guess garbles names).
NOT_UTF8 = "表格不是 UTF-8 编码。请在 Excel 中“另存为”，文件类型选“CSV UTF-8（逗号分隔）”，再导入"


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
    try:
        meta = _read_csv(csv_file) if csv_file else {}
    except UnicodeDecodeError as exc:
        console.print(f"[red]{csv_file}：{NOT_UTF8}[/]")
        raise typer.Exit(code=1) from exc
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


users_cli = typer.Typer(help="Accounts: uploaders, organisers, reviewers, administrators.", no_args_is_help=True)
cli.add_typer(users_cli, name="users")
orgs_cli = typer.Typer(help="The county's townships and branches.", no_args_is_help=True)
cli.add_typer(orgs_cli, name="orgs")

ROLE_NAMES = {"uploader": "支部上传员", "organiser": "乡镇组织员", "reviewer": "县审核员", "admin": "管理员"}


def _read_password(confirm: bool = True) -> str:
    """One line from standard input when it is not a terminal; otherwise asked (twice) without echo."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    password: str = typer.prompt("密码 Password", hide_input=True, confirmation_prompt=confirm)
    return password


def _account_change(action: object) -> None:
    """Run a catalog change in one transaction; its error in Chinese, exit 1."""
    from catalog.errors import CatalogError

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    from catalog.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            action(session)  # type: ignore[operator]
    except CatalogError as exc:
        console.print(f"[red]{exc.message}[/]（{exc.code}）")
        raise typer.Exit(code=1) from exc
    finally:
        engine.dispose()


@users_cli.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="uploader | organiser | reviewer | admin")],
    org: Annotated[str | None, typer.Option(help="an uploader's branch, an organiser's township (乡镇/支部 when "
                                                 "a branch name repeats)")] = None,
    display_name: Annotated[str | None, typer.Option(help="the name pages show")] = None,
) -> None:
    """Create an account; the password comes from standard input (one line) or is asked twice."""
    from catalog.accounts import create_account

    password = _read_password()
    _account_change(lambda s: create_account(s, username=username, role=role, password=password, org=org,
                                             display_name=display_name, actor="cli"))
    console.print(f"[green]已创建账号[/] {username}（{ROLE_NAMES.get(role, role)}{'，' + org if org else ''}）")


@users_cli.command("list")
def users_list() -> None:
    """Every account with its role, organisation and state."""
    from catalog.accounts import list_accounts
    from catalog.models import Organisation

    table = Table(title="账号", show_header=True)
    for column in ("用户名", "姓名", "角色", "所属", "状态"):
        table.add_column(column)

    def fill(session: object) -> None:
        for a in list_accounts(session):  # type: ignore[arg-type]
            org = session.get(Organisation, a.org_id) if a.org_id else None  # type: ignore[attr-defined]
            table.add_row(a.username, a.display_name or "", ROLE_NAMES.get(a.role, a.role), org.name if org else "",
                          "已停用" if a.disabled else "正常")

    _account_change(fill)
    console.print(table)


@users_cli.command("set-password")
def users_set_password(username: Annotated[str, typer.Argument(help="login name")]) -> None:
    """A new password (standard input, or asked twice); the old one's tokens and logins stop working."""
    from catalog.accounts import set_password

    password = _read_password()
    _account_change(lambda s: set_password(s, username, password, actor="cli"))
    console.print(f"[green]已修改密码[/] {username}")


@users_cli.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="login name")]) -> None:
    """The account can no longer log in; its tokens and logins stop working at once."""
    from catalog.accounts import disable_account

    _account_change(lambda s: disable_account(s, username, actor="cli"))
    console.print(f"[green]已停用账号[/] {username}")


ORG_COLUMNS = {"township": ("township", "乡镇", "乡镇（街道）"), "branch": ("branch", "支部", "党支部"),
               "type": ("type", "类型", "支部类型")}


@orgs_cli.command("import")
def orgs_import(csv_file: Annotated[Path, typer.Argument(help="CSV: township,branch,type (or 乡镇,支部,类型)")]) -> None:
    """Create or update the county's townships and branches; importing the same file again changes nothing."""
    from catalog.errors import OrgImportInvalid
    from catalog.organisations import OrgRow, import_organisations, parse_branch_type

    rows: list[OrgRow] = []
    try:
        with csv_file.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = {name.strip() for name in reader.fieldnames or []}
            columns = {field: next((n for n in names if n in header), None) for field, names in ORG_COLUMNS.items()}
            if columns["township"] is None or columns["branch"] is None:
                raise OrgImportInvalid(f"header {sorted(header)}", message="表头应为 township,branch,type 或 乡镇,支部,类型")
            for number, raw in enumerate(reader, start=2):
                raw = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
                township, branch = raw.get(columns["township"] or "", ""), raw.get(columns["branch"] or "", "")
                if not township:
                    raise OrgImportInvalid(f"line {number}", message=f"第 {number} 行没有填写乡镇")
                try:
                    kind = parse_branch_type(raw.get(columns["type"] or "", "") if columns["type"] else None)
                except ValueError as exc:
                    raise OrgImportInvalid(f"line {number}: type {exc}", message=(
                        f"第 {number} 行的支部类型“{exc}”无法识别（可填：村、社区、海上、企业、离退休）")) from exc
                rows.append(OrgRow(township=township, branch=branch, branch_type=kind))
    except OSError as exc:
        console.print(f"[red]无法读取 {csv_file}：{exc.strerror}[/]")
        raise typer.Exit(code=1) from exc
    except UnicodeDecodeError as exc:
        console.print(f"[red]{csv_file}：{NOT_UTF8}[/]")
        raise typer.Exit(code=1) from exc
    except OrgImportInvalid as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(code=1) from exc
    report = []
    _account_change(lambda s: report.append(import_organisations(s, rows)))
    r = report[0]
    console.print(f"完成：新建乡镇 {r.townships_created} 个，新建支部 {r.branches_created} 个，"
                  f"移入乡镇 {r.branches_moved} 个，更新类型 {r.branches_updated} 个"
                  + ("" if r.changed else "（没有变化）"))


search_cli = typer.Typer(help="The search index (titles, speakers, categories, published transcripts).",
                         no_args_is_help=True)
cli.add_typer(search_cli, name="search")
REINDEX_BATCH = 50


@search_cli.command("reindex")
def search_reindex() -> None:
    """Rebuild the search index of every lesson (after adding branches and speakers, or a change of tokenizer)."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    count = _index_lessons(settings, only_missing=False)
    console.print(f"完成：已为 {count} 节课重建搜索索引")


def _index_lessons(settings: Settings, *, only_missing: bool) -> int:
    """Index lessons in batches of one transaction each, with a progress bar: all of them, or (`only_missing`,
    as `weike migrate` and `weike serve` do after an upgrade) those without a search document."""
    from catalog import search
    from catalog.db import make_engine
    from catalog.models import Lesson

    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            ids = search.unindexed_lesson_ids(session) if only_missing else search.lesson_ids(session)
        if not ids:
            return 0
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("建立搜索索引", total=len(ids))
            for start in range(0, len(ids), REINDEX_BATCH):
                with unit_of_work(engine) as session:  # one transaction per batch
                    for lesson_id in ids[start:start + REINDEX_BATCH]:
                        lesson = session.get(Lesson, lesson_id)
                        if lesson is not None:
                            search.reindex_lesson(session, lesson)
                        progress.advance(task)
    finally:
        engine.dispose()
    return len(ids)


@dataclass(frozen=True)
class BackfillWords:
    """What a backfill says: when no lesson lacks the step, its two progress bars, the verb for the step's work."""
    none_lacking: str
    submitting: str
    working: str
    verb: str


WaitOption = Annotated[bool, typer.Option(help="wait until the workers have run the step for every lesson")]
TimeoutOption = Annotated[float, typer.Option(help="how long --wait waits, in seconds")]


def _backfill(step: str, words: BackfillWords, *, wait: bool, timeout_s: float) -> None:
    """Ask for `step` for the ready lessons processed before it existed (workers/backfill.py); with `wait`, follow
    the workers until every one has the step's output, and exit with 1 if the time runs out first."""
    import time

    from workers.backfill import lessons_done, lessons_lacking, request_step
    from workers.wiring import context_for

    settings = get_settings()
    upgrade(settings.database_url)
    ctx = context_for(settings)
    ids = lessons_lacking(ctx, step)
    if not ids:
        console.print(words.none_lacking)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeRemainingColumn())
    done: set[str] = set()
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(words.submitting, total=len(ids))
        for lesson_id in ids:
            request_step(ctx, step, lesson_id)
            progress.advance(task)
        if wait:
            working = progress.add_task(words.working, total=len(ids))
            deadline = time.monotonic() + timeout_s
            while len(done) < len(ids) and time.monotonic() < deadline:
                done = lessons_done(ctx, step, ids)
                progress.update(working, completed=len(done))
                if len(done) < len(ids):
                    time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    console.print(f"已提交 {len(ids)} 节课" + (f"，已{words.verb} {len(done)} 节" if wait else
                                             f"，由后台处理进程{words.verb}"))
    if wait and len(done) < len(ids):
        raise typer.Exit(code=1)


hls_cli = typer.Typer(help="Adaptive playback (HLS) of the lessons.", no_args_is_help=True)
cli.add_typer(hls_cli, name="hls")


@hls_cli.command("backfill")
def hls_backfill(wait: WaitOption = False, timeout_s: TimeoutOption = 3600.0) -> None:
    """Give processed lessons from before the HLS step their HLS presentation (the workers make them)."""
    _backfill("hls", BackfillWords("所有课程都已有自适应播放（HLS）版本", "提交 HLS 任务", "生成 HLS", "生成"),
              wait=wait, timeout_s=timeout_s)


similar_cli = typer.Typer(help="Copy detection: similar lessons and possible copies.", no_args_is_help=True)
cli.add_typer(similar_cli, name="similar")


@similar_cli.command("backfill")
def similar_backfill(wait: WaitOption = False, timeout_s: TimeoutOption = 3600.0) -> None:
    """Compare processed lessons from before copy detection with every other lesson (the workers fingerprint them
    and record their matches both ways)."""
    _backfill("similarity", BackfillWords("所有课程都已做过相似比对", "提交相似比对任务", "相似比对", "比对"),
              wait=wait, timeout_s=timeout_s)


from api.cli_packs import packs_cli  # noqa: E402  (its own module: this one is long enough)

cli.add_typer(packs_cli, name="packs")

from api.cli_reports import reports_cli  # noqa: E402  (its own module, as packs)

cli.add_typer(reports_cli, name="reports")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    cli()


if __name__ == "__main__":
    main()
