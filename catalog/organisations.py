"""County -> township -> branch, and the seeded lesson categories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from catalog.errors import InvalidMetadata, UnknownCategory
from catalog.fields import plain_line
from catalog.models import BranchType, Category, Lesson, Organisation, OrgKind
from catalog.search import reindex_lesson

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


def category_id_for(session: Session, ref: str | None) -> int | None:
    """The id of the category named `ref` (slug or Chinese name), None for no category; UnknownCategory otherwise."""
    if not ref:
        return None
    category = find_category(session, ref)
    if category is None:
        raise UnknownCategory(f"category {ref!r}")
    return category.id


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
    """The branch with this name (printable, one line), created under the county when new (until branches are
    managed)."""
    name = plain_line(name)
    if not name:
        raise InvalidMetadata("blank branch name", message="支部名称不能为空")
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


BRANCH_TYPE_NAMES = {t.value: t.value for t in BranchType} | {
    "village": BranchType.VILLAGE, "community": BranchType.COMMUNITY, "maritime": BranchType.MARITIME,
    "enterprise": BranchType.ENTERPRISE, "retiree": BranchType.RETIREE, "村党支部": BranchType.VILLAGE,
    "社区党支部": BranchType.COMMUNITY, "海上党支部": BranchType.MARITIME, "企业党支部": BranchType.ENTERPRISE,
    "离退休党支部": BranchType.RETIREE}


@dataclass(frozen=True)
class OrgRow:
    township: str
    branch: str
    branch_type: str | None


@dataclass
class OrgImportReport:
    townships_created: int = 0
    branches_created: int = 0
    branches_moved: int = 0
    branches_updated: int = 0

    @property
    def changed(self) -> bool:
        return any((self.townships_created, self.branches_created, self.branches_moved, self.branches_updated))


def parse_branch_type(value: str | None) -> str | None:
    """A branch type in Chinese (村, 社区, 海上, 企业, 离退休) or English; None when blank; ValueError otherwise."""
    if value is None or not value.strip():
        return None
    found = BRANCH_TYPE_NAMES.get(value.strip()) or BRANCH_TYPE_NAMES.get(value.strip().lower())
    if found is None:
        raise ValueError(value)
    return str(found)


def import_organisations(session: Session, rows: Sequence[OrgRow]) -> OrgImportReport:
    """County -> township -> branch from a table's rows; importing the same rows again changes nothing. A branch
    named by earlier uploads (kept under the county) moves under the township the table gives it."""
    report = OrgImportReport()
    moved: list[Organisation] = []
    county = get_or_create_org(session, DEFAULT_COUNTY, kind=OrgKind.COUNTY, parent_id=None)
    for row in rows:
        township_name, branch_name = " ".join(row.township.split()), " ".join(row.branch.split())
        township = session.exec(select(Organisation).where(
            Organisation.name == township_name, Organisation.kind == OrgKind.TOWNSHIP)).first()
        if township is None:
            township = get_or_create_org(session, township_name, kind=OrgKind.TOWNSHIP, parent_id=county.id)
            report.townships_created += 1
        if not branch_name:
            continue
        branch = session.exec(select(Organisation).where(
            Organisation.name == branch_name, Organisation.kind == OrgKind.BRANCH,
            Organisation.parent_id == township.id)).first()
        if branch is None:
            # Named by an upload before the tree was imported: it waits under the county.
            branch = session.exec(select(Organisation).where(
                Organisation.name == branch_name, Organisation.kind == OrgKind.BRANCH,
                Organisation.parent_id == county.id)).first()
            if branch is not None:
                branch.parent_id = township.id
                report.branches_moved += 1
                moved.append(branch)
        if branch is None:
            branch = Organisation(name=branch_name, kind=OrgKind.BRANCH, parent_id=township.id,
                                  branch_type=row.branch_type)
            report.branches_created += 1
        elif row.branch_type is not None and branch.branch_type != row.branch_type:
            branch.branch_type = row.branch_type
            report.branches_updated += 1
        session.add(branch)
        session.flush()
    if moved:  # their lessons are now found under the township (the search index's township flag)
        ids = [b.id for b in moved]
        for lesson in session.exec(select(Lesson).where(col(Lesson.branch_id).in_(ids))).all():
            reindex_lesson(session, lesson)
    return report


def township_of(session: Session, org: Organisation | None) -> Organisation | None:
    if org is None or org.kind != OrgKind.BRANCH or org.parent_id is None:
        return None
    parent = session.get(Organisation, org.parent_id)
    return parent if parent is not None and parent.kind == OrgKind.TOWNSHIP else None
