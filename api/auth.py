"""Who is asking: a bearer token (PyJWT, HS256, algorithm pinned) or a browser session cookie with CSRF protection.

- `Authorization: Bearer <jwt>`: a token from POST /api/v1/auth/token. A token that does not verify (tampered,
  expired, another algorithm, `alg: none`), or whose account is disabled or whose password changed since, is 401
  on every route that asks who the caller is, public reads included: the caller meant to be someone and is told
  they are not. (Routes that never look, such as /healthz, reference data and a tus upload's own URL, ignore it.)
- Cookie `weike_session`: a login on /login. State-changing requests with it need the session's CSRF token, in the
  `X-CSRF-Token` header (scripts) or, on the few HTML forms that opt in, a `csrf_token` form field.
- Neither: anonymous.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import Request
from sqlmodel import Session

from api.errors import ApiError
from catalog.accounts import get_account_by_id, viewer_of, web_session
from catalog.lifecycle import ANONYMOUS, Viewer
from catalog.models import Account
from workers.settings import Settings

ALGORITHM = "HS256"
SESSION_COOKIE = "weike_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="weike"'}


def not_authenticated(detail: str = "no credentials") -> ApiError:
    return ApiError(401, "not_authenticated", "请先登录", detail, headers=BEARER_CHALLENGE)


def invalid_token(detail: str) -> ApiError:
    return ApiError(401, "invalid_token", "登录已失效，请重新登录", detail,
                    headers={"WWW-Authenticate": 'Bearer realm="weike", error="invalid_token"'})


def issue_token(settings: Settings, account: Account) -> tuple[str, int]:
    """A signed access token for `account` and its lifetime in seconds."""
    now = datetime.now(UTC)
    claims = {"sub": account.username, "uid": account.id, "ep": account.token_epoch, "iat": now,
              "exp": now + timedelta(seconds=settings.token_ttl_s)}
    return jwt.encode(claims, settings.signing_key(), algorithm=ALGORITHM), settings.token_ttl_s


def _account_for_token(session: Session, settings: Settings, token: str) -> Account:
    try:
        claims: dict[str, Any] = jwt.decode(token, settings.signing_key(), algorithms=[ALGORITHM],
                                            options={"require": ["exp", "iat", "sub", "uid"]})
    except jwt.PyJWTError as exc:
        raise invalid_token(f"{type(exc).__name__}: {exc}") from exc
    uid = claims.get("uid")
    account = get_account_by_id(session, uid) if isinstance(uid, int) else None
    if account is None or account.username != claims.get("sub"):
        raise invalid_token("no such account")
    if account.disabled or account.token_epoch != claims.get("ep"):
        raise invalid_token(f"account {account.username} disabled or its password changed")
    return account


@dataclass(frozen=True)
class Caller:
    """The viewer, and how they proved it (a cookie session carries its CSRF token)."""

    viewer: Viewer
    account: Account | None = None
    csrf_token: str | None = None  # set for cookie sessions


def identify(request: Request, session: Session, settings: Settings) -> Caller:
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise invalid_token(f"authorization scheme {scheme!r}")
        account = _account_for_token(session, settings, token.strip())
        return Caller(viewer_of(account), account)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = web_session(session, cookie)
        if found is not None:
            account, row = found
            return Caller(viewer_of(account), account, csrf_token=row.csrf_token)
    return Caller(ANONYMOUS)


def csrf_ok(caller: Caller, presented: str | None) -> bool:
    if caller.csrf_token is None:  # bearer tokens and anonymous callers carry no ambient authority
        return True
    return presented is not None and hmac.compare_digest(presented.encode(), caller.csrf_token.encode())


def check_csrf(request: Request, caller: Caller) -> None:
    if request.method in SAFE_METHODS:
        return
    if not csrf_ok(caller, request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "csrf_failed", "页面已过期，请刷新后重试", "missing or wrong CSRF token")
