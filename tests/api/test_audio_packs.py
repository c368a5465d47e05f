"""Audio packs through the API: made by the county's staff from published lessons only, built into a stored ZIP that
opens everywhere (Python's zipfile and Debian's unzip), track order, FAT-safe names, ID3v2.3 tags, playlists in two
encodings, the table of contents; a download cut anywhere and resumed by Range; a withdrawn lesson making version 2
without it while version 1 stays downloadable; the quarterly pack; who may do what. The build runs in-process here
(workers.packs.build_version, the task's body); tests/e2e/test_audio_pack_worker.py runs it in a real worker."""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mutagen.id3 import ID3
from sqlmodel import select

from catalog.db import unit_of_work
from catalog.models import AudioPackVersion, Lesson
from tests.support.accounts import import_county, login_as, make_account, token_for
from tests.support.packs import published_audio_lesson
from workers import packs as pack_worker
from workers.settings import Settings
from workers.wiring import context_for

FAT_FORBIDDEN = set('\\/:*?"<>|')
HOSTILE_TITLES = ["党课/第一讲：初心?", "A*B<C>D|E\\F", "🌾秸秆还田🚜👨‍🌾", "长" * 200, "重复的标题", "重复的标题",
                  "……！！！", "结尾有点和空格. . ", "<script>alert(1)</script>"]
# What players show of them: emoji gone, a title with nothing readable left named by its track.
SHOWN_TITLES = ["党课/第一讲：初心?", "A*B<C>D|E\\F", "秸秆还田", "长" * 20, "重复的标题", "重复的标题", "第7课",
                "结尾有点和空格", "<script>alert(1)</script>"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    import_county(settings)
    return settings  # type: ignore[no-any-return]


@pytest.fixture
def staff(settings: Settings) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(settings)) as c:
        login_as(c, settings, "reviewer", "reviewer")
        yield c


@pytest.fixture
def public(settings: Settings) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c


def build(settings: Settings, pack: dict[str, Any]) -> None:
    """Run the pack's newest version's build as the `media.pack` task would."""
    ctx = context_for(settings)
    with unit_of_work(ctx.engine) as s:
        version = s.exec(select(AudioPackVersion).where(AudioPackVersion.pack_id == pack["id"],
                                                        AudioPackVersion.version == pack["version"])).one()
    pack_worker.build_version(ctx, version.id or 0)


