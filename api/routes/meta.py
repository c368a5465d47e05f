"""Reference data: categories and organisations."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SessionDep
from api.schemas import CategoryPublic, NamedRef
from catalog.models import OrgKind
from catalog.organisations import list_categories, list_organisations

router = APIRouter(prefix="/api/v1", tags=["reference"])


@router.get("/categories", response_model=list[CategoryPublic])
def categories(session: SessionDep) -> list[CategoryPublic]:
    return [CategoryPublic(id=c.id or 0, slug=c.slug, name=c.name) for c in list_categories(session)]


@router.get("/branches", response_model=list[NamedRef])
def branches(session: SessionDep) -> list[NamedRef]:
    return [NamedRef(id=o.id or 0, name=o.name) for o in list_organisations(session, kind=OrgKind.BRANCH)]
