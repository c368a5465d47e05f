"""Speech to Chinese captions through a real Celery worker process, on both deployment shapes.

A video whose sound is espeak-ng Mandarin from a known text, and 30 s of silence, go through the whole pipeline with
Whisper base (faster-whisper, int8, greedy, VAD); then a reviewer's correction goes through the API and remakes
every derived file.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.lessons import assets_of, fetch, upload
from tests.support.media import streams_of, top_level_atoms
from tests.support.speech import MANDARIN_LESSON, character_error_rate, make_video_with_speech
from transcode.asr_text import to_simplified
from transcode.captions import CaptionRules, Cue, display_width, parse_cues
from transcode.model_store import ModelPaths

pytestmark = pytest.mark.e2e

MAX_CER = 0.85  # espeak speech is robotic: this proves the pipeline, not recognition quality
RULES = CaptionRules()
CORRECTED = ["大家好，欢迎来到今天的数学课。", "我们一起来认识长方形和正方形。", "长方形有四条边，对边相等。",
             "四个角都是直角。", "正方形的四条边都相等。"]


@pytest.fixture(params=["embedded", "services"])
def stack_settings(request: pytest.FixtureRequest, tmp_path: Path, whisper_models: ModelPaths) -> Iterator[object]:
    """The conftest stacks with speech recognition on, using the models prepared for the ASR tests."""
    from tests.support.stacks import stack

    with stack(request.param, tmp_path / "var", request, asr_enabled=True,
               models_dir=whisper_models.ct2_dir.parent) as settings:
        yield settings


def _upload(client: TestClient, path: Path, **form: str) -> str:
    return str(upload(client, path, **form)["id"])


def _wait(client: TestClient, worker: Any, lesson_id: str, done: Any, timeout_s: float = 480) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/v1/lessons/{lesson_id}").json()
        if done(body):
            return body
        time.sleep(0.5)
    raise AssertionError(f"{lesson_id} not finished: {body}\n{worker.log_tail()}")


def _finished(body: dict[str, Any]) -> bool:
    captions = body.get("captions") or {}
    return body["status"] == "failed" or (body["status"] == "ready" and captions.get("state") != "processing")


def _readable(cues: list[Cue]) -> None:
    assert cues
    previous_end = 0.0
    for cue in cues:
        assert 1 <= len(cue.lines) <= RULES.max_lines, cue
        assert all(display_width(line) <= RULES.max_line_width for line in cue.lines), cue
        assert RULES.min_cue_s - 0.002 <= cue.end_s - cue.start_s <= RULES.max_cue_s + 0.002, cue
        assert cue.start_s >= previous_end - 0.002, cue
        previous_end = cue.end_s


def _gray_band(path: Path, at_s: float, *, top: bool) -> bytes:
    crop = "crop=iw:ih/3:0:0" if top else "crop=iw:ih/3:0:ih*2/3"
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{at_s:.2f}", "-i", str(path), "-frames:v", "1",
         "-vf", f"{crop},scale=64:20,format=gray", "-f", "rawvideo", "-"],
        capture_output=True, timeout=60, check=True).stdout  # fmt: skip


def _diff(a: bytes, b: bytes) -> float:
    assert len(a) == len(b) and a
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def _embedded_subtitles(client: TestClient, rendition: dict[str, Any], tmp: Path) -> list[Cue]:
    mp4 = fetch(client, rendition["url"], tmp / f"{rendition['label']}-{rendition['sha256'][:8]}.mp4")
    subs = streams_of(mp4, "subtitle")
    assert [(s["codec_name"], s["tags"]["language"]) for s in subs] == [("mov_text", "chi")], subs
    assert top_level_atoms(mp4).index("moov") < top_level_atoms(mp4).index("mdat")
    srt = tmp / f"{mp4.stem}.srt"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(mp4), "-map", "0:s:0", str(srt)],
                   capture_output=True, timeout=60, check=True)
    return parse_cues(srt.read_text(encoding="utf-8"))


def test_spoken_lesson_gets_chinese_captions_and_an_edit_remakes_them(
    client: TestClient, worker: Any, tmp_path: Path, mandarin_wav: Path, silence_wav: Path
) -> None:
    video_id = _upload(client, make_video_with_speech(tmp_path / "lesson.mp4", mandarin_wav), title="认识长方形")
    silent_id = _upload(client, silence_wav, title="静音录音")
    lesson = _wait(client, worker, video_id, _finished)
    assert lesson["status"] == "ready" and lesson["progress"] == 100, lesson
    assert lesson["captions"]["state"] == "ready", lesson["captions"]
    assert (lesson["detected_language"], lesson["caption_version"]) == ("zh", 1)
    assert lesson["language_probability"] > 0.5
    assert {j["step"]: j["state"] for j in lesson["jobs"]} == {
        "probe": "done", "renditions": "done", "poster": "done", "audio_edition": "done", "transcribe": "done",
        "captions": "done", "hls": "done", "similarity": "done"}

    transcript = client.get(f"/api/v1/lessons/{video_id}/transcript").json()
    text = "".join(s["text"] for s in transcript["segments"])
    assert (transcript["version"], transcript["source"], transcript["language"]) == (1, "auto", "zh")
    assert character_error_rate(MANDARIN_LESSON, text) < MAX_CER, text
    assert to_simplified(text) == text
    assert all(0 <= s["confidence"] <= 1 for s in transcript["segments"])

    vtt = fetch(client, assets_of(lesson, "subtitles_vtt")[0]["url"], tmp_path / "v1.vtt").read_text("utf-8")
    srt = fetch(client, assets_of(lesson, "subtitles_srt")[0]["url"], tmp_path / "v1.srt").read_text("utf-8")
    assert vtt.startswith("WEBVTT")
    vtt_cues, srt_cues = parse_cues(vtt), parse_cues(srt)
    _readable(vtt_cues)
    assert [c.lines for c in srt_cues] == [c.lines for c in vtt_cues]
    document = json.loads(fetch(client, assets_of(lesson, "transcript")[0]["url"], tmp_path / "v1.json").read_text())
    assert [s["text"] for s in document["segments"]] == [s["text"] for s in transcript["segments"]]

    renditions = assets_of(lesson, "rendition")
    assert renditions
    for rendition in renditions:
        assert [c.lines for c in _embedded_subtitles(client, rendition, tmp_path)] == [c.lines for c in vtt_cues]
    largest = max(renditions, key=lambda a: a["width"] * a["height"])
    burned = assets_of(lesson, "open_captions")[0]
    assert (burned["width"], burned["height"]) == (largest["width"], largest["height"])
    plain = fetch(client, largest["url"], tmp_path / "plain.mp4")
    open_mp4 = fetch(client, burned["url"], tmp_path / "open.mp4")
    at = (vtt_cues[0].start_s + vtt_cues[0].end_s) / 2
    bottom, top = (_diff(_gray_band(open_mp4, at, top=t), _gray_band(plain, at, top=t)) for t in (False, True))
    assert bottom > 8 and bottom > 3 * top, (bottom, top)

    silent = _wait(client, worker, silent_id, _finished)
    assert silent["status"] == "ready" and silent["error"] is None, silent
    assert silent["captions"]["state"] == "empty" and silent["captions"]["error"] is None
    assert client.get(f"/api/v1/lessons/{silent_id}/transcript").json()["segments"] == []
    assert {a["kind"] for a in silent["assets"]} == {"original", "audio_edition", "transcript"}

    # A reviewer corrects the text (same times, known sentences): version 2 remakes everything derived.
    recognised = transcript["segments"]
    texts = CORRECTED[: len(recognised) - 1] + ["".join(CORRECTED[len(recognised) - 1 :]) or CORRECTED[-1]]
    segments = [{"start_s": s["start_s"], "end_s": s["end_s"], "text": t} for s, t in zip(recognised, texts, strict=False)]
    r = client.post(f"/api/v1/lessons/{video_id}/captions",
                    json={"note": "按讲稿校对", "base_version": 1, "segments": segments})
    assert r.status_code == 201, r.text
    edited = _wait(client, worker, video_id, lambda b: b["caption_version"] == 2 and _finished(b)
                   and all(j["state"] == "done" for j in b["jobs"]))  # hls follows the captions
    assert edited["status"] == "ready" and edited["captions"]["state"] == "ready", edited["captions"]
    assert edited["captions"]["source"] == "edited"
    before = {(a["kind"], a["label"]): a for a in lesson["assets"]}
    after = {(a["kind"], a["label"]): a for a in edited["assets"]}
    assert before.keys() == after.keys()
    for key in before:
        if key[0] in ("subtitles_vtt", "subtitles_srt", "transcript", "open_captions", "rendition", "hls"):
            assert after[key]["sha256"] != before[key]["sha256"], key
        else:
            assert after[key]["sha256"] == before[key]["sha256"], key
    new_vtt = parse_cues(fetch(client, after[("subtitles_vtt", None)]["url"], tmp_path / "v2.vtt").read_text("utf-8"))
    _readable(new_vtt)
    assert "长方形有四条边" in "".join("".join(c.lines) for c in new_vtt)
    for rendition in assets_of(edited, "rendition"):
        assert [c.lines for c in _embedded_subtitles(client, rendition, tmp_path)] == [c.lines for c in new_vtt]
    history = client.get(f"/api/v1/lessons/{video_id}/captions/versions").json()
    assert [(v["version"], v["source"], v["author"], v["published"]) for v in history["versions"]] == [
        (1, "auto", None, False), (2, "edited", "reviewer", True)]  # the account that edited, not a typed name
    assert history["versions"][1]["created_at"] >= history["versions"][0]["created_at"]
