"""Who is asking: bearer tokens that must verify, accounts that can be disabled, passwords that end old logins,
a login limit per username, and browser sessions with an HttpOnly cookie and a CSRF token."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import SESSION_COOKIE
from catalog.accounts import disable_account, get_account, set_password
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson, get_lesson
from catalog.models import LessonStatus
from catalog.organisations import branch_for_name
from tests.support.accounts import PASSWORD, bearer, form_login, make_account, token_for
from workers.settings import Settings
from workers.wiring import context_for

NEW_PASSWORD = "新的-Password-2027"


@pytest.fixture
def client(stack_settings: Settings) -> Iterator[TestClient]:
    """Nobody logged in; redirects are answers to look at, not to follow."""
    with TestClient(create_app(stack_settings), follow_redirects=False) as c:
        yield c


@pytest.fixture
def embedded(tmp_path: Any) -> Settings:
    """For what is the same on every stack (redirects, escaping): the embedded shape only."""
    from tests.support.stacks import build_embedded

    return build_embedded(tmp_path / "var")  # type: ignore[no-any-return]


@pytest.fixture
def page_client(embedded: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(embedded), follow_redirects=False) as c:
        yield c


def _lesson(settings: Settings, state: str) -> str:
    """A processed lesson of 东风村党支部 in review state `state`, made in the catalog."""
    with unit_of_work(context_for(settings).engine) as s:
        digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
        lesson = create_lesson(s, fields=LessonFields(title="田间讲党课"), original_key=f"originals/{digest}",
                               original_sha256=digest, size_bytes=1, original_filename="课.mp4",
                               branch_id=branch_for_name(s, "东风村党支部").id)
        lesson.status, lesson.progress, lesson.duration_s, lesson.review_state = LessonStatus.READY, 100, 10.0, state
        s.add(lesson)
        return lesson.id


def _claims(settings: Settings, username: str, **changes: Any) -> dict[str, Any]:
    with unit_of_work(context_for(settings).engine) as s:
        account = get_account(s, username)
        assert account is not None
        now = int(time.time())
        return {"sub": account.username, "uid": account.id, "ep": account.token_epoch, "iat": now,
                "exp": now + 600, **changes}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _refused(r: Any) -> bool:
    return (r.status_code == 401 and r.json()["code"] == "invalid_token"
            and r.headers["www-authenticate"].startswith("Bearer") and 'error="invalid_token"' in
            r.headers["www-authenticate"])


def _routes_that_identify(published: str) -> list[tuple[str, str]]:
    """/me, public reads (a published lesson, lists, search), a page, and a change."""
    return [("GET", "/api/v1/me"), ("GET", "/api/v1/lessons"), ("GET", f"/api/v1/lessons/{published}"),
            ("GET", f"/api/v1/lessons/{published}/history"), ("GET", "/api/v1/transcripts/search?q=党课"),
            ("GET", "/upload"), ("POST", f"/api/v1/lessons/{published}/feature")]


def test_me_answers_username_role_and_org(client: TestClient, stack_settings: Settings) -> None:
    make_account(stack_settings, "dongfeng", "uploader", "东风村党支部")
    make_account(stack_settings, "xianli", "reviewer")
    r = client.post("/api/v1/auth/token", data={"username": "dongfeng", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    assert r.json()["expires_in"] == stack_settings.token_ttl_s
    me = client.get("/api/v1/me", headers=bearer(r.json()["access_token"])).json()
    assert (me["username"], me["role"], me["org"]["name"]) == ("dongfeng", "uploader", "东风村党支部")
    me = client.get("/api/v1/me", headers=bearer(token_for(client, "xianli"))).json()
    assert (me["username"], me["role"], me["org"]) == ("xianli", "reviewer", None)
    nobody = client.get("/api/v1/me")
    assert nobody.status_code == 401 and nobody.json()["code"] == "not_authenticated"
    assert nobody.headers["www-authenticate"].startswith("Bearer")


def test_tokens_that_do_not_verify_are_refused_everywhere(client: TestClient, stack_settings: Settings) -> None:
    settings = stack_settings
    make_account(settings, "dongfeng", "uploader", "东风村党支部")
    make_account(settings, "xianli", "reviewer")
    published = _lesson(settings, "published")
    good = token_for(client, "dongfeng")
    header, payload, signature = good.split(".")
    key = settings.signing_key()
    now = int(time.time())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = {
        "tampered signature": f"{header}.{payload}.{signature[::-1]}",
        # The uploader's signature over a payload that claims to be the reviewer.
        "tampered payload": f"{header}.{_b64(_claims(settings, 'xianli'))}.{signature}",
        "expired": jwt.encode(_claims(settings, "dongfeng", iat=now - 7200, exp=now - 3600), key, algorithm="HS256"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(settings, 'xianli'))}.",
        "HS512 with the app's key": jwt.encode(_claims(settings, "xianli"), key, algorithm="HS512"),
        "HS256 with another key": jwt.encode(_claims(settings, "xianli"), "k" * 64, algorithm="HS256"),
        "RS256 with its own key": jwt.encode(_claims(settings, "xianli"), rsa_key, algorithm="RS256"),
        "without exp": jwt.encode({k: v for k, v in _claims(settings, "xianli").items() if k != "exp"}, key,
                                  algorithm="HS256"),
        "an unknown account": jwt.encode(_claims(settings, "xianli", uid=99999), key, algorithm="HS256"),
        "another account's name": jwt.encode(_claims(settings, "xianli", sub="dongfeng"), key, algorithm="HS256"),
        "an old password's epoch": jwt.encode(_claims(settings, "xianli", ep=-1), key, algorithm="HS256"),
        "not a JWT": "abc.def",
    }
    for url in ("/api/v1/me", f"/api/v1/lessons/{published}"):  # the control
        assert client.get(url, headers=bearer(good)).status_code == 200
    # Built here like the bad ones, but rightly signed: accepted, so the bad ones fail for what is wrong with them.
    made_here = jwt.encode(_claims(settings, "xianli"), key, algorithm="HS256")
    assert client.get("/api/v1/me", headers=bearer(made_here)).json()["username"] == "xianli"
    for name, token in bad.items():
        for method, url in _routes_that_identify(published):
            r = client.request(method, url, headers=bearer(token), json={"featured": True})
            assert _refused(r), (name, method, url, r.status_code, r.text[:200])
    # Another scheme is no token at all, and is not taken for anonymous either.
    r = client.get("/api/v1/lessons", headers={"Authorization": "Basic ZG9uZ2Zlbmc6eA=="})
    assert _refused(r), r.text


def test_a_disabled_account_is_refused_at_once(client: TestClient, stack_settings: Settings) -> None:
    make_account(stack_settings, "dongfeng", "uploader", "东风村党支部")
    published = _lesson(stack_settings, "published")
    token = token_for(client, "dongfeng")
    session = _log_in(client, "dongfeng")
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    with unit_of_work(context_for(stack_settings).engine) as s:
        disable_account(s, "dongfeng", actor="cli")
    client.cookies.set(SESSION_COOKIE, session)
    assert client.get("/api/v1/me").status_code == 401 and client.get("/upload").status_code == 303
    client.cookies.clear()
    for method, url in _routes_that_identify(published):
        assert _refused(client.request(method, url, headers=bearer(token), json={"featured": True})), url
    login = client.post("/api/v1/auth/token", data={"username": "dongfeng", "password": PASSWORD})
    # Exactly as a wrong password: a disabled account is not told apart from a mistyped one.
    assert (login.status_code, login.json()["code"]) == (401, "invalid_credentials")
    wrong = client.post("/api/v1/auth/token", data={"username": "dongfeng", "password": "不对的密码-12345"})
    assert wrong.json() == login.json()


def test_a_new_password_ends_old_tokens_and_sessions(client: TestClient, stack_settings: Settings) -> None:
    make_account(stack_settings, "dongfeng", "uploader", "东风村党支部")
    old_token = token_for(client, "dongfeng")
    session = _log_in(client, "dongfeng")
    assert client.get("/api/v1/me").status_code == 200  # the cookie
    with unit_of_work(context_for(stack_settings).engine) as s:
        set_password(s, "dongfeng", NEW_PASSWORD, actor="cli")
    assert _refused(client.get("/api/v1/me", headers=bearer(old_token)))
    client.cookies.set(SESSION_COOKIE, session)
    assert client.get("/api/v1/me").status_code == 401  # the session is gone: anonymous
    assert client.get("/upload").status_code == 303
    client.cookies.clear()
    old = client.post("/api/v1/auth/token", data={"username": "dongfeng", "password": PASSWORD})
    assert old.status_code == 401
    new_token = token_for(client, "dongfeng", NEW_PASSWORD)
    assert client.get("/api/v1/me", headers=bearer(new_token)).json()["username"] == "dongfeng"


def _attempt(client: TestClient, form: bool, username: str, password: str) -> Any:
    client.cookies.clear()
    if form:
        return form_login(client, username, password, "/upload")
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


@pytest.mark.parametrize("form", [False, True], ids=["api", "login-page"])
def test_five_failures_for_a_username_throttle_its_logins(client: TestClient, stack_settings: Settings,
                                                         form: bool) -> None:
    make_account(stack_settings, "dongfeng", "uploader", "东风村党支部")
    make_account(stack_settings, "xianli", "reviewer")
    success = 303 if form else 200
    for username in ("dongfeng", "nobody-here"):  # a known and an unknown username alike
        for _ in range(5):
            assert _attempt(client, form, username, "猜一猜-password").status_code == 401
        throttled = _attempt(client, form, username, "猜一猜-password")
        assert throttled.status_code == 429, throttled.text
        assert 1 <= int(throttled.headers["retry-after"]) <= stack_settings.login_failure_window_s + 1
        if form:
            assert "text/html" in throttled.headers["content-type"] and "请" in throttled.text
        else:
            assert throttled.json()["code"] == "too_many_login_failures"
    # While throttled, even the right password is refused, and no cookie or token is handed out.
    right = _attempt(client, form, "dongfeng", PASSWORD)
    assert right.status_code == 429 and "retry-after" in right.headers
    assert SESSION_COOKIE not in right.headers.get("set-cookie", "") and "access_token" not in right.text
    # Other usernames are not affected.
    assert _attempt(client, form, "xianli", PASSWORD).status_code == success


def test_guesses_sent_at_the_same_moment_are_throttled_like_guesses_sent_one_by_one(stack_settings: Settings) -> None:
    """Twelve wrong passwords at once, each in its own request: only the first five are checked (each attempt
    counts from its start), the rest are throttled, and then even the right password is."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from catalog.accounts import authenticate
    from catalog.errors import InvalidCredentials, LoginThrottled

    make_account(stack_settings, "dongfeng", "uploader", "东风村党支部")
    engine = context_for(stack_settings).engine
    start = threading.Barrier(12)

    def guess(n: int) -> str:
        start.wait()
        try:
            with unit_of_work(engine) as s:
                authenticate(s, "dongfeng", f"猜一猜-{n}", max_failures=5, window_s=900)
        except InvalidCredentials:
            return "checked"
        except LoginThrottled:
            return "throttled"
        return "logged in"

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(guess, range(12)))
    assert sorted(outcomes) == ["checked"] * 5 + ["throttled"] * 7, outcomes
    with pytest.raises(LoginThrottled), unit_of_work(engine) as s:
        authenticate(s, "dongfeng", PASSWORD, max_failures=5, window_s=900)
    make_account(stack_settings, "xianli", "reviewer")
    with unit_of_work(engine) as s:  # another username is not affected
        assert authenticate(s, "xianli", PASSWORD, max_failures=5, window_s=900).username == "xianli"


