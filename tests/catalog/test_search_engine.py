"""The search engine finds what was said: words (not scattered characters), pinyin, published lessons only, and an
index that follows review decisions and caption changes, on SQLite (FTS5) and PostgreSQL (tsvector)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import select

from catalog import captions
from catalog.db import make_engine, unit_of_work
from catalog.lessons import LessonFields, create_lesson, get_lesson
from catalog.lifecycle import ReviewAction, Viewer
from catalog.migrate import downgrade, upgrade
from catalog.models import CaptionSource, LessonStatus, LessonTag, ReviewState, Role, Series, Tag
from catalog.organisations import branch_for_name
from catalog.review import feature_lesson, review_lesson
from catalog.search import SearchFilters, reindex_lesson, search_lessons, search_segments
from catalog.segmentation import index_tokens, marked_snippet, query_tokens

REVIEWER = Viewer(username="王审核", role=Role.REVIEWER, account_id=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 's.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue(
        "pg_database_url")
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _lesson(engine: Engine, title: str, said: list[str], *, speaker: str | None = None, branch: str | None = None,
            publish: bool = True) -> str:
    """A processed lesson whose published captions say `said` (one segment per 3 s), approved when `publish`."""
    with unit_of_work(engine) as s:
        branch_id = branch_for_name(s, branch).id if branch else None
        lesson = create_lesson(s, fields=LessonFields(title=title, speaker=speaker), original_key=f"originals/{title}",
                               original_sha256=hashlib.sha256(title.encode()).hexdigest(), size_bytes=1,
                               original_filename=None, branch_id=branch_id)
        captions.create_version(s, lesson.id, source=CaptionSource.AUTO, language="zh", segments=[
            captions.SegmentFacts(3.0 * i, 3.0 * i + 3.0, text) for i, text in enumerate(said)])
        lesson.caption_version, lesson.status, lesson.review_state = 1, LessonStatus.READY, ReviewState.AWAITING_REVIEW
        s.add(lesson)
        reindex_lesson(s, lesson)  # as the captions step does when they are done
        if publish:
            review_lesson(s, lesson, REVIEWER, action=ReviewAction.APPROVE)
        return lesson.id


def _found(engine: Engine, q: str, **filters: object) -> list[str]:
    with unit_of_work(engine) as s:
        result = search_lessons(s, q, filters=SearchFilters(**filters))  # type: ignore[arg-type]
        return [m.lesson.id for m in result.lessons]


def test_segmentation_keeps_words_whole_and_adds_pinyin() -> None:
    tokens = index_tokens("微党课：慈利县的党课")
    assert {"党课", "dangke", "dk", "慈利县", "cilixian", "clx"} <= set(tokens)
    assert "党课" not in index_tokens("党的建设和上课")  # 党 and 课 in one sentence are not the word 党课
    assert query_tokens("  DK  ") == ["dk"] and query_tokens("%") == []
    assert marked_snippet("<b>讲党课</b>&", ["党课"]) == "&lt;b&gt;讲<mark>党课</mark>&lt;/b&gt;&amp;"


def test_words_pinyin_and_latin_case_find_lessons(engine: Engine) -> None:
    party = _lesson(engine, "微党课：初心", ["今天我们讲一讲党课的由来。"])
    scattered = _lesson(engine, "乡村振兴", ["党的建设离不开上课学习。"])
    county = _lesson(engine, "慈利县红色故事", ["讲述革命历史。"])
    slides = _lesson(engine, "PPT制作入门", ["打开WPS演示。"])
    assert set(_found(engine, "党课")) == {party}  # 微党课 found, 党 … 课 scattered is not
    assert scattered not in _found(engine, "党课")
    assert _found(engine, "dk") == [party, slides]  # 党课 in a title, then 打开 (da kai) in a transcript
    assert _found(engine, "dangke") == [party]
    assert _found(engine, "clx") == [county] and _found(engine, "CiLiXian") == [county]
    assert _found(engine, "ppt") == [slides] and _found(engine, "wps") == [slides]
    assert _found(engine, "党课 革命") == []  # every word must match
    assert _found(engine, "没有的词") == [] and _found(engine, "%") == []


def test_pinyin_spans_words_jieba_cuts_apart(engine: Engine) -> None:
    """jieba cuts 秸秆还田 into 秸秆/还/田 and 共富工坊 into single characters; an old phone types the phrase's
    initials or its whole pinyin."""
    straw = _lesson(engine, "秋收以后", ["今年全村推广秸秆还田。"])
    workshop = _lesson(engine, "村里的新事", ["共富工坊带动妇女就业。"])
    assert _found(engine, "jght") == [straw]
    # pypinyin reads 还 in 秸秆还田 as hai; the farmer types huan: a common polyphone is indexed both ways.
    assert _found(engine, "jieganhuantian") == [straw] and _found(engine, "jieganhaitian") == [straw]
    assert _found(engine, "gfgf") == [workshop] and _found(engine, "gongfugongfang") == [workshop]


def test_title_ranks_above_transcript_and_whole_words_above_partial(engine: Engine) -> None:
    spoken = _lesson(engine, "学习心得", ["这次党课讲得很好。"])
    titled = _lesson(engine, "党课一百讲", ["大家好。"])
    partial = _lesson(engine, "党员活动", ["大家好。"])
    assert _found(engine, "党课") == [titled, spoken]
    ranked = _found(engine, "党")  # 党课 and 党员 start with 党: partial matches, titles first
    assert set(ranked[:2]) == {titled, partial} and ranked[2:] == [spoken]
    with unit_of_work(engine) as s:
        whole = search_lessons(s, "党课").lessons[0].score
        part = search_lessons(s, "党").lessons[0].score
        assert whole > part


def test_a_lone_character_beside_other_words_is_matched_whole(engine: Engine) -> None:
    assert query_tokens("主题党日") == ["主题", "党", "日"]  # jieba does not know the word
    said = _lesson(engine, "学习心得", ["这个月的主题党日在村部开。"])
    titled = _lesson(engine, "主题党日怎么开", ["大家好。"])
    scattered = _lesson(engine, "党员日常", ["这个主题很好。"])  # 主题, and 党员 and 日常 start with 党 and 日
    scattered_said = _lesson(engine, "学习心得二", ["主题是党员的日常。"])
    assert _found(engine, "主题党日") == [titled, said]
    assert scattered in _found(engine, "党") and scattered_said in _found(engine, "主题 党员")  # alone: prefixes
    with unit_of_work(engine) as s:
        result = search_lessons(s, "主题党日")
    assert [(h.lesson_id, h.start_s) for h in result.hits] == [(said, 0.0)]


def test_transcript_hits_carry_times_and_escaped_snippets(engine: Engine) -> None:
    lesson = _lesson(engine, "安全生产", ["开场白。", "<script>alert(1)</script>要上好党课&学习", "结束。"])
    with unit_of_work(engine) as s:
        result = search_lessons(s, "党课")
    (hit,) = result.hits
    assert (hit.lesson_id, hit.start_s, hit.end_s) == (lesson, 3.0, 6.0)
    assert hit.text == "<script>alert(1)</script>要上好党课&学习"
    assert hit.snippet == "&lt;script&gt;alert(1)&lt;/script&gt;要上好<mark>党课</mark>&amp;学习"


def test_filters_and_pages(engine: Engine) -> None:
    a = _lesson(engine, "党课一", ["大家好。"], branch="东风村党支部", speaker="林船长")
    b = _lesson(engine, "党课二", ["大家好。"], branch="渔港社区党支部")
    c = _lesson(engine, "党课三", ["大家好。"])
    with unit_of_work(engine) as s:
        branch_a = branch_for_name(s, "东风村党支部").id
        lesson_c = get_lesson(s, c)
        assert lesson_c is not None
        feature_lesson(s, lesson_c, REVIEWER, featured=True)  # what the desk's 精品 button does
    assert _found(engine, "党课", branch_id=branch_a) == [a]
    assert _found(engine, "党课", featured=True) == [c]
    assert _found(engine, "林船长") == [a]  # a speaker's name is one word of the county's dictionary
    with unit_of_work(engine) as s:
        first = search_lessons(s, "党课", limit=2)
        rest = search_lessons(s, "党课", offset=2, limit=2)
    assert first.total == rest.total == 3
    assert len(first.lessons) == 2 and len(rest.lessons) == 1
    assert {m.lesson.id for m in first.lessons + rest.lessons} == {a, b, c}


def test_pages_join_up_across_the_ranking_tiers(engine: Engine) -> None:
    """Titles saying the word, transcripts saying it whole, transcripts saying it as part of a word: every slice
    of the ranking, wherever it starts and ends among those tiers, is the same slice of the whole ranking."""
    made = {_lesson(engine, f"水稻课{i}", ["大家好。"]) for i in range(3)}
    made |= {_lesson(engine, f"农业课{i}", [f"今天讲水稻{i}。"]) for i in range(3)}
    made |= {_lesson(engine, f"种植课{i}", [f"水稻田{i}要灌溉。"]) for i in range(3)}
    with unit_of_work(engine) as s:
        whole = search_lessons(s, "水稻", limit=100)
        assert whole.total == 9 and {m.lesson.id for m in whole.lessons} == made
        order = [m.lesson.id for m in whole.lessons]
        assert [m.lesson.title[:2] for m in whole.lessons[:3]] == ["水稻"] * 3  # the titles first
        for limit in (1, 2, 4, 9):
            for offset in range(0, 11):
                page = search_lessons(s, "水稻", offset=offset, limit=limit)
                assert page.total == 9
                assert [m.lesson.id for m in page.lessons] == order[offset:offset + limit], (offset, limit)


def test_index_follows_publish_withdraw_republish_and_caption_changes(engine: Engine) -> None:
    lesson_id = _lesson(engine, "冬季防火", ["注意用电安全。"], publish=False)
    assert _found(engine, "用电") == []  # awaiting review: not public, not indexed
    with unit_of_work(engine) as s:
        lesson = get_lesson(s, lesson_id)
        assert lesson is not None
        review_lesson(s, lesson, REVIEWER, action=ReviewAction.APPROVE)
    assert _found(engine, "用电") == [lesson_id]
    with unit_of_work(engine) as s:
        lesson = get_lesson(s, lesson_id)
        assert lesson is not None
        review_lesson(s, lesson, REVIEWER, action=ReviewAction.WITHDRAW, reasons=["other"])
    assert _found(engine, "用电") == [] and _found(engine, "防火") == []
    with unit_of_work(engine) as s:
        lesson = get_lesson(s, lesson_id)
        assert lesson is not None
        review_lesson(s, lesson, REVIEWER, action=ReviewAction.REPUBLISH)
    assert _found(engine, "防火") == [lesson_id]
    # A corrected version, once published (what the captions step does), replaces what the lesson says.
    with unit_of_work(engine) as s:
        captions.create_version(s, lesson_id, source=CaptionSource.EDITED, language="zh", author="王审核",
                                segments=[captions.SegmentFacts(0.0, 3.0, "注意燃气安全。")])
        assert _found(engine, "燃气") == []  # not yet published
        lesson = get_lesson(s, lesson_id)
        assert lesson is not None
        lesson.caption_version = 2
        s.add(lesson)
        reindex_lesson(s, lesson)
    assert _found(engine, "燃气") == [lesson_id] and _found(engine, "用电") == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_search_migration_upgrades_and_downgrades(backend: str, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("pg_database_url")
    upgrade(url)
    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"searchentry", "searchdocument"} <= tables
    if backend == "sqlite":
        assert "searchdocument_fts" in tables and "searchentry_fts" not in tables
    else:
        assert "tokens_tsv" in {c["name"] for c in inspect(engine).get_columns("searchdocument")}
        assert "tokens_tsv" not in {c["name"] for c in inspect(engine).get_columns("searchentry")}
    engine.dispose()
    downgrade(url, "0005")  # back to one entry per part, with its own index
    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert "searchdocument" not in tables
    if backend == "sqlite":
        assert "searchentry_fts" in tables
    else:
        assert "tokens_tsv" in {c["name"] for c in inspect(engine).get_columns("searchentry")}
    engine.dispose()
    downgrade(url, "0004")
    engine = make_engine(url)
    assert not {"searchentry", "searchentry_fts"} & set(inspect(engine).get_table_names())
    engine.dispose()
    upgrade(url)


def test_reviewers_find_unpublished_lessons_and_the_public_does_not(engine: Engine) -> None:
    waiting = _lesson(engine, "冬季防火", ["注意用电安全。"], publish=False)
    with unit_of_work(engine) as s:
        assert search_lessons(s, "用电", viewer=REVIEWER).total == 1
        assert search_lessons(s, "用电").total == 0
        hits, total = search_segments(s, "用电", viewer=REVIEWER)
        assert total == 1 and (hits[0].lesson_id, hits[0].start_s) == (waiting, 0.0)
        assert search_segments(s, "用电") == ([], 0)


def test_series_tags_and_description_are_searched_and_ranked_by_part(engine: Engine) -> None:
    described = _lesson(engine, "第一讲", ["大家好。"])
    in_series = _lesson(engine, "第二讲", ["大家好。"])
    tagged = _lesson(engine, "第三讲", ["大家好。"])
    spoken = _lesson(engine, "第四讲", ["今天讲讲渔业安全。"])
    with unit_of_work(engine) as s:
        series = Series(title="渔业安全十五讲")
        tag = Tag(name="渔业安全")
        s.add_all([series, tag])
        s.flush()
        for lesson_id, change in ((described, {"description": "关于渔业安全的一课"}),
                                  (in_series, {"series_id": series.id, "episode": 2})):
            lesson = get_lesson(s, lesson_id)
            assert lesson is not None
            for name, value in change.items():
                setattr(lesson, name, value)
            s.add(lesson)
            reindex_lesson(s, lesson)
        s.add(LessonTag(lesson_id=tagged, tag_id=tag.id))
        lesson = get_lesson(s, tagged)
        assert lesson is not None
        reindex_lesson(s, lesson)
    ranked = _found(engine, "渔业")
    assert set(ranked[:2]) == {in_series, tagged} and ranked[2:] == [described, spoken]
    assert _found(engine, "渔业", series_id=series.id) == [in_series]
    assert _found(engine, "渔业", tag="渔业安全") == [tagged]


def test_migrate_indexes_lessons_without_a_document_and_reindex_rebuilds_all(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Lessons published before migration 0006 have no search document: `weike migrate` (and `weike serve`) index
    them; `weike search reindex` rebuilds every one."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from catalog.models import SearchDocument

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    lesson_id = _lesson(engine, "冬季防火", ["注意用电安全。"])
    with unit_of_work(engine) as s:
        for doc in s.exec(select(SearchDocument)).all():
            s.delete(doc)
    assert _found(engine, "用电") == []
    env = {**os.environ, "WEIKE_DATABASE_URL": url, "WEIKE_DATA_DIR": str(tmp_path / "var"), "COLUMNS": "120"}
    root = Path(__file__).resolve().parents[2]
    for args in (["migrate"], ["search", "reindex"]):
        run = subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=root, capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert _found(engine, "用电") == [lesson_id]
    assert "已为 1 节课重建搜索索引" in run.stdout
    engine.dispose()


def test_township_filter_follows_a_branch_moved_by_the_organisation_import(engine: Engine) -> None:
    """A branch first named by an upload waits under the county; importing the county's table moves it under its
    township, and its lessons are found with that township's filter from then on."""
    from catalog.models import Organisation, OrgKind
    from catalog.organisations import OrgRow, import_organisations

    lesson_id = _lesson(engine, "冬季防火", ["注意用电安全。"], branch="新塘村党支部")
    with unit_of_work(engine) as s:
        import_organisations(s, [OrgRow(township="石门镇", branch="新塘村党支部", branch_type=None)])
        township = s.exec(select(Organisation).where(Organisation.name == "石门镇",
                                                     Organisation.kind == OrgKind.TOWNSHIP)).one()
    assert _found(engine, "防火", township_id=township.id) == [lesson_id]


def test_a_word_taught_later_is_marked_in_sentences_marked_before() -> None:
    from catalog.segmentation import add_user_words

    text = "今天去鹿鸣坳看看"  # jieba does not know the place: 鹿鸣 / 坳, so the initials lma match no word
    assert marked_snippet(text, ["lma"]) == text
    add_user_words(["鹿鸣坳"])  # a new branch's place name, read by the next search
    assert marked_snippet(text, ["lma"]) == "今天去<mark>鹿鸣坳</mark>看看"  # not the sentence as cut before
