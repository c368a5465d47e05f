"""The organisers' reports as files and text: CSV (UTF-8 with a BOM, so that Excel on a county office PC reads the
Chinese), XLSX (openpyxl: a header row, column widths, a totals row; a second sheet per township, a third with the
branches that have nothing), and the weekly reminder as plain text for a WeChat group
(api/templates/_reminder_text.html).

The column headings and the file names are what organisers see, hence Chinese here and not only in templates
(the spreadsheet is the page they take away).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import date
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from catalog.periods import PeriodKind
from catalog.reports import BranchReport, GroupFigures, Reminder

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = "\ufeff"
NO_TOWNSHIP = "未划分乡镇"  # branches named by uploads before the organisation tree was imported
COUNTY = "全县"
YES, NO = "是", "否"
TOTAL = "合计"

_TEXTS = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"), autoescape=False,
                     undefined=StrictUndefined)


def requirement_heading(report: BranchReport) -> str:
    """The requirement column's heading: the quarter's (or, for a year, every quarter's so far)."""
    return "各季度均达标" if report.period.kind == PeriodKind.YEAR else "本季度达标"


def branch_headings(report: BranchReport) -> list[str]:
    return ["支部", "乡镇", "上传", "发布", "退回", "待审", "发布分钟数", "最近发布", requirement_heading(report)]


TOWNSHIP_HEADINGS = ["乡镇", "支部数", "达标支部", "达标率", "上传", "发布", "退回", "待审", "发布分钟数"]


def _day(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def _rows(report: BranchReport) -> list[list[object]]:
    return [[r.branch, r.township or NO_TOWNSHIP, r.uploaded, r.published, r.rejected, r.waiting,
             r.minutes_published, _day(r.last_published_on), YES if r.requirement_met else NO]
            for r in report.branches]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: object) -> object:
    """A name Excel would take for a formula (=, +, -, @ first) keeps a leading apostrophe in CSV: names come from
    an import or an upload's form, and a spreadsheet must not run them."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def report_csv(report: BranchReport) -> bytes:
    """One row per branch under a header row; no totals row (the file is also read by programs)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(branch_headings(report))
    writer.writerows([_inert(v) for v in row] for row in _rows(report))
    return (BOM + out.getvalue()).encode("utf-8")


def _display_width(value: object) -> int:
    """Columns as wide as their widest cell: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in str(value))


def _finish_sheet(sheet: Worksheet, *, total_row: bool) -> None:
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type == "f":  # openpyxl takes text starting with "=" for a formula: names are text
                cell.data_type = "s"
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
        cell.fill = PatternFill("solid", fgColor="F6E7E7")
        cell.alignment = Alignment(horizontal="center")
    if total_row and sheet.max_row > 1:
        for cell in sheet[sheet.max_row]:
            cell.font = bold
    sheet.freeze_panes = "A2"
    for n, column in enumerate(sheet.iter_cols(values_only=True), start=1):
        width = max((_display_width(v) for v in column if v is not None), default=4)
        sheet.column_dimensions[get_column_letter(n)].width = min(max(width + 2, 6), 40)


def _group_row(group: GroupFigures, name: str) -> list[object]:
    return [name, group.branches, group.met, group.share_met, group.uploaded, group.published, group.rejected,
            group.waiting, group.minutes_published]


def report_xlsx(report: BranchReport) -> bytes:
    """Sheet 支部: a row per branch and a totals row; sheet 乡镇: a row per township and a totals row; sheet
    本期无上传: the branches with no lesson uploaded in the period."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "支部"
    sheet.append(branch_headings(report))
    for row in _rows(report):
        sheet.append(row)
    totals = report.totals
    latest = max((r.last_published_on for r in report.branches if r.last_published_on), default=None)
    sheet.append([TOTAL, f"{totals.branches} 个支部", totals.uploaded, totals.published, totals.rejected,
                  totals.waiting, totals.minutes_published, _day(latest), f"{totals.met}/{totals.branches}"])
    _finish_sheet(sheet, total_row=True)

    townships = book.create_sheet("乡镇")
    townships.append(TOWNSHIP_HEADINGS)
    for group in report.townships:
        townships.append(_group_row(group, group.name or NO_TOWNSHIP))
    townships.append(_group_row(totals, TOTAL))
    for (cell,) in townships.iter_rows(min_row=2, min_col=4, max_col=4):
        cell.number_format = "0.0%"
    _finish_sheet(townships, total_row=True)

    idle = book.create_sheet("本期无上传")
    idle.append(["支部", "乡镇"])
    for r in report.idle_branches:
        idle.append([r.branch, r.township or NO_TOWNSHIP])
    _finish_sheet(idle, total_row=False)

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def report_filename(report: BranchReport, suffix: str) -> str:
    """支部报表-2026Q3.xlsx, or 支部报表-东风镇-2026Q3.xlsx for one township."""
    scope = f"-{report.scope.name}" if report.scope.name else ""
    return f"支部报表{scope}-{report.period.name}.{suffix}"


def attachment(filename: str) -> str:
    """Content-Disposition for a download with a Chinese name (RFC 6266 with RFC 5987's filename*), and a plain
    ASCII name for clients that know no better."""
    fallback = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "" for ch in filename)
    fallback = fallback.lstrip("-.") or "report"
    return f"attachment; filename=\"report-{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def reminder_texts(reminder: Reminder) -> list[str]:
    """One message per township, ready to paste into its WeChat group."""
    message = _TEXTS.get_template("_reminder_text.html").module.message  # type: ignore[attr-defined]
    return [str(message(t.name or NO_TOWNSHIP, t.idle, reminder.as_of)).strip() for t in reminder.townships]


def reminder_text(reminder: Reminder) -> str:
    """Every township's message, a blank line between them (nothing without branches)."""
    texts = reminder_texts(reminder)
    return "\n\n".join(texts) + "\n" if texts else ""
