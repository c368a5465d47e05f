"""Copy detection at county scale: adding one lesson to a library of 10,000 and finding its matches through the
index in the database (catalog/similar_index.py), against comparing it with every lesson, in the same run.

    .venv/bin/python bench/similar.py                          # 10,000 lessons, SQLite and PostgreSQL
    .venv/bin/python bench/similar.py --lessons 1000 --backends sqlite    # a quick sanity run

Seeds N synthetic lessons, each with a transcript and frame hashes as the `similarity` step stores them:
- transcripts of 5 to 15 minutes (about 250 characters a minute) of words drawn by frequency from jieba's
  dictionary, a third of them from one of eight topics' vocabularies (farming, fishing, e-commerce, party history,
  flood control, the environment, healthcare, schooling), so lessons on one topic share their words;
- frames as the step samples them (one every max(2 s, duration / 150) plus shot changes): 20 to 60 shots a lesson,
  each a hash 12 bits from one of 300 common "looks" (a courtyard, a classroom, a field), its frames within 3 bits
  of the shot, so that hashes crowd the way pictures do, not uniformly.
Fingerprints, their keys and the lessons go in by bulk inserts, then ANALYZE. Then, per new lesson (half of them
copies of a library lesson: every character misheard with probability 0.12, two sentences dropped, its frames
re-hashed within 4 bits and shifted 1.3 s; half unrelated):
- indexed: its prints are computed (shingles, MinHash, frame chunks), then in one transaction its fingerprint and
  keys are stored, the keys looked up (one IN query per signal), the candidates compared exactly and its matches
  written both ways (`index_lesson`, what the step does), committed: wall time; then the same once more under
  tracemalloc for Python's peak allocation (indexing again changes nothing);
- brute force: every fingerprint of the library read and compared with it (catalog/similarity.py `compare`),
  which is what adding a lesson costs without an index: wall time, and for the first lesson the peak allocation
  in a second, traced pass.
Both must find the same copy. Sound fingerprints are left out: the issue's bench names transcripts and frames (the
sound's keys are looked up the same way).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from catalog.similarity import (  # noqa: E402
    REPORT_THRESHOLD,
    FootagePrint,
    LessonPrints,
    TimedText,
    compare,
    transcript_print,
)

PG_ADMIN_URL = os.environ.get("WEIKE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SEED_BATCH = 500
TOPICS = {
    "farming": "水稻 早稻 秧苗 插秧 施肥 打药 除草 秸秆 还田 粉碎机 收割机 测土配方 有机肥 茶园 柑橘 油菜 玉米 红薯 大棚 灌溉 晒谷 良种 植保 无人机 合作社 产量 亩产",
    "fishing": "渔船 渔港 出海 休渔期 护渔队 码头 台风 救生衣 海带 紫菜 网箱 养殖 鱼苗 渔民 北斗 对讲机 回港 渔获 冷库 海上 支部 安全 航行",
    "ecommerce": "电商 直播 网店 快递 包装 物流 订单 差评 好评 土特产 茶叶 蜂蜜 冷链 服务站 带货 流量 平台 品牌 销量 客服 退货 运费",
    "history": "红军 长征 烈士 陵园 纪念馆 借条 革命 先烈 党史 初心 使命 故事 老党员 入党誓词 清明 祭扫 红色 教育 基地 传承 精神",
    "flood": "防汛 汛期 河堤 管涌 沙袋 值班 巡查 转移 避险 水库 水位 预警 抢险 物资 演练 应急 突击队 暴雨 山洪 地质灾害",
    "environment": "垃圾 分类 厨余 堆肥 厕所 改造 化粪池 污水 河长 保洁 绿化 植树 庭院 村容 村貌 积分 评比 卫生 整治 秸秆禁烧",
    "health": "医保 卫生室 村医 体检 高血压 糖尿病 慢性病 疫苗 接种 家庭医生 签约 老人 妇女 儿童 健康 义诊 报销 药品",
    "school": "学校 学生 老师 留守儿童 助学 奖学金 课外 安全 营养餐 校车 家长 作业 考试 图书室 关爱 辅导 暑假",
}
FILLERS = "我们 大家 今年 去年 村里 党员 群众 支部 一定 要 把 的 了 和 在 都 也 还 就 是 有 给 让 这个 那个 工作 问题 情况 时候 已经 现在 以后 开始 组织 带头 帮助"


# ---------------------------------------------------------------------------------------------------- the corpus


def dictionary_words(limit: int = 30000) -> tuple[list[str], list[float]]:
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word, freq, *_ = line.split()
        if all("\u4e00" <= ch <= "\u9fff" for ch in word):
            rows.append((int(freq), word))
    rows.sort(reverse=True)
    rows = rows[:limit]
    return [w for _, w in rows], [float(f) for f, _ in rows]


@dataclass
class Synthetic:
    id: str
    sentences: list[str]
    chars_per_s: float
    shots: list[tuple[float, int]]  # (start, hash)
    duration_s: float
    created_at: datetime


class Corpus:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.draw = np.random.default_rng(seed)
        self.words, weights = dictionary_words()
        self.p = np.array(weights) / sum(weights)
        self.looks = [self.rng.getrandbits(64) for _ in range(300)]
        self.topics = {k: v.split() for k, v in TOPICS.items()}
        self.fillers = FILLERS.split()

    def _words(self, topic: list[str], n: int) -> list[str]:
        """A third from the topic, a sixth common fillers, the rest from the dictionary by frequency."""
        common = iter(self.draw.choice(len(self.words), size=n, p=self.p).tolist())
        out = []
        for r in self.draw.random(n).tolist():
            word = self.words[next(common)]
            out.append(self.rng.choice(topic) if r < 0.33 else self.rng.choice(self.fillers) if r < 0.5 else word)
        return out

    def lesson(self, created_at: datetime) -> Synthetic:
        rng = self.rng
        topic = self.topics[rng.choice(list(self.topics))]
        duration_s = rng.uniform(300, 900)
        chars = int(duration_s * 250 / 60)
        words = iter(self._words(topic, chars))  # more than enough: a word has one character or more
        sentences, count = [], 0
        while count < chars:
            sentence = "".join(next(words) for _ in range(rng.randint(4, 9))) + "。"
            sentences.append(sentence)
            count += len(sentence)
        shots, t = [], 0.0
        for _ in range(rng.randint(20, 60)):
            look = rng.choice(self.looks)
            shots.append((t, look ^ _bits(rng, 12)))
            t += rng.uniform(3, 2 * duration_s / 30)
            if t >= duration_s:
                break
        return Synthetic(uuid.uuid4().hex, sentences, chars / duration_s, shots, duration_s, created_at)

    def copy_of(self, source: Synthetic, created_at: datetime) -> Synthetic:
        """Another reading of `source`: misheard characters, two sentences dropped; its footage re-encoded."""
        rng = self.rng
        kept = [s for i, s in enumerate(source.sentences) if i not in rng.sample(range(len(source.sentences)), 2)]
        misheard = ["".join(ch if rng.random() > 0.12 else rng.choice(self.words)[0] for ch in s) for s in kept]
        shots = [(t + 1.3, h ^ _bits(rng, rng.randint(0, 4))) for t, h in source.shots]
        return Synthetic(uuid.uuid4().hex, misheard, source.chars_per_s * 1.1, shots, source.duration_s + 1.3,
                         created_at)


def _bits(rng: random.Random, n: int) -> int:
    mask = 0
    for bit in rng.sample(range(64), n):
        mask |= 1 << bit
    return mask


def prints_of(lesson: Synthetic, rng: random.Random) -> LessonPrints:
    segments, t = [], 0.0
    for s in lesson.sentences:
        length = len(s) / lesson.chars_per_s
        segments.append(TimedText(t, t + length, s))
        t += length
    interval = max(2.0, lesson.duration_s / 150)
    times: list[float] = []
    hashes: list[int] = []
    for i, (start, shot) in enumerate(lesson.shots):
        end = lesson.shots[i + 1][0] if i + 1 < len(lesson.shots) else lesson.duration_s
        at = start
        while at < end:
            times.append(at)
            hashes.append(shot ^ _bits(rng, rng.randint(0, 3)))
            at += interval
    footage = FootagePrint(times_s=np.array(times, dtype=np.float32), hashes=np.array(hashes, dtype=np.uint64),
                           duration_s=lesson.duration_s, interval_s=interval)
    return LessonPrints(transcript=transcript_print(segments), footage=footage)


# ---------------------------------------------------------------------------------------------------- databases


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    from tests.support.stacks import fresh_pg_database

    with fresh_pg_database(PG_ADMIN_URL) as url:
        yield url


def seed(url: str, library: Sequence[Synthetic], seed_value: int) -> tuple[float, int]:
    """Compute each lesson's prints and bulk-insert lessons, fingerprints and keys; returns (seconds, key rows)."""
    from sqlalchemy import insert, text
    from sqlmodel import col, select

    from catalog.db import make_engine, unit_of_work
    from catalog.migrate import upgrade
    from catalog.models import Lesson, LessonFingerprint, LessonStatus, ReviewState, SimilarityKey
    from catalog.similar_index import TRANSCRIPT_KEYS_FORMAT, pack_footage, pack_transcript

    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    keys = 0
    rng = random.Random(seed_value)
    for start in range(0, len(library), SEED_BATCH):
        batch = library[start:start + SEED_BATCH]
        prints = {x.id: prints_of(x, rng) for x in batch}
        with unit_of_work(engine) as s:
            s.execute(insert(Lesson), [{
                "id": x.id, "title": f"课 {x.id[:6]}", "language": "zh", "status": LessonStatus.READY, "progress": 100,
                "original_key": f"originals/{x.id}", "original_sha256": x.id * 2, "size_bytes": 1, "caption_version": 1,
                "review_state": ReviewState.PUBLISHED, "featured": False, "revision": 1, "duration_s": x.duration_s,
                "created_at": x.created_at, "updated_at": x.created_at} for x in batch])
            s.execute(insert(LessonFingerprint), [{
                "lesson_id": x.id, "revision": 1, "caption_version": 1, "updated_at": x.created_at,
                "transcript": pack_transcript(prints[x.id].transcript) if prints[x.id].transcript else None,
                "transcript_keys_format": TRANSCRIPT_KEYS_FORMAT,
                "footage": pack_footage(prints[x.id].footage) if prints[x.id].footage else None} for x in batch])
            ids = dict(s.execute(select(LessonFingerprint.lesson_id, LessonFingerprint.id)
                                 .where(col(LessonFingerprint.lesson_id).in_([x.id for x in batch]))).all())
            rows = [{"key": k, "fingerprint_id": ids[x.id]} for x in batch for k in prints[x.id].keys()]
            s.execute(insert(SimilarityKey), rows)
            keys += len(rows)
        print(f"  seeded {start + len(batch)} lessons", end="\r", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started, keys


# ---------------------------------------------------------------------------------------------------- measuring


@dataclass
class Run:
    prints_ms: list[float] = field(default_factory=list)
    indexed_ms: list[float] = field(default_factory=list)
    indexed_peak_mib: list[float] = field(default_factory=list)
    brute_ms: list[float] = field(default_factory=list)
    brute_peak_mib: list[float] = field(default_factory=list)
    copies_found: int = 0
    copies: int = 0
    brute_agrees: int = 0
    brute_checked: int = 0
    unrelated_listed: int = 0


def add_lesson(engine: object, lesson: Synthetic, rng: random.Random, run: Run) -> set[str]:
    """Add the lesson as the step does, timed; then index it once more (which changes nothing) under tracemalloc,
    for its peak allocation (tracing slows Python down too much to time it at the same go)."""
    from catalog.db import unit_of_work
    from catalog.models import Lesson
    from catalog.similar_index import index_lesson

    started = time.perf_counter()
    prints = prints_of(lesson, rng)
    prints.keys()  # MinHash and band keys, frame chunks (cached on the prints, as the step's index_lesson uses them)
    computed = time.perf_counter()
    with unit_of_work(engine) as s:  # type: ignore[arg-type]
        s.add(Lesson(id=lesson.id, title="新课", original_key=f"originals/{lesson.id}", original_sha256=lesson.id * 2,
                     size_bytes=1, created_at=lesson.created_at, updated_at=lesson.created_at))
        s.flush()
        found = index_lesson(s, lesson.id, revision=1, caption_version=1, prints=prints)
    done = time.perf_counter()
    run.prints_ms.append(1000 * (computed - started))
    run.indexed_ms.append(1000 * (done - started))
    tracemalloc.start()
    with unit_of_work(engine) as s:  # type: ignore[arg-type]
        again = index_lesson(s, lesson.id, revision=1, caption_version=1, prints=prints_of(lesson, rng))
    run.indexed_peak_mib.append(tracemalloc.get_traced_memory()[1] / 2**20)
    tracemalloc.stop()
    assert {f.other_id for f in again} == {f.other_id for f in found}
    lesson_prints[lesson.id] = prints
    return {f.other_id for f in found}


lesson_prints: dict[str, LessonPrints] = {}


def brute_force(engine: object, lesson: Synthetic, run: Run, *, traced: bool = False) -> set[str]:
    """Read every fingerprint of the library and compare the lesson with it."""
    from sqlmodel import select

    from catalog.db import unit_of_work
    from catalog.models import LessonFingerprint
    from catalog.similar_index import prints_of as stored_prints

    prints = lesson_prints[lesson.id]
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    found = set()
    with unit_of_work(engine) as s:  # type: ignore[arg-type]
        for row in s.exec(select(LessonFingerprint).where(LessonFingerprint.lesson_id != lesson.id)
                          .execution_options(yield_per=500)):
            if compare(prints, stored_prints(row)).score >= REPORT_THRESHOLD:
                found.add(row.lesson_id)
            s.expunge(row)
    if traced:
        run.brute_peak_mib.append(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
    else:
        run.brute_ms.append(1000 * (time.perf_counter() - started))
    return found


def run_backend(backend: str, library: Sequence[Synthetic], corpus: Corpus, args: argparse.Namespace,
                workdir: Path) -> dict[str, object]:
    from catalog.db import make_engine

    with database(backend, workdir) as url:
        print(f"{backend}: seeding {len(library)} lessons")
        seed_s, keys = seed(url, library, args.seed)
        print(f"\n{backend}: seeded in {seed_s:.0f} s (prints included), {keys} index rows")
        engine = make_engine(url)
        run = Run()
        rng = random.Random(args.seed + 1)
        now = library[-1].created_at
        for i in range(args.queries):
            now += timedelta(minutes=1)
            copy = i % 2 == 0
            source = library[rng.randrange(len(library))]
            lesson = corpus.copy_of(source, now) if copy else corpus.lesson(now)
            found = add_lesson(engine, lesson, rng, run)
            if copy:
                run.copies += 1
                run.copies_found += source.id in found
            else:
                run.unrelated_listed += len(found)
            if i < args.brute:
                run.brute_checked += 1
                run.brute_agrees += brute_force(engine, lesson, run) == found
            if i == 0:
                brute_force(engine, lesson, run, traced=True)
        size = (workdir / "bench.sqlite3").stat().st_size if backend == "sqlite" else None
        engine.dispose()  # type: ignore[attr-defined]
    return {"backend": backend, "run": run, "keys": keys, "seed_s": seed_s, "db_bytes": size}


def report(results: Sequence[dict[str, object]], lessons: int) -> None:
    print(f"\ncopy detection at {lessons} lessons (transcripts and frame hashes), one new lesson at a time")
    print(f"{'backend':<11} {'indexed p50':>11} {'p95':>7} {'of which prints':>15} {'peak MiB':>8} "
          f"{'brute p50':>10} {'peak MiB':>8} {'speed-up':>8} {'copies found':>12} {'same as brute':>13}")
    for result in results:
        run = result["run"]
        assert isinstance(run, Run)
        p50 = statistics.median(run.indexed_ms)
        p95 = sorted(run.indexed_ms)[max(0, int(0.95 * len(run.indexed_ms)) - 1)]
        brute = statistics.median(run.brute_ms) if run.brute_ms else float("nan")
        print(f"{result['backend']:<11} {p50:>9.1f}ms {p95:>5.1f}ms {statistics.median(run.prints_ms):>13.1f}ms "
              f"{max(run.indexed_peak_mib):>8.1f} {brute:>8.0f}ms {max(run.brute_peak_mib or [0]):>8.1f} "
              f"{brute / p50:>7.0f}x {run.copies_found:>5}/{run.copies:<6} {run.brute_agrees:>6}/{run.brute_checked:<6}")
        db = f", database file {result['db_bytes'] / 2**20:.0f} MiB" if result["db_bytes"] else ""
        print(f"{'':<11} {result['keys']} index rows (seeded in {result['seed_s']:.0f} s){db}; unrelated lessons "
              f"listed for the new unrelated lessons: {run.unrelated_listed}")
    print("targets: under 200 ms per new lesson at 10,000, at least 50x brute force")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lessons", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=20, help="new lessons added, half of them copies")
    parser.add_argument("--brute", type=int, default=6, help="of which compared with every lesson too")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    corpus = Corpus(args.seed)
    started = time.perf_counter()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    library = [corpus.lesson(base + timedelta(minutes=i)) for i in range(args.lessons)]
    print(f"generated {len(library)} lessons in {time.perf_counter() - started:.0f} s")
    results = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="weike-bench-similar-") as tmp:
            results.append(run_backend(backend, library, Corpus(args.seed + 2) if results else corpus, args,
                                       Path(tmp)))
    report(results, args.lessons)


if __name__ == "__main__":
    main()
