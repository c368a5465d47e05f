"""`weike packs`: list the audio packs and write one onto a player's card, in track order, with a progress bar.

How the county office fills thousands of 党课随身听: format the card, `weike packs write 7 /media/card`, next card.
A target that is a file is taken as a FAT image (written with mtools, no mount needed).
"""

from __future__ import annotations

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

from catalog import packs
from catalog.db import unit_of_work
from catalog.errors import CatalogError
from catalog.migrate import upgrade
from transcode.errors import TranscodeError
from transcode.pack_card import write_to_fat_image, write_to_folder
from workers.settings import get_settings

packs_cli = typer.Typer(help="Audio packs (党课随身听): list them, write one onto a card.", no_args_is_help=True)
console = Console()


@packs_cli.command("list")
def packs_list() -> None:
    """Every pack with its newest version, status and size."""
    from workers.wiring import context_for

    settings = get_settings()
    upgrade(settings.database_url)
    ctx = context_for(settings)
    table = Table("编号", "名称", "收听对象", "版本", "状态", "大小", "课数")
    with unit_of_work(ctx.engine) as session:
        items, _ = packs.list_packs(session, limit=100)
        newest = packs.newest_versions(session, items)
        for p in items:
            v = newest.get(p.id or 0)
            tracks = len(packs.version_tracks(session, v.id or 0)) if v else 0
            table.add_row(str(p.id), p.title, p.audience or "", str(p.version), v.status if v else "",
                          f"{v.size_bytes / 1e6:.0f} MB" if v and v.size_bytes else "", str(tracks))
    console.print(table)


@packs_cli.command("write")
def packs_write(
    pack_id: Annotated[int, typer.Argument(help="the pack's number (weike packs list)")],
    target: Annotated[Path, typer.Argument(help="the card's mount point (a folder), or a FAT image file")],
    version: Annotated[int | None, typer.Option(help="a version other than the newest ready one")] = None,
    allow_existing: Annotated[bool, typer.Option(help="write even though the card holds other files")] = False,
) -> None:
    """Copy a ready pack onto a card in track order (FAT directory order is play order), checking free space first
    and verifying every file after writing."""
    from workers.wiring import context_for

    settings = get_settings()
    upgrade(settings.database_url)
    ctx = context_for(settings)
    with unit_of_work(ctx.engine) as session:
        try:
            pack = packs.get_pack(session, pack_id)
        except CatalogError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(code=2) from exc
        chosen = next((v for v in packs.downloadable_versions(session, pack)
                       if version is None or v.version == version), None)
        title = pack.title
    if chosen is None or chosen.key is None:
        console.print(f"[red]音频包“{title}”{'第' + str(version) + '版' if version else ''}还没有生成好，不能写卡[/red]")
        raise typer.Exit(code=2)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    try:
        with ctx.storage.local_copy(chosen.key) as zip_path, Progress(*columns, console=console) as progress:
            task = progress.add_task(f"写入“{title}”第{chosen.version}版", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            if target.is_file():
                files = write_to_fat_image(zip_path, target, on_progress=report, allow_existing=allow_existing)
            else:
                files = write_to_folder(zip_path, target, on_progress=report, allow_existing=allow_existing)
    except TranscodeError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(code=1) from exc
    size = sum(f.size_bytes for f in files)
    console.print(f"已写入并核对 {len(files)} 个文件（{size / 1e6:.0f} MB），按播放顺序排列")