def ready_pack(client: TestClient, settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/packs", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "building" and created["download_url"] is None
    build(settings, created)
    got = client.get(f"/api/v1/packs/{created['id']}").json()
    assert got["status"] == "ready", got
    return got  # type: ignore[no-any-return]


def download(client: TestClient, pack: dict[str, Any], dest: Path) -> Path:
    r = client.get(pack["download_url"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    dest.write_bytes(r.content)
    return dest


def test_hostile_titles_make_a_pack_that_opens_everywhere_in_track_order(
        settings: Settings, staff: TestClient, public: TestClient, audio_edition_mp3: Path, tmp_path: Path) -> None:
    ids = [published_audio_lesson(settings, t, audio_edition_mp3, speaker="王建国", said=("第一句。", "第二句。"))
           for t in HOSTILE_TITLES]
    pack = ready_pack(staff, settings, {"title": "2026年第3季度 党课随身听", "audience": "老年党员", "lesson_ids": ids})
    assert [t["lesson_id"] for t in pack["tracks"]] == ids
    assert pack["size_bytes"] > 0 and pack["duration_s"] == pytest.approx(6.0 * len(ids))
    zip_path = download(public, pack, tmp_path / "pack.zip")
    assert zip_path.stat().st_size == pack["size_bytes"]

    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
        assert zf.testzip() is None
        names = [i.filename for i in infos]
        tracks = names[:len(ids)]
        assert tracks == [t["filename"] for t in pack["tracks"]]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        assert all(i.flag_bits & 0x800 for i in infos if not i.filename.isascii())
        assert set(names[len(ids):]) >= {"播放列表.m3u8", "播放列表.m3u", "目录.txt"}
        for name in tracks:
            stem = name.rsplit(".", 1)[0]
            assert name.endswith(".mp3") and len(name) <= 64
            assert not FAT_FORBIDDEN & set(name) and all(ord(ch) >= 32 for ch in name)
            assert stem == stem.rstrip(". ") and not any(0x1F300 <= ord(ch) <= 0x1FAFF for ch in name)
        assert len({n.casefold() for n in tracks}) == len(tracks)
        assert sorted(tracks) == tracks  # names sort in track order too
        assert "秸秆还田" in tracks[2] and "党课" in tracks[0]
        m3u8 = zf.read("播放列表.m3u8").decode("utf-8")
        m3u = zf.read("播放列表.m3u").decode("gb18030")
        toc = zf.read("目录.txt")
        extracted = tmp_path / "out"
        zf.extractall(extracted)
    for playlist in (m3u8, m3u):
        listed = [line for line in playlist.splitlines() if line and not line.startswith("#")]
        assert listed == tracks
    assert toc.startswith(b"\xef\xbb\xbf")
    toc_text = toc.decode("utf-8-sig")
    for n, title in enumerate(["党课/第一讲：初心?", "A*B<C>D|E\\F", "秸秆还田", "第7课", "<script>alert(1)</script>"]):
        assert title in toc_text, (n, toc_text)
    assert "🌾" not in toc_text and toc_text.count("王建国") == len(ids) and "东风村党支部" in toc_text

    unzip = shutil.which("unzip")
    assert unzip, "unzip is installed by scripts/install-system.sh"
    listing = subprocess.run([unzip, "-Z1", str(zip_path)], capture_output=True, check=True,
                             env={"LANG": "C.UTF-8"}).stdout.decode("utf-8").splitlines()
    assert listing == names
    subprocess.run([unzip, "-tq", str(zip_path)], capture_output=True, check=True)

    for n, name in enumerate(tracks, start=1):
        tag = ID3(extracted / name)
        assert tag.version == (2, 3, 0)
        assert tag["TRCK"].text == [f"{n}/{len(ids)}"]
        assert tag["TIT2"].text[0].startswith(SHOWN_TITLES[n - 1])
        assert tag["TPE1"].text == ["王建国"]
        assert tag["TALB"].text[0].startswith("2026年第3季度 党课随身听")
        assert tag["TIT2"].encoding == 1  # UTF-16 with BOM: what v2.3 players read
        assert tag.getall("APIC")[0].mime == "image/jpeg"
        assert "第一句" in tag.getall("USLT")[0].text
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                str(extracted / name)], capture_output=True, check=True, text=True)
        assert float(probe.stdout) == pytest.approx(float(_duration(audio_edition_mp3)), abs=0.1)


def _duration(path: Path) -> str:
    return subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                          capture_output=True, check=True, text=True).stdout


def test_a_download_cut_anywhere_resumes_by_range_to_the_same_bytes(
        settings: Settings, staff: TestClient, public: TestClient, audio_edition_mp3: Path) -> None:
    ids = [published_audio_lesson(settings, f"第{i}讲", audio_edition_mp3) for i in range(1, 4)]
    pack = ready_pack(staff, settings, {"title": "渔船上的党课", "audience": "海上党支部", "lesson_ids": ids})
    whole = public.get(pack["download_url"])
    etag = whole.headers["etag"]
    assert f"v{pack['version']}" in etag
    head = public.head(pack["download_url"])
    assert int(head.headers["content-length"]) == pack["size_bytes"] == len(whole.content)
    rng = random.Random(16)
    for _ in range(5):
        got = bytearray()
        cut = rng.randrange(1, len(whole.content) - 1)
        got += whole.content[:cut]
        while len(got) < len(whole.content):
            step = rng.randrange(1, 200_000)
            r = public.get(pack["download_url"], headers={
                "Range": f"bytes={len(got)}-{len(got) + step - 1}", "If-Range": etag})
            assert r.status_code == 206, r.status_code
            assert r.headers["etag"] == etag
            got += r.content
        assert bytes(got) == whole.content
    assert public.get(pack["download_url"], headers={"If-None-Match": etag}).status_code == 304


