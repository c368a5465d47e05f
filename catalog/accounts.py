"""Accounts: creation and changes (each with an audit row), Argon2id passwords, the login limit, browser sessions.

Passwords are hashed with argon2-cffi's PasswordHasher (Argon2id, its RFC 9106 low-memory profile). A login for
an unknown username still spends one hash verification, and failures count per username whether it exists or
not, so neither the answer nor its timing tells which usernames exist.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from catalog.audit import record
from catalog.errors import (
    AccountExists,
    AccountInvalid,
    AccountNotFound,
    InvalidCredentials,
    LoginThrottled,
)
from catalog.lifecycle import Viewer
from catalog.models import Account, LoginFailure, Organisation, OrgKind, Role, WebSession, utcnow

# Argon2id parameters by name: "standard" is argon2-cffi's default (RFC 9106 low-memory: 3 passes over 64 MiB);
# "fast" (1 pass over 64 KiB) is for the test suite only, where hundreds of accounts are made and logged in: it keeps
# every check real but protects a stolen hash from nobody. Hashes verify with the parameters they carry.
PASSWORD_HASHING = {"standard": PasswordHasher(), "fast": PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)}
_hasher = PASSWORD_HASHING["standard"]
_dummy_hash: str | None = None  # verified for unknown usernames, so that a login takes as long either way


def use_password_hashing(name: str) -> None:
    """Hash new passwords with the PASSWORD_HASHING parameters `name` (Settings.password_hashing); a login with a
    hash made otherwise rehashes it."""
    global _hasher, _dummy_hash
    if name not in PASSWORD_HASHING:
        raise ValueError(f"unknown password hashing {name!r}")
    _hasher, _dummy_hash = PASSWORD_HASHING[name], None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("not a password of anyone")
    return _dummy_hash
USERNAME = re.compile(r"[\w.@-]{2,64}")
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
# Which kind of organisation each role belongs to (None: the county, no organisation).
ORG_KIND_FOR_ROLE: dict[Role, OrgKind | None] = {
    Role.UPLOADER: OrgKind.BRANCH, Role.ORGANISER: OrgKind.TOWNSHIP, Role.REVIEWER: None, Role.ADMIN: None}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise AccountInvalid(f"password of {len(password)} characters",
                             message=f"密码至少需要 {MIN_PASSWORD_CHARS} 个字符")
    return password


def viewer_of(account: Account) -> Viewer:
    return Viewer(username=account.username, role=Role(account.role), account_id=account.id, org_id=account.org_id)


def get_account(session: Session, username: str) -> Account | None:
    return session.exec(select(Account).where(Account.username == username.strip())).first()


def get_account_by_id(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def list_accounts(session: Session) -> list[Account]:
    return list(session.exec(select(Account).order_by(col(Account.username))).all())


def has_admin(session: Session) -> bool:
    stmt = select(func.count()).select_from(Account).where(Account.role == Role.ADMIN, col(Account.disabled).is_(False))
    return int(session.exec(stmt).one()) > 0


def _org_for(session: Session, role: Role, org_name: str | None) -> Organisation | None:
    kind = ORG_KIND_FOR_ROLE[role]
    if kind is None:
        if org_name:
            raise AccountInvalid(f"{role} with org {org_name!r}", message="审核员和管理员不属于某个支部或乡镇")
        return None
    label = "支部" if kind == OrgKind.BRANCH else "乡镇"
    if not org_name or not org_name.strip():
        raise AccountInvalid(f"{role} without org", message=f"请用 --org 指定所属{label}")
    orgs = find_org(session, org_name, kind)
    if not orgs:
        raise AccountInvalid(f"no {kind} named {org_name!r}",
                             message=f"找不到名为“{org_name.strip()}”的{label}，请先导入组织架构")
    if len(orgs) > 1:
        raise AccountInvalid(f"{len(orgs)} {kind}s named {org_name!r}",
                             message=f"有多个名为“{org_name.strip()}”的{label}，请用“乡镇/支部”写明")
    return orgs[0]


def find_org(session: Session, ref: str, kind: OrgKind) -> list[Organisation]:
    """Organisations of `kind` named `ref`, or `township/branch` for a branch whose name repeats."""
    township, _, name = ref.strip().rpartition("/")
    stmt = select(Organisation).where(Organisation.name == name.strip(), Organisation.kind == kind)
    found = list(session.exec(stmt).all())
    if township:
        parents = {o.id for o in session.exec(select(Organisation).where(
            Organisation.name == township.strip(), Organisation.kind == OrgKind.TOWNSHIP)).all()}
        found = [o for o in found if o.parent_id in parents]
    return found


def create_account(session: Session, *, username: str, role: str, password: str, org: str | None = None,
                   display_name: str | None = None, actor: str) -> Account:
    """A new account (`weike users create`); AccountExists, AccountInvalid."""
    username = username.strip()
    if not USERNAME.fullmatch(username):
        raise AccountInvalid(f"username {username!r}", message="用户名只能由 2-64 个字母、数字、汉字或 . _ - @ 组成")
    try:
        role_value = Role(role)
    except ValueError as exc:
        raise AccountInvalid(f"role {role!r}", message="角色只能是 uploader、organiser、reviewer 或 admin") from exc
    if get_account(session, username) is not None:
        raise AccountExists(username)
    organisation = _org_for(session, role_value, org)
    account = Account(username=username, role=role_value, org_id=organisation.id if organisation else None,
                      display_name=(display_name or "").strip()[:100] or None,
                      password_hash=hash_password(check_password(password)))
    session.add(account)
    session.flush()
    record(session, actor=actor, action="account_created", subject=username, to_state=role_value,
           comment=organisation.name if organisation else None)
    return account


def _require(session: Session, username: str) -> Account:
    account = get_account(session, username)
    if account is None:
        raise AccountNotFound(username)
    return account


def set_password(session: Session, username: str, password: str, *, actor: str) -> Account:
    """A new password; tokens and browser sessions of the old one stop working."""
    account = _require(session, username)
    account.password_hash = hash_password(check_password(password))
    _end_everything(session, account)
    record(session, actor=actor, action="password_changed", subject=account.username)
    return account


def disable_account(session: Session, username: str, *, actor: str) -> Account:
    """The account can no longer log in; its tokens and sessions stop working at once."""
    account = _require(session, username)
    account.disabled = True
    _end_everything(session, account)
    record(session, actor=actor, action="account_disabled", subject=account.username)
    return account


def _end_everything(session: Session, account: Account) -> None:
    account.token_epoch += 1
    account.updated_at = utcnow()
    session.add(account)
    session.execute(delete(WebSession).where(col(WebSession.account_id) == account.id))
    session.flush()


def authenticate(session: Session, username: str, password: str, *, max_failures: int, window_s: int) -> Account:
    """The account behind a username and password. LoginThrottled after `max_failures` failures for this username
    within `window_s` (known or not, right password or not); InvalidCredentials otherwise."""
    name = username.strip()[:64]
    attempt_id, failures = _claim_attempt(session, name.lower(), since=utcnow() - timedelta(seconds=window_s))
    if len(failures) >= max_failures:
        _forget_attempt(session, attempt_id)
        oldest = failures[-max_failures]
        retry_after = max(1, int((oldest + timedelta(seconds=window_s) - utcnow()).total_seconds()) + 1)
        raise LoginThrottled(f"{len(failures)} failures for {name!r}", retry_after_s=retry_after)
    account = get_account(session, name) if name else None
    if _verified(account.password_hash if account else _dummy(), password) and account and not account.disabled:
        _forget_attempt(session, attempt_id)
        if _hasher.check_needs_rehash(account.password_hash):
            account.password_hash = hash_password(password)
            session.add(account)
        return account
    # The attempt's row stays: it is the failure.
    session.execute(delete(LoginFailure).where(col(LoginFailure.at) < utcnow() - timedelta(seconds=window_s * 4)))
    session.flush()
    raise InvalidCredentials(f"login of {name!r}")


def _claim_attempt(session: Session, key: str, *, since: datetime) -> tuple[int, list[datetime]]:
    """Record the attempt, committed at once on a connection of its own, before the password is checked; then the
    attempts before it in the window. Every attempt counts as a failure from its start until it succeeds, so N
    guesses sent at the same moment cannot all read "no failures yet" and all be checked: the first
    `max_failures` of them are, the rest are throttled."""
    with Session(session.get_bind()) as own:
        attempt = LoginFailure(username=key)
        own.add(attempt)
        own.commit()
        assert attempt.id is not None
        earlier = list(own.exec(select(LoginFailure.at).where(LoginFailure.username == key,
                                                              col(LoginFailure.at) > since,
                                                              col(LoginFailure.id) < attempt.id)
                                .order_by(col(LoginFailure.at))).all())
        return attempt.id, earlier


def _forget_attempt(session: Session, attempt_id: int) -> None:
    """The attempt was no failure (it succeeded, or was throttled before any password was checked): its row goes,
    on a connection of its own as it came."""
    with Session(session.get_bind()) as own:
        own.execute(delete(LoginFailure).where(col(LoginFailure.id) == attempt_id))
        own.commit()


def _verified(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password[:MAX_PASSWORD_CHARS])
    except (VerificationError, InvalidHashError):
        return False


# Browser sessions: the cookie carries a random token; the row is keyed by its SHA-256, so a stolen database copy
# holds no usable cookie.

@dataclass(frozen=True)
class StartedSession:
    token: str  # goes into the cookie, never stored
    csrf_token: str


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_web_session(session: Session, account: Account, *, ttl_s: int) -> StartedSession:
    assert account.id is not None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(WebSession(id=_session_id(token), account_id=account.id, csrf_token=csrf,
                           expires_at=utcnow() + timedelta(seconds=ttl_s)))
    session.execute(delete(WebSession).where(col(WebSession.expires_at) < utcnow()))
    session.flush()
    return StartedSession(token=token, csrf_token=csrf)


def web_session(session: Session, token: str) -> tuple[Account, WebSession] | None:
    """The live session and its account for a cookie's token (None: unknown, expired, or the account disabled)."""
    if not token or len(token) > 200:
        return None
    row = session.get(WebSession, _session_id(token))
    if row is None or row.expires_at < utcnow():
        return None
    account = session.get(Account, row.account_id)
    if account is None or account.disabled:
        return None
    return account, row


def end_web_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(col(WebSession.id) == _session_id(token)))
    session.flush()
