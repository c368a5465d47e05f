"""`weike import`: the county's existing folder of lessons, with a CSV of metadata, imported once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

ROOT = Path(__file__).resolve().parents[2]


def _weike(settings: object, *args: str | Path) -> subprocess.CompletedProcess[str]:
    from tests.support.stacks import settings_env

    env = {**os.environ, **settings_env(settings), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "api.cli", *map(str, args)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def lesson_folder(tmp_path: Path, rotated_portrait_clip: Path, amr_voice_note: Path, mp3_with_cover: Path) -> Path:
    folder = tmp_path / "县里的老片子"
    (folder / "2023年").mkdir(parents=True)
    shutil.copy(rotated_portrait_clip, folder / "田间讲党课 (第一讲).MP4")
    shutil.copy(amr_voice_note, folder / "2023年" / "方言录音.amr")
    shutil.copy(mp3_with_cover, folder / "2023年" / "红色故事.mp3")
    (folder / "说明.txt").write_text("这不是课程文件", encoding="utf-8")
    return folder


def test_import_reads_the_csv_and_skips_what_it_already_has(tmp_path: Path, lesson_folder: Path) -> None:
    from catalog.db import unit_of_work
    from catalog.models import Category, Job, Lesson, Organisation
    from tests.support.stacks import build_embedded
    from workers.wiring import context_for

    settings = build_embedded(tmp_path / "var")
    csv_path = tmp_path / "目录.csv"
    csv_path.write_text(
        "文件名,标题,党支部,分类,主讲人,录制日期,语言\n"
        "田间讲党课 (第一讲).MP4,田间地头讲党课,东风村党支部,党性教育,李书记,2023/05/04,普通话\n"
        "2023年/方言录音.amr,,,,王大爷,,其他方言\n",
        encoding="utf-8-sig",  # as Excel saves it
    )

    first = _weike(settings, "import", lesson_folder, "--csv", csv_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "新导入 3 个" in first.stdout and "跳过 0 个" in first.stdout, first.stdout

    with unit_of_work(context_for(settings).engine) as session:
        lessons = {lesson.title: lesson for lesson in session.exec(select(Lesson)).all()}
        assert sorted(lessons) == ["方言录音", "田间地头讲党课", "红色故事"]
        field = lessons["田间地头讲党课"]
        assert field.speaker == "李书记" and str(field.recorded_on) == "2023-05-04" and field.language == "zh"
        assert field.original_filename == "田间讲党课 (第一讲).MP4"
        assert session.get(Organisation, field.branch_id).name == "东风村党支部"  # type: ignore[union-attr]
        assert session.get(Category, field.category_id).name == "党性教育"  # type: ignore[union-attr]
        dialect = lessons["方言录音"]
        assert dialect.speaker == "王大爷" and dialect.language == "other"
        # Every imported lesson is queued for processing, like an upload.
        queued = {job.lesson_id for job in session.exec(select(Job).where(Job.step == "probe")).all()}
        assert queued == {lesson.id for lesson in lessons.values()}

    again = _weike(settings, "import", lesson_folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "新导入 0 个" in again.stdout and "跳过 3 个" in again.stdout, again.stdout
    with unit_of_work(context_for(settings).engine) as session:
        assert len(session.exec(select(Lesson)).all()) == 3


def test_import_reports_a_missing_path_and_an_unknown_category(tmp_path: Path, lesson_folder: Path) -> None:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    csv_path = tmp_path / "meta.csv"
    csv_path.write_text("file,title,category\n红色故事.mp3,红色故事,不存在的分类\n", encoding="utf-8")
    result = _weike(settings, "import", lesson_folder / "2023年" / "红色故事.mp3", tmp_path / "nowhere",
                    "--csv", csv_path)
    assert result.returncode == 1, result.stdout
    assert "找不到" in result.stdout and "失败 1 个" in result.stdout, result.stdout
