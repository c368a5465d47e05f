"""Copy detection through a real worker, on both deployment shapes: four small films are uploaded together and
processed in whatever order the worker takes them; the `similarity` step of each finds the others (both ways), the
re-encoded, cropped copy with new sound and the film that re-uses the original's recording carry `possible_copy`,
the original and an unrelated film do not, and the reviewer's desk shows the flag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.films import SCENES, film
from tests.support.lessons import upload, wait_finished
from tests.support.media import run_tool
from tests.support.services import require_tool

pytestmark = pytest.mark.e2e


def _speech(dest: Path, text: str, voice: str) -> Path:
    run_tool("espeak-ng", "-v", f"cmn-latn-pinyin+{voice}", "-s", "170", "-w", dest, text)
    return dest


def _film(dest: Path, scenes: list[str], sound: Path) -> Path:
    """12 s of 640x360 lavfi scenes (the first four of `scenes`, one every 3 s) with `sound`, at crf 23 (libx264's
    default, which these films were always made with)."""
    return film(dest, scenes[:4], sound, crf=23)


def _films(folder: Path) -> dict[str, Path]:
    for tool in ("ffmpeg", "espeak-ng", "fpcalc"):
        require_tool(tool)
    speech = _speech(folder / "a.wav", "党员志愿服务队每个星期六上午到敬老院打扫卫生，给老人理发，陪老人聊天。", "m3")
    other = _speech(folder / "b.wav", "渔港社区的党员成立了护渔队，每天晚上轮流巡查码头，提醒渔船按时回港。", "m7")
    third = _speech(folder / "c.wav", "今年春耕时节，村里组织党员技术员下田指导，帮助群众选良种、测土壤。", "f2")
    original = _film(folder / "服务队.mp4", SCENES["A"], speech)
    copy = folder / "服务队-转发.mp4"  # smaller, 4 % cropped, a logo, and other sound
    run_tool("ffmpeg", "-i", original, "-i", third, "-map", "0:v", "-map", "1:a", "-shortest", "-vf",
             "crop=iw*0.96:ih*0.96,scale=480:270,drawbox=x=iw*0.86:y=ih*0.03:w=iw*0.11:h=ih*0.1:color=red@0.8:t=fill",
             "-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-c:a", "aac", copy)
    again = folder / "a-again.wav"  # the same recording, through another encoder
    run_tool("ffmpeg", "-i", speech, "-af", "volume=-4dB", "-ar", "22050", again)
    return {"original": original, "copy": copy, "same sound": _film(folder / "换画面.mp4", SCENES["B"], again),
            "unrelated": _film(folder / "护渔队.mp4", SCENES["C"], other)}


def test_copies_are_flagged_and_shown_at_the_desk(client: TestClient, worker: Any, tmp_path: Path) -> None:
    films = _films(tmp_path)
    ids = {name: upload(client, path, title=path.stem)["id"] for name, path in films.items()}
    done = wait_finished(client, list(ids.values()), worker)
    for name, lesson_id in ids.items():
        lesson = done[lesson_id]
        assert lesson["status"] == "ready", (name, lesson)
        assert {j["step"]: j["state"] for j in lesson["jobs"]}["similarity"] == "done", (name, lesson["jobs"])

    flags = {name: client.get(f"/api/v1/lessons/{lesson_id}").json()["possible_copy"] for name, lesson_id in ids.items()}
    assert flags == {"original": False, "copy": True, "same sound": True, "unrelated": False}, worker.log_tail()

    similar = {name: client.get(f"/api/v1/lessons/{lesson_id}/similar").json() for name, lesson_id in ids.items()}
    [by_footage] = similar["copy"]
    assert by_footage["lesson_id"] == ids["original"] and by_footage["signals"]["footage"] >= 0.5
    assert by_footage["signals"]["sound"] is not None and by_footage["signals"]["sound"] < 0.3
    copy_s = done[ids["copy"]]["duration_s"]  # as long as its new sound
    [span] = by_footage["spans"]  # the whole copy, from the original's start
    assert span["start_s"] <= 1.0 and span["end_s"] >= copy_s - 1.0 and span["other_start_s"] <= 1.0
    assert abs((span["other_end_s"] - span["other_start_s"]) - (span["end_s"] - span["start_s"])) <= 1.0
    [by_sound] = similar["same sound"]
    assert by_sound["lesson_id"] == ids["original"] and by_sound["signals"]["sound"] >= 0.5
    assert by_sound["signals"]["footage"] is not None and by_sound["signals"]["footage"] < 0.3
    assert sorted(i["lesson_id"] for i in similar["original"]) == sorted([ids["copy"], ids["same sound"]])
    assert similar["unrelated"] == []

    desk = client.get(f"/review/{ids['copy']}")
    assert desk.status_code == 200 and 'id="possible-copy"' in desk.text
    assert 'id="possible-copy"' not in client.get(f"/review/{ids['original']}").text
