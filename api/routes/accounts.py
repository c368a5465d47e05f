"""API tokens (OAuth2 password form) and who the caller is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from sqlmodel import Session

from api.auth import issue_token
from api.deps import CurrentUser, SessionDep, SettingsDep
from api.schemas import ErrorPublic, MePublic, NamedRef, TokenPublic
from catalog.accounts import authenticate, get_account
from catalog.errors import InvalidCredentials, NotAuthenticated
from catalog.models import Account, Organisation
from workers.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def login(session: Session, settings: Settings, username: str, password: str) -> Account:
    """authenticate(), keeping the failure it recorded even though the request fails."""
    try:
        return authenticate(session, username, password, max_failures=settings.login_max_failures,
                            window_s=settings.login_failure_window_s)
    except InvalidCredentials:
        session.commit()
        raise


@router.post("/auth/token", response_model=TokenPublic, responses={
    401: {"model": ErrorPublic}, 422: {"model": ErrorPublic},
    429: {"model": ErrorPublic, "description": "5 failures for this username within 15 minutes; see Retry-After"}})
def token(session: SessionDep, settings: SettingsDep, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=256)]) -> TokenPublic:
    """A bearer token for `Authorization: Bearer …` (OAuth2 password form: `username`, `password`)."""
    account = login(session, settings, username, password)
    access_token, expires_in = issue_token(settings, account)
    return TokenPublic(access_token=access_token, expires_in=expires_in)


@router.get("/me", response_model=MePublic, responses={401: {"model": ErrorPublic}})
def me(session: SessionDep, viewer: CurrentUser) -> MePublic:
    account = get_account(session, viewer.username or "")
    if account is None:
        raise NotAuthenticated("account vanished")
    org = session.get(Organisation, account.org_id) if account.org_id else None
    return MePublic(username=account.username, display_name=account.display_name, role=account.role,
                    org=NamedRef(id=org.id or 0, name=org.name) if org else None)


