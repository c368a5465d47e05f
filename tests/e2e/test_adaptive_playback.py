"""A processed video lesson plays adaptively: through a real worker, on both deployment shapes, its lesson JSON carries
an `hls` asset whose master playlist, media playlists and segments the API serves (Range, ETag/304, content types,
only names of the presentation), and a caption edit brings the subtitles into the presentation."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.lessons import assets_of, stored_keys, upload, wait_finished
from tests.support.media import make_landscape_720p_clip

pytestmark = pytest.mark.e2e


def _playlist_names(text: str) -> list[str]:
    names = [line for line in text.splitlines() if line and not line.startswith("#")]
    return names + re.findall(r'URI="([^"]+)"', text)


def test_a_processed_lesson_has_an_hls_presentation_served_by_relative_names(
        client: TestClient, anonymous: TestClient, worker: Any, stack_settings: Any, tmp_path: Path) -> None:
    clip = make_landscape_720p_clip(tmp_path / "clip.mp4", duration_s=9.0)
    lesson_id = upload(client, clip, title="自适应播放")["id"]
    lesson = wait_finished(client, [lesson_id], worker)[lesson_id]
    assert lesson["status"] == "ready", lesson
    [hls] = assets_of(lesson, "hls")
    assert hls["mime_type"] == "application/vnd.apple.mpegurl" and hls["url"].endswith("/content/master.m3u8")
    assert (hls["width"], hls["height"]) == (1280, 720)

    master = client.get(hls["url"])
    assert master.status_code == 200 and master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "SUBTITLES" not in master.text  # no captions yet
    base = hls["url"].rsplit("/", 1)[0]
    assert _playlist_names(master.text) == ["360p.m3u8", "720p.m3u8"]
    assert re.search(r"BANDWIDTH=\d+,AVERAGE-BANDWIDTH=\d+,CODECS=\"avc1\.[0-9a-f]{6},mp4a\.40\.2\","
                     r"RESOLUTION=1280x720", master.text)
    # The generic asset URL sends a player to the presentation's own URL, where the relative names resolve.
    moved = client.get(f"/api/v1/assets/{hls['id']}/content", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == hls["url"]

    media = client.get(f"{base}/720p.m3u8")
    assert media.status_code == 200 and "#EXT-X-PLAYLIST-TYPE:VOD" in media.text
    init, first, *rest = _playlist_names(media.text)[-1:] + _playlist_names(media.text)[:-1]
    assert init == "720p-init.mp4" and first == "720p-00000.m4s" and rest
    whole = client.get(f"{base}/{first}")
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes" and whole.content[4:8] in (b"styp", b"moof")
    part = client.get(f"{base}/{first}", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == whole.content[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(whole.content)}"
    again = client.get(f"{base}/{first}", headers={"If-None-Match": whole.headers["etag"]})
    assert again.status_code == 304
    assert "max-age" in whole.headers["cache-control"] or "no-cache" in whole.headers["cache-control"]

    # Only names of the presentation, never a path out of it.
    for name in ("..%2F360p.mp4", "../360p.mp4", "%2e%2e", ".hidden.m3u8", "variants.json", "360p.mp4.exe",
                 "720p-99999.m4s", "..%2F..%2Foriginals"):
        assert client.get(f"{base}/{name}").status_code == 404, name
    # Not published yet: the public gets nothing, as for every other asset of the lesson.
    assert anonymous.get(hls["url"]).status_code == 404
    assert anonymous.get(f"{base}/{first}").status_code == 404

    keys = stored_keys(stack_settings, f"lessons/{lesson_id}/hls-r1/")
    assert not [k for k in keys if k.startswith("(")], keys  # nothing half-written
    assert {Path(k).name for k in keys} >= {"master.m3u8", "variants.json", "360p.m3u8", "720p.m3u8"}

    # Captions typed by a reviewer: the presentation gets a subtitle rendition, its master a new key.
    from workers.caption_edits import save_edited_captions
    from workers.wiring import context_for

    save_edited_captions(context_for(stack_settings), lesson_id, author="王老师", segments=[
        {"start_s": 0.5, "end_s": 3.0, "text": "同志们好。"}, {"start_s": 3.0, "end_s": 6.0, "text": "今天讲党课。"}])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = client.get(hls["url"]).text
        if "SUBTITLES" in text:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the subtitles never reached the master playlist\n{worker.log_tail()}")
    subtitles = re.search(r'TYPE=SUBTITLES,GROUP-ID="subs",NAME="中文",LANGUAGE="zh-CN",DEFAULT=YES,'
                          r'AUTOSELECT=YES,URI="(subtitles-[0-9a-f]{12}\.m3u8)"', text)
    assert subtitles and text.count('SUBTITLES="subs"') == 2, text
    playlist = client.get(f"{base}/{subtitles.group(1)}").text
    [vtt_name] = _playlist_names(playlist)
    vtt = client.get(f"{base}/{vtt_name}")
    assert vtt.headers["content-type"].startswith("text/vtt") and "今天讲党课" in vtt.text
    assert "X-TIMESTAMP-MAP" in vtt.text
