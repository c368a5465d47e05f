"""The library's search at county scale: Weike's search engine against the LIKE scan it replaces, over HTTP, on
SQLite and PostgreSQL, with speed and quality figures in one run.

    .venv/bin/python bench/library.py                                   # 10,000 lessons (the issue's figures)
    .venv/bin/python bench/library.py --lessons 300 --seconds 3         # a quick sanity run

Seeds N published lessons (about 2,000 characters of transcript each, generated deterministically from sentence
templates over county-life, farming, fishing, e-commerce and party-education vocabularies, with place, branch and
speaker names) by bulk inserts, then builds the index with catalog.search.reindex_lesson in batches, and ANALYZEs.
Known phrases are planted into chosen lessons while seeding (and kept out of every other transcript), so each of
the 30 quality queries has an exact set of relevant lessons (3 to 10 of them).

Then, per backend, an API process (uvicorn api.asgi:app on loopback, WEIKE_DATABASE_URL for PostgreSQL) answers:
- load: a fixed list of queries for --seconds per phase at each --clients level (asyncio + httpx), against
  `GET /api/v1/search?q=` and, as the baseline, the LIKE scan the list route ran before the index (bench/like_search.py, its own process; both limit=10);
  latency p50/p95/p99 as the client sees it, and completed requests per second (requests still in flight at the
  end of a phase are waited for and counted);
- quality: recall@10 = relevant lessons in the first 10 / min(relevant, 10); precision@10 = relevant lessons in
  the first 10 / lessons returned (at most 10; an empty answer counts 0). For Weike, the LIKE scan, and on
  PostgreSQL the way MediaCMS searches: `to_tsvector('simple', title || transcript) @@ plainto_tsquery('simple',
  q)` over the raw text (kept in a table, as MediaCMS keeps its search vector), ranked by ts_rank;
- the public lesson page: bytes on the wire before the video (HTML + the CSS and JS it references, with
  Accept-Encoding: gzip) and time to the response headers (median of 10).
The client runs on the same machine as the server and takes CPU from it: on two cores the 50-client figures are
pessimistic. One file over 400 lines on purpose: a bench is read top to bottom (corpus, seeding, API, load,
quality, page, report), as the other scripts in bench/ are.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PG_ADMIN_URL = os.environ.get("WEIKE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SEED_BATCH = 500
INDEX_BATCH = 200


# ---------------------------------------------------------------------------------------------------- the corpus

TOWNSHIPS = {
    "石门镇": ["东风村", "红旗村", "新塘村", "竹园村"], "白沙镇": ["渔港社区", "沙头村", "望海社区", "金鸡村"],
    "南岭乡": ["上湾村", "桃源村", "茶山村", "青石村"], "龙潭乡": ["龙潭村", "下洋村", "松林村", "杨家村"],
    "海星镇": ["海星村", "北礁村", "盐田社区", "浪湾村"], "城关街道": ["城东社区", "城西社区", "工业园社区", "县电商产业园"],
}
SURNAMES = "王李张刘杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾"
GIVEN = ["海生", "建国", "秀英", "春花", "国强", "志明", "丽娟", "德华", "金水", "桂兰", "永福", "晓燕", "明辉", "玉梅",
         "大海", "红梅", "爱民", "卫东", "小军", "美玲"]
ROLES = ["书记", "主任", "船长", "老师", "技术员", "站长", "会计", "队长"]
TIMES = ["今年", "去年", "上个月", "这几天", "开春以后", "入冬以前", "每个星期", "农忙时节", "台风过后", "过年前后"]
VERDICTS = ["很好", "不错", "有了很大变化", "还要加把劲", "比去年强多了", "大家都很满意", "群众反映不错", "还有不少问题"]
TOPICS: dict[str, tuple[list[str], list[str], list[str]]] = {  # nouns, actions, titles
    "farming": (
        ["水稻", "早稻", "晚稻", "秧苗", "茶园", "柑橘", "油菜", "玉米", "红薯", "生姜", "蔬菜大棚", "果树", "稻田",
         "有机肥", "农药", "收割机", "插秧机", "植保无人机", "灌溉渠", "种子", "土壤", "晒谷场"],
        ["育秧", "施肥", "打药", "除草", "修剪果树", "灌溉", "晒谷", "收割", "翻耕", "移栽秧苗", "测土配方",
         "防治病虫害", "选好种子", "看好天气再打药"],
        ["水稻种植技术要点", "茶园管理一年通", "柑橘修剪与施肥", "农机安全使用", "病虫害绿色防控", "春耕备耕"]),
    "fishing": (
        ["渔船", "渔网", "救生衣", "海带", "紫菜", "大黄鱼", "梭子蟹", "对虾", "码头", "避风港", "网箱", "养殖塘",
         "冷库", "渔获", "发动机", "对讲机"],
        ["出海", "收网", "检修发动机", "加冰保鲜", "卸货", "补网", "清点渔具", "关注天气预报", "回港避风",
         "穿好救生衣", "登记船员"],
        ["渔船安全出海须知", "海水养殖入门", "台风季节怎么防", "渔获保鲜有讲究", "船员安全培训"]),
    "commerce": (
        ["网店", "快递", "包装盒", "订单", "好评", "客服", "短视频", "小程序", "物流", "仓库", "直播", "土特产",
         "农产品", "电商平台", "售后", "手机"],
        ["拍短视频", "上架新品", "回复买家", "打包发货", "核对订单", "算清成本", "做好售后", "开直播卖货",
         "设计包装", "联系快递公司"],
        ["农产品网店运营入门", "手机拍出好视频", "直播卖货怎么开口", "快递物流省钱办法", "土特产包装设计"]),
    "party": (
        ["党员", "支部", "主题党日", "组织生活会", "党费", "理论学习", "党史", "初心使命", "入党申请书", "民主评议",
         "先锋岗", "志愿服务队", "党员活动室", "学习强国"],
        ["学习讲话精神", "开展谈心谈话", "交纳党费", "重温入党誓词", "走访困难群众", "参加志愿服务",
         "讨论发展规划", "讲好身边故事", "带头遵守村规民约"],
        ["主题党日怎么开", "党员先锋岗风采", "党史故事会", "组织生活会实务", "新党员第一课", "红色家书诵读"]),
    "life": (
        ["医保", "养老金", "村道", "自来水", "文化礼堂", "老年食堂", "卫生院", "小学", "广场", "路灯", "公交车",
         "垃圾桶", "河道", "健身器材", "图书室"],
        ["缴纳医保", "领取养老金", "修好村道", "清理河道", "办好老年食堂", "排查安全隐患", "调解邻里纠纷",
         "照顾留守老人", "组织健康体检"],
        ["老年食堂办起来了", "医保政策问答", "美丽乡村建设", "邻里纠纷调解", "文化礼堂活动多"]),
}
TEMPLATES = [
    "{time}{village}的{noun}{verdict}。", "{speaker}跟大家讲，{action}一定要注意方法。",
    "我们{branch}组织党员{action}，一共来了{n}个人。", "{village}有{n}户人家靠{noun}增收，{verdict}。",
    "大家要记住，{action}之前先看看{noun}的情况。", "第一，{action}；第二，{action2}；第三，{action3}。",
    "{time}我们在{village}{action}，{noun}{verdict}。", "有的群众问，{noun}到底怎么管？我的办法是{action}。",
    "说到{noun}，{speaker}最有经验。", "{village}{time}{action}，花了{n}天时间。",
    "这件事关系到每一户，{action}不能马虎。", "请党员同志们带头{action}，做给群众看。",
    "{speaker}，你来说说{noun}的事。", "好，下面我们看看{township}的做法。", "{noun}和{noun2}，两样都不能少。",
    "我在{village}待了{n}年，{noun}的变化大家都看得到。", "{time}{township}开了个会，专门讲{noun}。",
    "不懂就问，{action}有困难找支部。",
]


@dataclass(frozen=True)
class Planted:
    """A phrase put into exactly `count` lessons: into a transcript sentence, the title or the speaker."""

    key: str
    count: int
    where: str
    texts: tuple[str, ...]


PLANTED = [
    Planted("稻飞虱", 8, "transcript", ("今年重点防治稻飞虱，打药要打在稻丛基部。", "稻飞虱来得快，大家要勤下田看看。")),
    Planted("秸秆还田", 6, "transcript", ("收割以后搞秸秆还田，不准烧秸秆。", "秸秆还田以后，土壤变松了。")),
    Planted("电信诈骗", 9, "transcript", ("最近电信诈骗又多了，陌生电话不要信。", "防范电信诈骗，记住不转账不汇款。")),
    Planted("共富工坊", 5, "transcript", ("村里办了共富工坊，妇女在家门口就能上班。", "共富工坊接了一批来料加工的活。")),
    Planted("休渔期", 7, "transcript", ("休渔期到了，渔船一律回港。", "趁着休渔期，把船好好修一修。")),
    Planted("防溺水", 6, "transcript", ("暑假快到了，防溺水要天天讲。", "学校和家长一起抓防溺水。")),
    Planted("高标准农田", 4, "transcript", ("高标准农田建好了，机器下得了田。", "去年新建了一片高标准农田。")),
    Planted("三会一课", 10, "transcript", ("三会一课要按时开，不能走过场。", "我们支部坚持三会一课，每月都有记录。")),
    Planted("冰糖橙直播", 5, "transcript", ("今晚八点冰糖橙直播，欢迎乡亲们来看。", "冰糖橙直播那天卖了两千单。")),
    Planted("村集体经济分红", 6, "transcript", ("村集体经济搞好了，年底每户都能分红。", "今年村集体经济第一次给村民分红。")),
    Planted("北斗终端", 5, "transcript", ("渔船都装了北斗终端，出海更放心。", "北斗终端要一直开着，不能关机。")),
    Planted("枫桥经验", 4, "title", ("海上枫桥经验",)),
    Planted("陈秀珠", 3, "speaker", ("陈秀珠",)),
]
# Never in a generated sentence, title or speaker, so the planted lessons are exactly the relevant ones.
KEPT_OUT = ["稻飞虱", "飞虱", "秸秆", "诈骗", "共富", "工坊", "休渔", "溺水", "高标准", "三会一课", "冰糖橙", "分红",
            "集体经济", "北斗", "枫桥", "陈秀珠", "秀珠"]


@dataclass(frozen=True)
class QualityQuery:
    text: str
    kind: str
    key: str  # the Planted whose lessons are the relevant ones


QUALITY_QUERIES = [QualityQuery(text, kind, key) for text, kind, key in [
    ("稻飞虱", "word", "稻飞虱"), ("daofeishi", "full pinyin", "稻飞虱"), ("dfs", "initials", "稻飞虱"),
    ("稻飛蝨", "Traditional", "稻飞虱"),
    ("秸秆还田", "word", "秸秆还田"), ("jieganhuantian", "full pinyin", "秸秆还田"), ("jght", "initials", "秸秆还田"),
    ("秸稈還田", "Traditional", "秸秆还田"),
    ("电信诈骗", "word", "电信诈骗"), ("dianxin zhapian", "full pinyin", "电信诈骗"), ("dxzp", "initials", "电信诈骗"),
    ("電信詐騙", "Traditional", "电信诈骗"),
    ("共富工坊", "word", "共富工坊"), ("gongfu gongfang", "full pinyin", "共富工坊"),
    ("休渔期", "word", "休渔期"), ("xiuyuqi", "full pinyin", "休渔期"), ("休漁期", "Traditional", "休渔期"),
    ("防溺水", "word", "防溺水"), ("fns", "initials", "防溺水"),
    ("高标准农田", "word", "高标准农田"), ("gbznt", "initials", "高标准农田"),
    ("三会一课", "word", "三会一课"), ("三會一課", "Traditional", "三会一课"),
    ("冰糖橙直播", "phrase", "冰糖橙直播"), ("冰糖橙 直播", "phrase", "冰糖橙直播"),
    ("村集体经济 分红", "phrase", "村集体经济分红"), ("北斗终端", "word", "北斗终端"),
    ("枫桥经验", "word (title)", "枫桥经验"), ("陈秀珠", "speaker", "陈秀珠"), ("chenxiuzhu", "full pinyin", "陈秀珠"),
]]
# The load: common words (many lessons), two words, pinyin, initials, rare words, Traditional input, names.
LOAD_QUERIES = ["水稻", "党员", "渔船", "直播", "养老金", "快递", "水稻 施肥", "党员 志愿服务", "shuidao", "yumin",
                "dy", "稻飞虱", "休渔期", "电信诈骗", "漁船", "林船长", "主题党日", "救生衣 台风", "老年食堂", "冷库"]


@dataclass(frozen=True)
class LessonSpec:
    id: str
    sha256: str
    title: str
    speaker: str
    township: str
    branch: str
    category: int
    created_at: datetime
    duration_s: float
    segments: list[str]
    planted: frozenset[str]


def _sentence(rng: random.Random, topic: str, place: tuple[str, str], speaker: str,
              places: Sequence[tuple[str, str]], speakers: Sequence[str]) -> str:
    """One sentence of a lesson on `topic` given in `place` by `speaker` (now and then, on another topic)."""
    nouns, actions, _ = TOPICS[topic] if rng.random() < 0.7 else TOPICS[rng.choice(list(TOPICS))]
    (township, village), (other_town, other_village) = place, rng.choice(places)
    return rng.choice(TEMPLATES).format(
        time=rng.choice(TIMES), village=rng.choice((village, other_village)), noun=rng.choice(nouns),
        noun2=rng.choice(nouns), verdict=rng.choice(VERDICTS), speaker=rng.choice((speaker, *speakers[:5])),
        action=rng.choice(actions), action2=rng.choice(actions), action3=rng.choice(actions),
        branch=f"{village}党支部", n=rng.randint(2, 300), township=rng.choice((township, other_town)))


def generate_corpus(count: int, *, seed: int) -> list[LessonSpec]:
    """`count` lessons of about 2,000 transcript characters each, the same for the same seed, with PLANTED put into
    chosen ones."""
    if count < 50:
        raise SystemExit("--lessons must be at least 50 (the quality queries need room)")
    rng = random.Random(seed)
    places = [(town, village) for town, villages in TOWNSHIPS.items() for village in villages]
    speakers = sorted({rng.choice(SURNAMES) + rng.choice(GIVEN) for _ in range(80)} |
                      {rng.choice(SURNAMES) + role for role in ROLES for _ in range(3)} | {"林船长"})
    topics = list(TOPICS)
    epoch = datetime(2023, 1, 1, tzinfo=UTC)
    lessons: list[dict[str, object]] = []
    for _ in range(count):
        topic = rng.choice(topics)
        township, village = rng.choice(places)
        speaker = rng.choice(speakers)
        titles = TOPICS[topic][2]

        target, said, segments = rng.randint(1800, 2200), 0, []
        while said < target:
            text = "".join(_sentence(rng, topic, (township, village), speaker, places, speakers)
                           for _ in range(rng.choice((1, 1, 2))))
            segments.append(text)
            said += len(text)
        lessons.append({"title": f"{rng.choice(titles)}：{village}", "speaker": speaker, "township": township,
                        "branch": f"{village}党支部", "segments": segments, "planted": set()})
    plant_rng = random.Random(seed + 1)
    for item in PLANTED:
        for index in plant_rng.sample(range(count), item.count):
            lesson = lessons[index]
            lesson["planted"].add(item.key)  # type: ignore[attr-defined]
            text = plant_rng.choice(item.texts)
            if item.where == "title":
                lesson["title"] = f"{text}：{str(lesson['title']).split('：')[-1]}的做法"
            elif item.where == "speaker":
                lesson["speaker"] = text
            else:
                segments = lesson["segments"]
                assert isinstance(segments, list)
                segments.insert(plant_rng.randrange(len(segments) + 1), text)
    out = []
    for i, lesson in enumerate(lessons):
        lesson_id = uuid.UUID(int=rng.getrandbits(128)).hex
        planted = frozenset(lesson["planted"])  # type: ignore[arg-type]
        if not planted:
            said = f"{lesson['title']}{lesson['speaker']}{''.join(lesson['segments'])}"  # type: ignore[arg-type]
            if leaked := [word for word in KEPT_OUT if word in said]:
                raise SystemExit(f"generated text holds a planted word: {leaked}")
        segments = lesson["segments"]
        assert isinstance(segments, list)
        out.append(LessonSpec(
            id=lesson_id, sha256=hashlib.sha256(lesson_id.encode()).hexdigest(), title=str(lesson["title"]),
            speaker=str(lesson["speaker"]), township=str(lesson["township"]), branch=str(lesson["branch"]),
            category=i % 6, created_at=epoch + timedelta(minutes=rng.randint(0, 3 * 365 * 24 * 60)),
            duration_s=3.5 * len(segments), segments=segments, planted=planted))
    return out

# ---------------------------------------------------------------------------------------------------- databases

@dataclass
class SeedTimes:
    seed_s: float = 0.0
    index_s: float = 0.0
    analyze_s: float = 0.0
    segments: int = 0
    entries: int = 0


def seed(url: str, corpus: Sequence[LessonSpec]) -> SeedTimes:
    """Migrate, bulk-insert the lessons with their published captions and assets, then index them."""
    from sqlalchemy import func, insert, text
    from sqlmodel import col, select

    from catalog.db import make_engine, unit_of_work
    from catalog.migrate import upgrade
    from catalog.models import (
        Asset,
        AssetKind,
        CaptionSource,
        CaptionVersion,
        Category,
        Lesson,
        LessonStatus,
        OrgKind,
        ReviewState,
        SearchEntry,
        TranscriptSegment,
    )
    from catalog.organisations import get_or_create_org
    from catalog.search import reindex_lesson

    upgrade(url)
    engine = make_engine(url)
    times = SeedTimes()
    started = time.perf_counter()
    with unit_of_work(engine) as s:
        categories = [c.id for c in s.exec(select(Category).order_by(col(Category.sort_order))).all()]
        county = get_or_create_org(s, "示范县", kind=OrgKind.COUNTY, parent_id=None)
        branch_ids: dict[str, int] = {}
        for spec in corpus:
            if spec.branch not in branch_ids:
                town = get_or_create_org(s, spec.township, kind=OrgKind.TOWNSHIP, parent_id=county.id)
                branch = get_or_create_org(s, spec.branch, kind=OrgKind.BRANCH, parent_id=town.id)
                assert branch.id is not None
                branch_ids[spec.branch] = branch.id
    for start in range(0, len(corpus), SEED_BATCH):
        batch = corpus[start:start + SEED_BATCH]
        with unit_of_work(engine) as s:
            s.execute(insert(Lesson), [{
                "id": x.id, "title": x.title, "speaker": x.speaker, "language": "zh", "branch_id": branch_ids[x.branch],
                "category_id": categories[x.category % len(categories)], "status": LessonStatus.READY,
                "progress": 100, "original_key": f"originals/{x.sha256}", "original_sha256": x.sha256,
                "size_bytes": 40_000_000, "media_kind": "video", "duration_s": x.duration_s, "caption_version": 1,
                "review_state": ReviewState.PUBLISHED, "featured": False, "revision": 1, "published_at": x.created_at,
                "created_at": x.created_at, "updated_at": x.created_at} for x in batch])
            s.execute(insert(CaptionVersion), [{
                "lesson_id": x.id, "version": 1, "revision": 1, "source": CaptionSource.AUTO, "language": "zh",
                "created_at": x.created_at} for x in batch])
            version_ids = dict(s.execute(select(CaptionVersion.lesson_id, CaptionVersion.id)
                                         .where(col(CaptionVersion.lesson_id).in_([x.id for x in batch]))).all())
            rows = [{"caption_version_id": version_ids[x.id], "position": i, "start_s": 3.5 * i,
                     "end_s": 3.5 * i + 3.5, "text": said, "low_confidence": False}
                    for x in batch for i, said in enumerate(x.segments)]
            s.execute(insert(TranscriptSegment), rows)
            times.segments += len(rows)
            s.execute(insert(Asset), [{
                "public_id": hashlib.md5(f"{x.id}{kind}{label}".encode()).hexdigest(), "lesson_id": x.id,
                "kind": kind, "label": label, "key": f"lessons/{x.id}/{label or kind}", "mime_type": mime,
                "size_bytes": size, "sha256": x.sha256, "height": height, "created_at": x.created_at}
                for x in batch for kind, label, mime, size, height in (
                    (AssetKind.RENDITION, "360p", "video/mp4", 9_000_000, 360),
                    (AssetKind.RENDITION, "720p", "video/mp4", 30_000_000, 720),
                    (AssetKind.POSTER, "", "image/jpeg", 40_000, None),
                    (AssetKind.SUBTITLES_VTT, "", "text/vtt", 12_000, None))])
    times.seed_s = time.perf_counter() - started

    started = time.perf_counter()
    ids = [x.id for x in corpus]
    for start in range(0, len(ids), INDEX_BATCH):
        with unit_of_work(engine) as s:
            for lesson in s.exec(select(Lesson).where(col(Lesson.id).in_(ids[start:start + INDEX_BATCH]))).all():
                times.entries += reindex_lesson(s, lesson)
    times.index_s = time.perf_counter() - started

    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    times.analyze_s = time.perf_counter() - started
    with unit_of_work(engine) as s:
        assert s.exec(select(func.count()).select_from(SearchEntry)).one() == times.entries
    engine.dispose()
    return times


# ------------------------------------------------------------------------------------------------------- the API

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_api(data_dir: Path, database_url: str | None, app: str = "api.asgi:app",
                ready_path: str = "/api/v1/categories") -> Iterator[str]:
    env = {**os.environ, "WEIKE_DATA_DIR": str(data_dir), "WEIKE_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    if database_url:
        env["WEIKE_DATABASE_URL"] = database_url
    port = free_port()
    api = subprocess.Popen([sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port",
                            str(port), "--log-level", "warning", "--no-access-log"], cwd=REPO, env=env,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if api.poll() is not None:
                raise SystemExit(f"the API exited with {api.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the API did not start")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        api.send_signal(signal.SIGTERM)
        try:
            api.wait(timeout=20)
        except subprocess.TimeoutExpired:
            api.kill()
            api.wait()


# Weike's search in the API; the LIKE scan it replaced, served by bench/like_search.py in a second process.
ENDPOINTS = {"weike": "/api/v1/search", "like": "/like"}


def found_ids(endpoint: str, body: dict[str, object]) -> list[str]:
    items = body["lessons"] if endpoint == "weike" else body["items"]
    assert isinstance(items, list)
    return [item["id"] for item in items]


@dataclass
class Phase:
    backend: str
    endpoint: str
    clients: int
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    def percentile_ms(self, p: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))] * 1000

    @property
    def rps(self) -> float:
        return len(self.latencies_s) / self.elapsed_s if self.elapsed_s else 0.0


async def load_phase(bases: dict[str, str], phase: Phase, queries: Sequence[str], seconds: float) -> None:
    base, path = bases[phase.endpoint], ENDPOINTS[phase.endpoint]
    limits = httpx.Limits(max_connections=phase.clients, max_keepalive_connections=phase.clients)
    async with httpx.AsyncClient(base_url=base, timeout=600, limits=limits) as http:
        started = time.perf_counter()
        deadline = started + seconds

        async def client(k: int) -> None:
            i = k * 7
            while time.perf_counter() < deadline:
                q = queries[i % len(queries)]
                i += 1
                t0 = time.perf_counter()
                r = await http.get(path, params={"q": q, "limit": 10})
                if r.status_code == 200:
                    phase.latencies_s.append(time.perf_counter() - t0)
                else:
                    phase.errors += 1

        await asyncio.gather(*(client(k) for k in range(phase.clients)))
        phase.elapsed_s = time.perf_counter() - started


def warm_up(bases: dict[str, str]) -> None:
    with httpx.Client(timeout=600) as http:
        for q in LOAD_QUERIES:
            for endpoint, path in ENDPOINTS.items():
                r = http.get(bases[endpoint] + path, params={"q": q, "limit": 10})
                if r.status_code != 200:
                    raise SystemExit(f"{endpoint} {q!r}: {r.status_code} {r.text[:300]}")


# ------------------------------------------------------------------------------------------------------- quality

@dataclass(frozen=True)
class Score:
    recall: float
    precision: float


def score(found: Sequence[str], relevant: set[str]) -> Score:
    top = list(found)[:10]
    good = sum(1 for lesson_id in top if lesson_id in relevant)
    return Score(good / min(len(relevant), 10), good / len(top) if top else 0.0)


def http_answers(base: str, endpoint: str) -> list[list[str]]:
    with httpx.Client(base_url=base, timeout=600) as http:
        out = []
        for query in QUALITY_QUERIES:
            r = http.get(ENDPOINTS[endpoint], params={"q": query.text, "limit": 10})
            r.raise_for_status()
            out.append(found_ids(endpoint, r.json()))
        return out


MEDIACMS_DOCS = """
CREATE TABLE bench_mediacms_doc AS
SELECT l.id, to_tsvector('simple', l.title || ' ' || coalesce(t.said, '')) AS doc
FROM lesson l LEFT JOIN (
    SELECT v.lesson_id, string_agg(s.text, '' ORDER BY s.position) AS said
    FROM captionversion v JOIN transcriptsegment s ON s.caption_version_id = v.id GROUP BY v.lesson_id
) t ON t.lesson_id = l.id
WHERE l.review_state = 'published'
"""
MEDIACMS_QUERY = """
SELECT id FROM bench_mediacms_doc WHERE doc @@ plainto_tsquery('simple', :q)
ORDER BY ts_rank(doc, plainto_tsquery('simple', :q)) DESC, id LIMIT 10
"""


def mediacms_answers(url: str) -> list[list[str]]:
    from sqlalchemy import text

    from catalog.db import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(MEDIACMS_DOCS))
            return [[row[0] for row in conn.execute(text(MEDIACMS_QUERY), {"q": q.text})] for q in QUALITY_QUERIES]
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------------------ the page

@dataclass(frozen=True)
class PageFigures:
    html_bytes: int
    html_encoding: str
    html_gzip_bytes: int  # what gzip would make of the HTML, for comparison when it is served plain
    asset_bytes: int
    assets: int
    ttfb_ms: float


def measure_page(base: str, lesson_id: str) -> PageFigures:
    def fetch(http: httpx.Client, url: str) -> tuple[bytes, bytes, str, float]:
        t0 = time.perf_counter()
        with http.stream("GET", url) as r:
            ttfb = time.perf_counter() - t0
            r.raise_for_status()
            raw = b"".join(r.iter_raw())
            encoding = r.headers.get("content-encoding", "identity")
        return raw, gzip.decompress(raw) if encoding == "gzip" else raw, encoding, ttfb

    with httpx.Client(base_url=base, timeout=60, headers={"Accept-Encoding": "gzip"}) as http:
        fetch(http, f"/lessons/{lesson_id}")
        ttfbs, raw, html, encoding = [], b"", b"", ""
        for _ in range(10):
            raw, html, encoding, ttfb = fetch(http, f"/lessons/{lesson_id}")
            ttfbs.append(ttfb)
        page = html.decode()
        refs = re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', page)
        refs += re.findall(r'<script[^>]+src="([^"]+)"', page)
        asset_bytes = sum(len(fetch(http, ref)[0]) for ref in refs)
    return PageFigures(len(raw), encoding, len(gzip.compress(html, 6)), asset_bytes, len(refs),
                       statistics.median(ttfbs) * 1000)


# ------------------------------------------------------------------------------------------------------- the run

@dataclass
class BackendResult:
    backend: str
    times: SeedTimes
    phases: list[Phase]
    answers: dict[str, list[list[str]]]
    page: PageFigures


def run_backend(backend: str, corpus: Sequence[LessonSpec], workdir: Path, args: argparse.Namespace) -> BackendResult:
    data_dir = workdir / f"var-{backend}"
    data_dir.mkdir()
    from tests.support.stacks import fresh_pg_database  # a fresh PostgreSQL database, dropped afterwards

    with fresh_pg_database(PG_ADMIN_URL) if backend == "postgresql" else _no_database() as pg_url:
        url = pg_url or f"sqlite:///{data_dir / 'weike.sqlite3'}"
        times = seed(url, corpus)
        print(f"{backend}: seeded {len(corpus)} lessons ({times.segments} segments) in {times.seed_s:.1f} s; "
              f"indexed ({times.entries} entries) in {times.index_s:.1f} s "
              f"({times.index_s / len(corpus) * 1000:.1f} ms a lesson); ANALYZE {times.analyze_s:.1f} s", flush=True)
        answers: dict[str, list[list[str]]] = {}
        if backend == "postgresql":
            answers["mediacms"] = mediacms_answers(url)
        phases = []
        with running_api(data_dir, pg_url) as base, \
                running_api(data_dir, url, "bench.like_search:app", "/like?q=x") as like_base:
            bases = {"weike": base, "like": like_base}
            warm_up(bases)
            answers["weike"] = http_answers(base, "weike")
            answers["like"] = http_answers(like_base, "like")
            for clients in args.clients:
                for endpoint in ENDPOINTS:
                    phase = Phase(backend, endpoint, clients)
                    asyncio.run(load_phase(bases, phase, LOAD_QUERIES, args.seconds))
                    phases.append(phase)
                    print(f"  {endpoint:5} {clients:3} clients: {len(phase.latencies_s)} requests, "
                          f"p95 {phase.percentile_ms(95):.1f} ms", flush=True)
            page = measure_page(base, corpus[0].id)
    return BackendResult(backend, times, phases, answers, page)


@contextmanager
def _no_database() -> Iterator[None]:
    yield None


def mark(ok: bool) -> str:
    return "yes" if ok else "NO"


def report(results: Sequence[BackendResult], corpus: Sequence[LessonSpec]) -> None:
    relevant = [{x.id for x in corpus if q.key in x.planted} for q in QUALITY_QUERIES]
    print(f"\n{'backend':10} {'search':6} {'clients':>7} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'errors':>6}")
    for r in results:
        for p in r.phases:
            print(f"{p.backend:10} {p.endpoint:6} {p.clients:7} {len(p.latencies_s):8} {p.rps:8.1f} "
                  f"{p.percentile_ms(50):8.1f} {p.percentile_ms(95):8.1f} {p.percentile_ms(99):8.1f} {p.errors:6}")

    print("\nper query (relevant lessons found in the first 10 / returned):")
    methods = [(r.backend, m) for r in results for m in ("weike", "like", "mediacms") if m in r.answers]
    print(f"  {'query':16} {'kind':12} {'rel':>3}  " + "  ".join(f"{b[:2]}-{m:8}" for b, m in methods))
    for i, q in enumerate(QUALITY_QUERIES):
        cells = []
        for backend, method in methods:
            found = next(r for r in results if r.backend == backend).answers[method][i][:10]
            cells.append(f"{sum(1 for f in found if f in relevant[i]):>3}/{len(found):<7}")
        print(f"  {q.text:16} {q.kind:12} {len(relevant[i]):3}  " + "  ".join(cells))

    print("\ntargets:")
    quality: dict[tuple[str, str], Score] = {}
    for r in results:
        for method, answers in r.answers.items():
            scores = [score(found, rel) for found, rel in zip(answers, relevant, strict=True)]
            quality[(r.backend, method)] = Score(statistics.fmean(s.recall for s in scores),
                                                 statistics.fmean(s.precision for s in scores))
    for r in results:
        by = {(p.endpoint, p.clients): p for p in r.phases}
        if r.backend == "postgresql" and ("weike", 50) in by:
            p95 = by[("weike", 50)].percentile_ms(95)
            print(f"  PostgreSQL, Weike search, 50 clients: p95 {p95:.1f} ms (target < 50 ms): {mark(p95 < 50)}")
        if r.backend == "sqlite" and ("weike", 1) in by:
            p95 = by[("weike", 1)].percentile_ms(95)
            print(f"  SQLite, Weike search, 1 client: p95 {p95:.1f} ms (target < 20 ms): {mark(p95 < 20)}")
        for clients in sorted({c for _, c in by}):
            weike, like = by[("weike", clients)], by[("like", clients)]
            ratio = weike.rps / like.rps if like.rps else float("inf")
            print(f"  {r.backend}, {clients} client(s): Weike {weike.rps:.1f} req/s vs LIKE scan {like.rps:.1f} "
                  f"req/s = {ratio:.1f}x (target >= 20x): {mark(ratio >= 20)}")
    for (backend, method), s in quality.items():
        target = f" (targets >= 0.95, >= 0.8): {mark(s.recall >= 0.95 and s.precision >= 0.8)}" \
            if method == "weike" else ""
        print(f"  {backend}, {method}: recall@10 {s.recall:.2f}, precision@10 {s.precision:.2f}{target}")
    for r in results:
        p = r.page
        print(f"  {r.backend}, lesson page before the video: {p.html_bytes + p.asset_bytes} bytes (HTML "
              f"{p.html_bytes} B served {p.html_encoding}, {p.html_gzip_bytes} B if gzipped; {p.assets} CSS/JS "
              f"files {p.asset_bytes} B gzip); time to first byte {p.ttfb_ms:.1f} ms (median of 10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lessons", type=int, default=10_000, help="published lessons to seed (default 10000)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite,postgresql (default both)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds per load phase (default 30)")
    parser.add_argument("--clients", default="1,50", help="concurrent clients per phase (default 1,50)")
    parser.add_argument("--seed", type=int, default=2026, help="corpus random seed (default 2026)")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",") if c.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    corpus = generate_corpus(args.lessons, seed=args.seed)
    chars = sum(len(s) for x in corpus for s in x.segments)
    print(f"{len(corpus)} lessons, {chars / len(corpus):.0f} transcript characters each on average, generated in "
          f"{time.perf_counter() - started:.1f} s; {len(LOAD_QUERIES)} load queries, {len(QUALITY_QUERIES)} "
          f"quality queries; {args.seconds:g} s per phase; {os.cpu_count()} CPUs, client on the same machine",
          flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="weike-bench-library-"))
    try:
        results = [run_backend(backend, corpus, workdir, args) for backend in backends]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(results, corpus)
    print(f"\nwhole run {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

