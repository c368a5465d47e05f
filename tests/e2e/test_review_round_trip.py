"""County review end to end through a real worker, on both deployment shapes: an uploader's lesson is processed,
waits for review unseen by the public, is sent back for revision, comes back as revision 2 (multipart, then tus),
is approved and becomes public; the first revision's files stay archived and private."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.accounts import bearer, make_account, token_for
from tests.support.lessons import assets_of, stored_keys, wait_finished
from tests.support.media import make_plain_clip
from tests.uploads.tus import OCTET, V, metadata_header

pytestmark = pytest.mark.e2e


def _upload(client: TestClient, path: Path, headers: dict[str, str], url: str = "/api/v1/lessons",
            **form: str) -> Any:
    with path.open("rb") as fh:
        return client.post(url, files={"file": (path.name, fh, "video/mp4")}, data=form, headers=headers)


def test_a_lesson_goes_through_review_and_a_revision(stack_settings: Any, worker: Any, anonymous: TestClient,
                                                     tmp_path: Path, silent_video: Path) -> None:
    client = anonymous
    make_account(stack_settings, "dongfeng", "uploader", "东风村党支部")
    make_account(stack_settings, "xiling", "uploader", "西岭村党支部")
    make_account(stack_settings, "wang", "reviewer")
    branch, other, reviewer = (bearer(token_for(client, name)) for name in ("dongfeng", "xiling", "wang"))
    first = make_plain_clip(tmp_path / "第一版.mp4", duration_s=2.0)

    created = _upload(client, first, branch, title="田间地头讲党课")
    assert created.status_code == 201, created.text
    lesson_id = created.json()["id"]
    assert created.json()["branch"]["name"] == "东风村党支部"
    ready = wait_finished(client.__class__(client.app, headers=branch), [lesson_id], worker)[lesson_id]
    assert ready["status"] == "ready" and ready["review_state"] == "awaiting_review" and ready["revision"] == 1
    assert client.get(f"/api/v1/lessons/{lesson_id}").status_code == 404
    assert client.get(f"/api/v1/lessons/{lesson_id}", headers=other).status_code == 404
    first_rendition = assets_of(ready, "rendition")[0]
    first_original = assets_of(ready, "original")[0]

    # Not asked for yet: a revision is refused before a byte is stored.
    early = _upload(client, silent_video, branch, url=f"/api/v1/lessons/{lesson_id}/revisions")
    assert early.status_code == 409 and early.json()["code"] == "invalid_transition"

    sent_back = client.post(f"/api/v1/lessons/{lesson_id}/review", headers=reviewer, json={
        "action": "request_revision", "reasons": ["poor_sound"], "notes": [{"at_s": 1.0, "text": "声音太小"}]})
    assert sent_back.status_code == 200 and sent_back.json()["review_state"] == "revision_requested"
    assert _upload(client, silent_video, other, url=f"/api/v1/lessons/{lesson_id}/revisions").status_code == 404
    same = _upload(client, first, branch, url=f"/api/v1/lessons/{lesson_id}/revisions")
    assert same.status_code == 409 and same.json()["code"] == "already_uploaded"

    revised = _upload(client, silent_video, branch, url=f"/api/v1/lessons/{lesson_id}/revisions")
    assert revised.status_code == 201, revised.text
    assert revised.json()["id"] == lesson_id and revised.json()["revision"] == 2
    done = wait_finished(client.__class__(client.app, headers=branch), [lesson_id], worker)[lesson_id]
    assert done["status"] == "ready" and done["review_state"] == "awaiting_review" and done["revision"] == 2
    assert assets_of(done, "original")[0]["sha256"] != first_original["sha256"]
    assert assets_of(done, "rendition")[0]["url"] != first_rendition["url"]
    # The first revision's files are kept under its own keys; its asset URLs no longer answer.
    archived = stored_keys(stack_settings, f"lessons/{lesson_id}/r1/")
    assert f"lessons/{lesson_id}/r1/{first_rendition['label']}.mp4" in archived, archived
    assert f"lessons/{lesson_id}/r1/poster.jpg" in archived
    assert client.get(first_rendition["url"], headers=reviewer).status_code == 404
    history = client.get(f"/api/v1/lessons/{lesson_id}/revisions", headers=branch).json()
    assert [(r["number"], r["sha256"]) for r in history["revisions"]][0] == (1, first_original["sha256"])
    assert history["current"] == 2
    assert client.get(f"/api/v1/lessons/{lesson_id}/revisions", headers=other).status_code == 404

    # A second round, by tus, with revision_of in the metadata.
    client.post(f"/api/v1/lessons/{lesson_id}/review", headers=reviewer,
                json={"action": "request_revision", "reasons": ["poor_picture"]})
    third = make_plain_clip(tmp_path / "第三版.mp4", duration_s=2.5).read_bytes()
    r = client.post("/api/v1/uploads/", headers={**V, **branch, "Upload-Length": str(len(third)),
                                                 "Upload-Metadata": metadata_header(revision_of=lesson_id,
                                                                                    filename="第三版.mp4")})
    assert r.status_code == 201, r.text
    path = "/" + r.headers["Location"].split("/", 3)[3]
    finished = client.patch(path, content=third, headers={**V, **OCTET, "Upload-Offset": "0"})
    assert finished.status_code == 204 and finished.headers["Weike-Lesson-Id"] == lesson_id
    done = wait_finished(client.__class__(client.app, headers=branch), [lesson_id], worker)[lesson_id]
    assert done["revision"] == 3 and done["review_state"] == "awaiting_review"

    approved = client.post(f"/api/v1/lessons/{lesson_id}/review", headers=reviewer, json={"action": "approve"})
    assert approved.status_code == 200 and approved.json()["review_state"] == "published"
    public = client.get(f"/api/v1/lessons/{lesson_id}").json()
    assert public["revision"] == 3 and not assets_of(public, "original") and assets_of(public, "rendition")
    history = client.get(f"/api/v1/lessons/{lesson_id}/history", headers=branch).json()  # the branch's own record
    actions = [e["action"] for e in history["entries"]]
    assert actions == ["request_revision", "revision_uploaded", "request_revision", "revision_uploaded", "approve"]