def test_failures_count_across_the_api_and_the_login_page(client: TestClient, stack_settings: Settings) -> None:
    make_account(stack_settings, "dongfeng", "uploader", "东风村党支部")
    for form in (False, True, False, True, False):
        assert _attempt(client, form, "dongfeng", "猜一猜-password").status_code == 401
    assert _attempt(client, True, "dongfeng", PASSWORD).status_code == 429
    assert _attempt(client, False, "dongfeng", PASSWORD).status_code == 429


def _log_in(client: TestClient, username: str, password: str = PASSWORD, next: str = "/my-uploads") -> str:
    """Log in through the form; the session cookie's value (the client keeps the cookie too)."""
    r = form_login(client, username, password, next)
    assert r.status_code == 303, r.text
    return client.cookies[SESSION_COOKIE]


def _csrf_token(client: TestClient) -> str:
    page = client.get("/my-uploads")
    assert page.status_code == 200, page.text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found is not None
    return found.group(1)


def test_cookie_sessions_need_the_csrf_token_to_change_anything(client: TestClient, stack_settings: Settings
                                                               ) -> None:
    make_account(stack_settings, "xianli", "reviewer")
    lesson_id = _lesson(stack_settings, "awaiting_review")
    r = form_login(client, "xianli", PASSWORD, "/my-uploads")
    assert (r.status_code, r.headers["location"]) == (303, "/my-uploads")
    cookie = r.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=lax" and attributes["path"] == "Path=/"
    assert client.get("/api/v1/me").json()["username"] == "xianli"  # reads need no token

    approve = {"action": "approve", "comment": "可以发布"}
    url = f"/api/v1/lessons/{lesson_id}/review"
    for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
        refused = client.post(url, json=approve, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (403, "csrf_failed"), refused.text
    tus = client.post("/api/v1/uploads/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "8"})
    assert (tus.status_code, tus.json()["code"]) == (403, "csrf_failed")
    # A multipart form is what another site can post without asking: the upload needs the token too.
    upload = client.post("/api/v1/lessons", data={"title": "别人网站提交的"},
                         files={"file": ("课.mp4", b"not from this site", "application/octet-stream")})
    assert (upload.status_code, upload.json()["code"]) == (403, "csrf_failed")
    with unit_of_work(context_for(stack_settings).engine) as s:
        lesson = get_lesson(s, lesson_id)
        assert lesson is not None and lesson.review_state == "awaiting_review"

    token = _csrf_token(client)
    done = client.post(url, json=approve, headers={"X-CSRF-Token": token})
    assert done.status_code == 200 and done.json()["review_state"] == "published", done.text
    tus = client.post("/api/v1/uploads/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "8",
                                                   "X-CSRF-Token": token})
    assert tus.status_code == 201, tus.text


def test_an_expired_browser_session_is_nobody(client: TestClient, stack_settings: Settings) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from catalog.models import WebSession, utcnow

    make_account(stack_settings, "dongfeng", "uploader", "东风村党支部")
    _log_in(client, "dongfeng")
    assert client.get("/api/v1/me").status_code == 200
    with unit_of_work(context_for(stack_settings).engine) as s:
        s.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/my-uploads").headers["location"] == "/login?next=/my-uploads"


def test_the_login_page_shows_a_typed_username_as_text(page_client: TestClient) -> None:
    r = form_login(page_client, "<script>alert(1)</script>", "x" * 8, "/upload")
    assert r.status_code == 401 and "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
    assert "用户名或密码" in r.text or "登录" in r.text


def test_another_site_cannot_log_a_browser_into_its_own_account(page_client: TestClient, embedded: Settings) -> None:
    """Login CSRF: a page elsewhere posts the login form with the attacker's account, so that the member's uploads
    would go to the attacker's branch. Without the form's token (its cookie is SameSite=Strict and only /login's)
    the post logs nobody in; with the form opened here first it does."""
    make_account(embedded, "attacker", "uploader", "西岭村党支部")
    forged = page_client.post("/login", data={"username": "attacker", "password": PASSWORD, "next": "/upload"})
    assert forged.status_code == 403 and "页面已过期" in forged.text and SESSION_COOKIE not in forged.cookies
    assert page_client.get("/upload").status_code == 303  # still nobody
    opened = page_client.get("/login")
    cookie = opened.headers["set-cookie"]
    assert "samesite=strict" in cookie.lower() and "path=/login" in cookie.lower() and "httponly" in cookie.lower()
    with TestClient(create_app(embedded), follow_redirects=False) as elsewhere:  # its own token, not this browser's
        theirs = re.search(r'name="login_token" value="([^"]+)"', elsewhere.get("/login").text)
        assert theirs is not None
        guessed = page_client.post("/login", data={"username": "attacker", "password": PASSWORD, "next": "/upload",
                                                   "login_token": theirs.group(1)})
        assert guessed.status_code == 403 and SESSION_COOKIE not in guessed.cookies
    # The refusal's form carries this browser's token: typing the password again logs in.
    again = re.search(r'name="login_token" value="([^"]+)"', guessed.text)
    assert again is not None
    done = page_client.post("/login", data={"username": "attacker", "password": PASSWORD, "next": "/upload",
                                            "login_token": again.group(1)})
    assert done.status_code == 303 and SESSION_COOKIE in done.cookies


def test_logout_needs_the_form_token_and_ends_the_session(client: TestClient, stack_settings: Settings) -> None:
    make_account(stack_settings, "dongfeng", "uploader", "东风村党支部")
    session = _log_in(client, "dongfeng")
    token = _csrf_token(client)
    # A logout forged by another site (no token) does nothing.
    forged = client.post("/logout", data={})
    assert forged.status_code == 303
    client.cookies.set(SESSION_COOKIE, session)
    assert client.get("/api/v1/me").status_code == 200

    out = client.post("/logout", data={"csrf_token": token})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, session)  # the old cookie, kept by someone
    me = client.get("/api/v1/me")
    assert (me.status_code, me.json()["code"]) == (401, "not_authenticated")
    assert client.get("/upload").status_code == 303


