"""`weike reports`: the organisers' weekly reminder and a period's branch report from the command line.

`weike reports remind --township 东风镇` prints the same message as the 每周提醒 page, ready to paste into the
township's WeChat group (every township's, a blank line between them, without --township);
`weike reports export --period 2026Q3 --output 支部报表.xlsx` writes the report the page downloads.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.report_files import reminder_text, report_csv, report_filename, report_xlsx
from catalog.db import unit_of_work
from catalog.errors import CatalogError, TownshipNotFound
from catalog.migrate import upgrade
from catalog.periods import current_quarter, parse_period
from catalog.reports import branch_report, find_township, upload_reminder
from workers.settings import get_settings

reports_cli = typer.Typer(help="Organisers' reports: the weekly reminder, a period's branch report.",
                          no_args_is_help=True)
console = Console(stderr=True)  # messages; the reminder itself goes to stdout, to pipe or paste


def _engine() -> Engine:
    from workers.wiring import context_for

    settings = get_settings()
    upgrade(settings.database_url)
    return context_for(settings).engine


def _township_id(session: Session, name: str | None) -> int | None:
    if name is None:
        return None
    org = find_township(session, name)
    if org is None or org.id is None:
        raise TownshipNotFound(f"township {name!r}")
    return org.id


@reports_cli.command("remind")
def remind(
    township: Annotated[str | None, typer.Option(help="the township's name (default: every township)")] = None,
    today: Annotated[str | None, typer.Option(help="the day to count to, YYYY-MM-DD (default: today, county time)")
                     ] = None,
) -> None:
    """Print the weekly reminder: per township, the branches with no lesson uploaded this month so far."""
    try:
        day = date.fromisoformat(today) if today else None
    except ValueError as exc:
        console.print("[red]日期的写法应为 2026-12-06[/red]")
        raise typer.Exit(code=2) from exc
    try:
        with unit_of_work(_engine()) as session:
            text = reminder_text(upload_reminder(session, township_id=_township_id(session, township), today=day))
    except CatalogError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(code=2) from exc
    if not text:
        console.print("[yellow]还没有支部：请先导入组织架构（weike orgs import）[/yellow]")
    typer.echo(text, nl=False)


@reports_cli.command("export")
def export(
    period: Annotated[str | None, typer.Option(help="2026Q3, 2026-07 or 2026 (default: this quarter)")] = None,
    township: Annotated[str | None, typer.Option(help="the township's name (default: the county)")] = None,
    output: Annotated[Path | None, typer.Option(help="a .xlsx or .csv file (default: 支部报表-….xlsx here)")] = None,
) -> None:
    """Write a period's branch report as a spreadsheet (XLSX) or CSV."""
    try:
        chosen = parse_period(period) if period else current_quarter()
        with unit_of_work(_engine()) as session:
            report = branch_report(session, period=chosen, township_id=_township_id(session, township))
    except CatalogError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(code=2) from exc
    target = output or Path(report_filename(report, "xlsx"))
    target.write_bytes(report_csv(report) if target.suffix.lower() == ".csv" else report_xlsx(report))
    console.print(f"已写入 {target}（{len(report.branches)} 个支部）")
