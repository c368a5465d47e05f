"""County -> township -> branch, and the seeded lesson categories."""

from __future__ import annotations

from sqlmodel import Session, col, select

from catalog.models import Category, Organisation, OrgKind

# From DOMAIN.md: the content categories the seeds name.
CATEGORY_SEED: tuple[tuple[str, str], ...] = (
    ("theory", "思想理论"),
    ("party_spirit", "党性教育"),
    ("grassroots", "基层业务"),
    ("skills", "技能培训"),
    ("exemplary", "典型交流"),
    ("red_history", "红色课堂"),
)

DEFAULT_COUNTY = "本县"


def seed_categories(session: Session) -> None:
    existing = set(session.exec(select(Category.slug)).all())
    for order, (slug, name) in enumerate(CATEGORY_SEED):
        if slug not in existing:
            session.add(Category(slug=slug, name=name, sort_order=order))
    session.flush()


def list_categories(session: Session) -> list[Category]:
    return list(session.exec(select(Category).order_by(col(Category.sort_order), col(Category.id))).all())


def find_category(session: Session, ref: str) -> Category | None:
    """A category by slug or by its Chinese name."""
    ref = ref.strip()
    stmt = select(Category).where((col(Category.slug) == ref) | (col(Category.name) == ref))
    return session.exec(stmt).first()


def get_or_create_org(session: Session, name: str, *, kind: OrgKind, parent_id: int | None) -> Organisation:
    stmt = select(Organisation).where(
        Organisation.name == name, Organisation.kind == kind, Organisation.parent_id == parent_id
    )
    org = session.exec(stmt).first()
    if org is None:
        org = Organisation(name=name, kind=kind, parent_id=parent_id)
        session.add(org)
        session.flush()
    return org


def branch_for_name(session: Session, name: str) -> Organisation:
    """The branch with this name, created under the county when new (until branches are managed)."""
    name = name.strip()
    existing = session.exec(
        select(Organisation).where(Organisation.name == name, Organisation.kind == OrgKind.BRANCH)
    ).first()
    if existing is not None:
        return existing
    county = get_or_create_org(session, DEFAULT_COUNTY, kind=OrgKind.COUNTY, parent_id=None)
    return get_or_create_org(session, name, kind=OrgKind.BRANCH, parent_id=county.id)


def list_organisations(session: Session, *, kind: OrgKind | None = None) -> list[Organisation]:
    stmt = select(Organisation).order_by(col(Organisation.id))
    if kind is not None:
        stmt = stmt.where(Organisation.kind == kind)
    return list(session.exec(stmt).all())
