"""The append-only audit log: one row per review decision, feature change, caption edit and account change, written
in the same transaction as the change itself. Nothing here updates or deletes a row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from catalog.models import AuditEntry


@dataclass(frozen=True)
class TimedNote:
    """A reviewer's remark at a moment of the lesson ("03:12 声音突然变小")."""

    at_s: float
    text: str


def record(session: Session, *, actor: str, action: str, lesson_id: str | None = None, subject: str | None = None,
           from_state: str | None = None, to_state: str | None = None, reasons: Sequence[str] = (),
           comment: str | None = None, notes: Sequence[TimedNote] = ()) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, lesson_id=lesson_id, subject=subject, from_state=from_state,
                       to_state=to_state, reasons=json.dumps(list(reasons)) if reasons else None,
                       comment=comment or None,
                       notes=json.dumps([{"at_s": n.at_s, "text": n.text} for n in notes], ensure_ascii=False)
                       if notes else None)
    session.add(entry)
    session.flush()
    return entry


def lesson_history(session: Session, lesson_id: str) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.lesson_id == lesson_id).order_by(col(AuditEntry.at), col(AuditEntry.id))
    return list(session.exec(stmt).all())


def latest_decision(session: Session, lesson_id: str, actions: Sequence[str]) -> AuditEntry | None:
    stmt = (select(AuditEntry).where(AuditEntry.lesson_id == lesson_id, col(AuditEntry.action).in_(list(actions)))
            .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()))
    return session.exec(stmt).first()


def reasons_of(entry: AuditEntry) -> list[str]:
    data: Any = json.loads(entry.reasons) if entry.reasons else []
    return [str(r) for r in data] if isinstance(data, list) else []


def notes_of(entry: AuditEntry) -> list[TimedNote]:
    data: Any = json.loads(entry.notes) if entry.notes else []
    return [TimedNote(at_s=float(n["at_s"]), text=str(n["text"])) for n in data] if isinstance(data, list) else []