def test_a_withdrawn_lesson_leaves_its_packs_at_once_and_version_2_is_made_without_it(
        settings: Settings, staff: TestClient, public: TestClient, audio_edition_mp3: Path, tmp_path: Path) -> None:
    ids = [published_audio_lesson(settings, f"水稻病虫害防治 第{i}讲", audio_edition_mp3) for i in range(1, 4)]
    v1 = ready_pack(staff, settings, {"title": "农技课", "lesson_ids": ids})
    r = staff.post(f"/api/v1/lessons/{ids[1]}/review", json={"action": "withdraw", "reasons": ["other"],
                                                              "comment": "内容过时"})
    assert r.status_code == 200, r.text
    # At once, before any rebuild: no version holding it downloads, and the pack no longer names it.
    now = public.get(f"/api/v1/packs/{v1['id']}")
    assert now.json()["stale"] is True and now.json()["download_url"] is None and now.json()["versions"] == []
    assert [t["lesson_id"] for t in now.json()["tracks"]] == [ids[0], ids[2]] and "第2讲" not in now.text
    gone = public.get(v1["download_url"])
    assert gone.status_code == 409 and gone.json()["code"] == "pack_not_ready" and "撤下" in gone.json()["message"]
    assert public.get(f"/api/v1/packs/{v1['id']}/download").status_code == 409

    ctx = context_for(settings)
    with unit_of_work(ctx.engine) as s:
        v1_key = s.exec(select(AudioPackVersion.key).where(AudioPackVersion.pack_id == v1["id"])).one()
    assert v1_key is not None and ctx.storage.exists(v1_key)
    done = pack_worker.sweep_packs(ctx)  # what the beat does
    assert (done["rebuilt"], done["expired"]) == (1, 1) and not ctx.storage.exists(v1_key)  # its ZIP deleted
    building = public.get(f"/api/v1/packs/{v1['id']}").json()
    assert building["version"] == 2 and building["status"] == "building" and building["stale"] is False
    assert building["versions"] == []  # nothing to download meanwhile: version 1 holds the withdrawn lesson
    build(settings, building)
    v2 = public.get(f"/api/v1/packs/{v1['id']}").json()
    assert v2["status"] == "ready" and [t["lesson_id"] for t in v2["tracks"]] == [ids[0], ids[2]]
    with zipfile.ZipFile(download(public, v2, tmp_path / "v2.zip")) as zf:
        mp3s = [n for n in zf.namelist() if n.endswith(".mp3")]
        assert len(mp3s) == 2 and mp3s[0].startswith("01_") and mp3s[1].startswith("02_")
        assert ID3(io.BytesIO(zf.read(mp3s[1])))["TRCK"].text == ["2/2"]  # type: ignore[arg-type]
    assert [v["version"] for v in v2["versions"]] == [2]
    assert pack_worker.sweep_packs(ctx)["rebuilt"] == 0  # nothing stale any more

    # A version superseded for any other reason (here staff rebuild it) stays downloadable for 90 days.
    assert staff.post(f"/api/v1/packs/{v1['id']}/rebuild").status_code == 202
    build(settings, public.get(f"/api/v1/packs/{v1['id']}").json())
    v3 = public.get(f"/api/v1/packs/{v1['id']}").json()
    versions = {v["version"]: v for v in v3["versions"]}
    assert set(versions) == {2, 3}
    old = public.get(versions[2]["download_url"])
    assert old.status_code == 200 and old.headers["etag"] != public.get(v3["download_url"]).headers["etag"]
    expires = date.fromisoformat(versions[2]["expires_at"][:10])
    assert expires - date.today() in (timedelta(days=89), timedelta(days=90))


def test_selections_order_by_episode_or_date(settings: Settings, staff: TestClient, audio_edition_mp3: Path) -> None:
    from tests.api.test_library_browse import make_series

    series_id = make_series(settings, "党史故事")
    for episode in (3, 1, 2):
        published_audio_lesson(settings, f"党史故事 第{episode}集", audio_edition_mp3, series_id=series_id,
                               episode=episode)
    r = staff.post("/api/v1/packs", json={"title": "党史故事", "selection": {"series_id": series_id}})
    assert r.status_code == 201, r.text
    assert r.json()["order"] == "episode"
    assert [t["title"] for t in r.json()["tracks"]] == [f"党史故事 第{n}集" for n in (1, 2, 3)]
    r = staff.post("/api/v1/packs", json={"title": "按日期", "selection": {"series_id": series_id}, "order": "date"})
    assert [t["title"] for t in r.json()["tracks"]] == [f"党史故事 第{n}集" for n in (3, 1, 2)]


