"""Assets: every file a lesson has, original and derived, recorded idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from catalog.models import Asset, AssetKind


@dataclass(frozen=True)
class AssetFacts:
    """What a worker knows about a file it stored."""

    key: str
    mime_type: str
    size_bytes: int
    sha256: str
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    bit_rate: int | None = None


def record_asset(session: Session, lesson_id: str, kind: AssetKind, facts: AssetFacts, *, label: str = "") -> Asset:
    """Insert or update the (lesson, kind, label) asset: a redelivered task records the same row again."""
    asset = session.exec(
        select(Asset).where(Asset.lesson_id == lesson_id, Asset.kind == kind, Asset.label == label)
    ).first()
    if asset is None:
        asset = Asset(lesson_id=lesson_id, kind=kind, label=label, key=facts.key, mime_type=facts.mime_type,
                      size_bytes=facts.size_bytes, sha256=facts.sha256)
    asset.key = facts.key
    asset.mime_type = facts.mime_type
    asset.size_bytes = facts.size_bytes
    asset.sha256 = facts.sha256
    asset.duration_s = facts.duration_s
    asset.width = facts.width
    asset.height = facts.height
    asset.bit_rate = facts.bit_rate
    session.add(asset)
    session.flush()
    return asset


def list_assets(session: Session, lesson_id: str) -> list[Asset]:
    order = {AssetKind.ORIGINAL: 0, AssetKind.RENDITION: 1, AssetKind.POSTER: 2, AssetKind.AUDIO_EDITION: 3}
    assets = list(session.exec(select(Asset).where(Asset.lesson_id == lesson_id).order_by(col(Asset.id))).all())
    return sorted(assets, key=lambda a: (order.get(AssetKind(a.kind), 9), -(a.height or 0) * (a.width or 0)))


def get_asset(session: Session, public_id: str) -> Asset | None:
    """An asset by the random id its URL carries."""
    return session.exec(select(Asset).where(Asset.public_id == public_id)).first()


def has_asset(session: Session, lesson_id: str, kind: AssetKind, *, label: str | None = None) -> bool:
    stmt = select(Asset.id).where(Asset.lesson_id == lesson_id, Asset.kind == kind)
    if label is not None:
        stmt = stmt.where(Asset.label == label)
    return session.exec(stmt).first() is not None


def remove_assets(session: Session, lesson_id: str, kind: AssetKind) -> int:
    """Forget the lesson's assets of one kind (the stored files are left alone); returns how many went."""
    found = list(session.exec(select(Asset).where(Asset.lesson_id == lesson_id, Asset.kind == kind)).all())
    for asset in found:
        session.delete(asset)
    session.flush()
    return len(found)
