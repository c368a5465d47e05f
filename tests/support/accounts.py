"""Accounts for tests, made by the same code as `weike users create` and `weike orgs import`, and their tokens
from the real token route. Authorization is never switched off: a test that uploads logs in first."""

from __future__ import annotations

from typing import Any

from catalog.accounts import create_account
from catalog.db import unit_of_work
from catalog.organisations import OrgRow, import_organisations

PASSWORD = "村里的-Password-2026"

# Two townships with two branches each: enough for "own branch", "other branch", "own township", "other township".
COUNTY = [("东风镇", "东风村党支部", "村"), ("东风镇", "渔港社区党支部", "社区"),
          ("西岭乡", "西岭村党支部", "村"), ("西岭乡", "海上党支部", "海上")]


def engine_of(settings: Any) -> Any:
    from workers.wiring import context_for

    return context_for(settings).engine


def import_county(settings: Any) -> None:
    with unit_of_work(engine_of(settings)) as session:
        import_organisations(session, [OrgRow(township=t, branch=b, branch_type=k) for t, b, k in COUNTY])


def make_account(settings: Any, username: str, role: str, org: str | None = None, *,
                 password: str = PASSWORD) -> None:
    if org is not None:
        import_county(settings)
    with unit_of_work(engine_of(settings)) as session:
        create_account(session, username=username, role=role, password=password, org=org, actor="test")


def token_for(client: Any, username: str, password: str = PASSWORD) -> str:
    """A bearer token from POST /api/v1/auth/token (TestClient or httpx)."""
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login_as(client: Any, settings: Any, username: str, role: str, org: str | None = None) -> dict[str, str]:
    """Create the account, log in, and make every later request of `client` carry its token."""
    make_account(settings, username, role, org)
    headers = bearer(token_for(client, username))
    client.headers.update(headers)
    return headers


def form_login(client: Any, username: str, password: str = PASSWORD, next: str = "/") -> Any:
    """Log in through the login page as a browser does: open the form (which sets its token's cookie and puts the
    token in the form), then post it. The POST's answer (303 on success)."""
    import re

    form = client.get("/login", params={"next": next}, follow_redirects=False)
    found = re.search(r'name="login_token" value="([^"]+)"', form.text)
    return client.post("/login", data={"username": username, "password": password, "next": next,
                                       "login_token": found.group(1) if found else ""}, follow_redirects=False)