def test_only_published_lessons_go_into_packs(settings: Settings, staff: TestClient,
                                              audio_edition_mp3: Path) -> None:
    published = published_audio_lesson(settings, "已发布", audio_edition_mp3)
    waiting = published_audio_lesson(settings, "待审核", audio_edition_mp3, state="awaiting_review")
    r = staff.post("/api/v1/packs", json={"title": "混进去的", "lesson_ids": [published, waiting]})
    assert r.status_code == 422 and r.json()["code"] == "pack_lessons_unavailable"
    r = staff.post("/api/v1/packs", json={"title": "不存在", "lesson_ids": ["nosuchlesson"]})
    assert r.status_code == 422 and r.json()["code"] == "pack_lessons_unavailable"
    r = staff.post("/api/v1/packs", json={"title": "空的", "selection": {"quarter": "2001Q1"}})
    assert r.status_code == 422 and r.json()["code"] == "pack_empty"
    assert "message" in r.json() and any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["message"])
    for body in ({"title": "两个都给", "lesson_ids": [published], "selection": {"featured": True}},
                 {"title": "都不给"}, {"title": "  ", "lesson_ids": [published]},
                 {"title": "手动排序的选择", "selection": {"featured": True}, "order": "manual"},
                 {"title": "坏季度", "selection": {"quarter": "2026Q5"}},
                 {"title": "多余字段", "lesson_ids": [published], "status": "ready"}):
        r = staff.post("/api/v1/packs", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["code"] in ("invalid_pack", "invalid_details", "invalid_request"), r.json()


def test_who_may_make_packs_and_who_may_download(settings: Settings, public: TestClient, staff: TestClient,
                                                 audio_edition_mp3: Path) -> None:
    lesson = published_audio_lesson(settings, "人人可听", audio_edition_mp3)
    body = {"title": "测试包", "lesson_ids": [lesson]}
    assert public.post("/api/v1/packs", json=body).status_code == 401
    make_account(settings, "uploader", "uploader", "东风村党支部")
    r = public.post("/api/v1/packs", json=body, headers={"Authorization": f"Bearer {token_for(public, 'uploader')}"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    make_account(settings, "organiser", "organiser", "东风镇")
    r = public.post("/api/v1/packs", json=body, headers={"Authorization": f"Bearer {token_for(public, 'organiser')}"})
    assert r.status_code == 201, r.text
    pack = r.json()
    r = public.get(f"/api/v1/packs/{pack['id']}/download")
    assert r.status_code == 409 and r.json()["code"] == "pack_not_ready"
    assert public.get(f"/api/v1/packs/{pack['id']}").headers["cache-control"] == "no-cache"  # progress: poll it
    build(settings, pack)
    assert public.get(f"/api/v1/packs/{pack['id']}").headers["cache-control"].startswith("public")
    listed = public.get("/api/v1/packs").json()
    assert listed["total"] == 1 and listed["items"][0]["status"] == "ready"
    assert public.get(listed["items"][0]["download_url"]).status_code == 200
    assert public.get("/api/v1/packs/9999").status_code == 404
    assert public.get(f"/api/v1/packs/{pack['id']}/download?version=7").json()["code"] == "pack_not_found"


def test_the_quarterly_pack_is_made_once_from_the_quarters_lessons(settings: Settings, public: TestClient,
                                                                     audio_edition_mp3: Path) -> None:
    from datetime import UTC, datetime

    inside = [published_audio_lesson(settings, f"七月第{i}课", audio_edition_mp3,
                                     published_at=datetime(2026, 7, 1 + i, 2, tzinfo=UTC)) for i in range(3)]
    published_audio_lesson(settings, "十月的课", audio_edition_mp3, published_at=datetime(2026, 10, 2, tzinfo=UTC))
    # 2026-06-30 20:00 UTC is already 1 July in the county
    early = published_audio_lesson(settings, "七月一日零点", audio_edition_mp3,
                                   published_at=datetime(2026, 6, 30, 20, tzinfo=UTC))
    ctx = context_for(settings)
    pack = pack_worker.make_quarterly_pack(ctx, today=date(2026, 10, 8))
    assert pack is not None and pack.title == "2026年第3季度 党课随身听" and pack.spoken_intros
    assert pack_worker.make_quarterly_pack(ctx, today=date(2026, 10, 9)) is None  # once
    got = public.get(f"/api/v1/packs/{pack.id}").json()
    assert [t["lesson_id"] for t in got["tracks"]] == [early, *inside]
    assert got["selection"] == {"quarter": "2026Q3"}


def test_a_lesson_deleted_under_a_building_pack_fails_it_with_a_clear_error(
        settings: Settings, staff: TestClient, audio_edition_mp3: Path) -> None:
    ids = [published_audio_lesson(settings, f"课{i}", audio_edition_mp3) for i in range(2)]
    pack = staff.post("/api/v1/packs", json={"title": "会失败的包", "lesson_ids": ids}).json()
    with unit_of_work(context_for(settings).engine) as s:
        lesson = s.get(Lesson, ids[1])
        assert lesson is not None
        s.delete(lesson)
    build(settings, pack)
    got = staff.get(f"/api/v1/packs/{pack['id']}").json()
    assert got["status"] == "failed" and got["error"]["code"] and got["download_url"] is None
    assert any("\u4e00" <= ch <= "\u9fff" for ch in got["error"]["message"])


def test_a_packs_feed_lists_its_published_lessons_in_track_order(settings: Settings, staff: TestClient,
                                                                 public: TestClient, audio_edition_mp3: Path) -> None:
    import feedparser

    ids = [published_audio_lesson(settings, f"随身听第{i}课", audio_edition_mp3) for i in (1, 2, 3)]
    pack = ready_pack(staff, settings, {"title": "海上党支部 随身听", "audience": "海上党支部",
                                        "lesson_ids": [ids[2], ids[0], ids[1]]})
    r = public.get(pack["feed_url"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/rss+xml")
    feed = feedparser.parse(r.content)
    assert not feed.bozo and "海上党支部 随身听" in feed.feed.title
    assert [e.title for e in feed.entries] == ["随身听第3课", "随身听第1课", "随身听第2课"]
    assert all(e.enclosures[0].type == "audio/mpeg" for e in feed.entries)
    staff.post(f"/api/v1/lessons/{ids[0]}/review", json={"action": "withdraw", "reasons": ["other"]})
    feed = feedparser.parse(public.get(pack["feed_url"]).content)
    assert [e.title for e in feed.entries] == ["随身听第3课", "随身听第2课"]  # gone at once, before the rebuild
    assert public.get("/feeds/packs/999.xml").status_code == 404
    assert public.get("/feeds/packs/abc.xml").status_code == 404


def test_spoken_intros_go_before_the_unchanged_lessons(settings: Settings, staff: TestClient, public: TestClient,
                                                      audio_edition_mp3: Path, tmp_path: Path) -> None:
    from mutagen.mp3 import MP3

    from transcode.mp3_frames import scan_mp3

    ids = [published_audio_lesson(settings, t, audio_edition_mp3, speaker="王建国")
           for t in ("秸秆还田的好处", "渔船安全生产")]
    pack = ready_pack(staff, settings, {"title": "带介绍的包", "lesson_ids": ids, "spoken_intros": True})
    edition = scan_mp3(audio_edition_mp3)
    edition_audio = audio_edition_mp3.read_bytes()[edition.audio_start:edition.end]
    edition_s = float(_duration(audio_edition_mp3))
    with zipfile.ZipFile(download(public, pack, tmp_path / "intros.zip")) as zf:
        zf.extractall(tmp_path / "out")
    for track in pack["tracks"]:
        path = tmp_path / "out" / track["filename"]
        data = path.read_bytes()
        joined = scan_mp3(path)
        # The lesson's own audio frames, byte for byte, end the track; one header frame counts every frame.
        assert data[:joined.end].endswith(edition_audio)
        assert joined.frame_count > edition.frame_count
        assert joined.info is not None and joined.info.frames == joined.frame_count
        total_s = MP3(path).info.length
        assert 2.0 < total_s - edition_s < 12.0, total_s  # a few seconds of intro and pause
        assert float(_duration(path)) == pytest.approx(total_s, abs=0.05)
        assert ID3(path)["TRCK"].text == [f"{track['n']}/2"]


def test_intro_clips_are_said_ahead_so_a_pack_only_joins_them(settings: Settings, staff: TestClient,
                                                              audio_edition_mp3: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from transcode.intros import intro_parts, speech_cache_key
    from workers import pack_intros

    ids = [published_audio_lesson(settings, f"提前准备的第{i}课", audio_edition_mp3) for i in (1, 2)]
    ctx = context_for(settings)
    texts = pack_intros.clips_to_warm(ctx, limit=100)
    voice = pack_intros.voice_for(ctx).name
    assert texts[0] == "第一课。" and len([t for t in texts if t.startswith("第") and t.endswith("课。")]) >= 60
    assert intro_parts(1, "提前准备的第1课", "李书记", "东风村党支部").lesson in texts
    made = pack_intros.warm_clips(ctx, [t for t in texts if "提前准备" in t] + ["第一课。", "第二课。"])
    assert made == 4
    assert ctx.storage.exists(f"intros/clips/{speech_cache_key('第一课。', voice)}.wav")
    later = pack_intros.clips_to_warm(ctx, limit=100)
    assert "第一课。" not in later and not any("提前准备" in t for t in later)
    # The pack now synthesises nothing (a spy on the voice, which still speaks): every clip it needs is stored.
    said: list[str] = []
    voice = pack_intros.voice_for(ctx)
    real = voice.synthesize

    def spy(text: str) -> object:
        said.append(text)
        return real(text)

    monkeypatch.setattr(voice, "synthesize", spy)
    ready_pack(staff, settings, {"title": "只拼接的包", "lesson_ids": ids, "spoken_intros": True})
    assert said == []
