"""Effective-dated responsibility assignments: who is responsible for what, at any moment."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, or_
from sqlmodel import Session, select

from secgov import audit
from secgov.audit import Actor
from secgov.db import chunks
from secgov.models import Responsibility, User


def assign(
    session: Session,
    subject_type: str,
    subject_id: int,
    duty: str,
    user: User,
    actor: Actor,
    *,
    reason: str = "",
    department_id: int | None = None,
    at: datetime | None = None,
) -> Responsibility | None:
    """Make user the holder of duty from `at` (now); the previous holder's term ends then.

    Reassigning to the current holder changes nothing and returns None.
    """
    rows = assign_many(session, subject_type, duty, [(subject_id, user, department_id)], actor, reason=reason, at=at)
    return rows[0]


def assign_many(
    session: Session,
    subject_type: str,
    duty: str,
    assignments: Sequence[tuple[int, User, int | None]],
    actor: Actor,
    *,
    reason: str = "",
    at: datetime | None = None,
) -> list[Responsibility | None]:
    """assign() for many subjects at once, each (subject id, user, department id for the audit):
    one query for the current holders, one flush, one audit append. One result per assignment."""
    if not assignments:
        return []
    at = at or datetime.now(UTC)
    ids = sorted({subject_id for subject_id, _user, _dept in assignments})
    current: dict[int, Responsibility] = {}
    for chunk in chunks(ids):
        for row in session.exec(
            select(Responsibility).where(
                Responsibility.subject_type == subject_type,
                Responsibility.subject_id.in_(chunk),
                Responsibility.duty == duty,
                Responsibility.valid_to.is_(None),
            )
        ):
            current[row.subject_id] = row
    results: list[Responsibility | None] = []
    events: list[audit.Event] = []
    for subject_id, user, department_id in assignments:
        holder = current.get(subject_id)
        if holder is not None and holder.user_id == user.id:
            results.append(None)
            continue
        before = None
        if holder is not None:
            holder.valid_to = at
            session.add(holder)
            before = {"user_id": holder.user_id}
        row = Responsibility(
            subject_type=subject_type,
            subject_id=subject_id,
            duty=duty,
            user_id=user.id,
            valid_from=at,
            assigned_by=actor.username,
            reason=reason[:500],
        )
        session.add(row)
        current[subject_id] = row
        results.append(row)
        events.append(
            audit.Event(
                "responsibility.assigned",
                object_type=subject_type,
                object_id=subject_id,
                department_id=department_id,
                before=before,
                after={"user": user.username, "duty": duty},
                extra={"reason": reason},
            )
        )
    session.flush()
    audit.record_many(session, actor, events)
    return results


def holders(
    session: Session, subject_type: str, subject_ids: Iterable[int], duty: str, at: datetime | None = None
) -> dict[int, User]:
    """The holder of duty for each subject, now or at a past moment; one query."""
    ids = list(subject_ids)
    if not ids:
        return {}
    where = [
        Responsibility.subject_type == subject_type,
        Responsibility.subject_id.in_(ids),
        Responsibility.duty == duty,
    ]
    if at is None:
        where.append(Responsibility.valid_to.is_(None))
    else:
        where += [Responsibility.valid_from <= at, or_(Responsibility.valid_to.is_(None), Responsibility.valid_to > at)]
    rows = session.exec(
        select(Responsibility.subject_id, User).join(User, User.id == Responsibility.user_id).where(*where)
    ).all()
    return {subject_id: user for subject_id, user in rows}


def history(
    session: Session, subject_type: str, subject_id: int, duty: str | None = None
) -> list[tuple[Responsibility, User]]:
    """Every term for a subject (and duty), newest first."""
    where = [Responsibility.subject_type == subject_type, Responsibility.subject_id == subject_id]
    if duty:
        where.append(Responsibility.duty == duty)
    query = (
        select(Responsibility, User)
        .join(User, User.id == Responsibility.user_id)
        .where(*where)
        .order_by(Responsibility.valid_from.desc(), Responsibility.id.desc())
    )
    return list(session.exec(query).all())


def forget(session: Session, subject_type: str, subject_ids: Iterable[int]) -> int:
    """Remove every term of subjects that are deleted themselves (their history stays in the
    audit trail): a later record given the same id must not inherit them. How many were removed."""
    removed = 0
    for chunk in chunks(sorted(set(subject_ids))):
        result = session.exec(
            delete(Responsibility).where(
                Responsibility.subject_type == subject_type, Responsibility.subject_id.in_(chunk)
            )
        )
        removed += result.rowcount or 0
    return removed