OFF_SITE = ["//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example/", "//evil.example/upload",
            "\\\\evil.example", "/\n/evil.example", "http:evil.example", "javascript:alert(1)"]


def _stays_on_site(location: str) -> bool:
    """Where a browser would go: it drops tabs and newlines and reads a backslash as a slash."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    target = urlsplit(urljoin("http://testserver/login", cleaned))
    return target.netloc == "testserver" and target.scheme == "http"


def test_login_never_sends_the_browser_off_site(page_client: TestClient, embedded: Settings) -> None:
    client = page_client
    make_account(embedded, "dongfeng", "uploader", "东风村党支部")
    for target in OFF_SITE[:3]:  # each login spends a password hash: three through the form
        client.cookies.clear()  # logged in, the login page would not show its form
        r = form_login(client, "dongfeng", PASSWORD, target)
        assert r.status_code == 303 and _stays_on_site(r.headers["location"]), (target, r.headers["location"])
    for target in OFF_SITE:  # already logged in, the login page sends the browser on at once
        again = client.get("/login", params={"next": target})
        assert again.status_code == 303 and _stays_on_site(again.headers["location"]), (target, again.headers)
    client.cookies.clear()
    kept = form_login(client, "dongfeng", PASSWORD, "/my-uploads?x=1")
    assert kept.headers["location"] == "/my-uploads?x=1"
