"""Effective-dated responsibility assignments: who is responsible for what, at any moment."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import or_
from sqlmodel import Session, select

from secgov import audit
from secgov.audit import Actor
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
    at = at or datetime.now(UTC)
    current = session.exec(
        select(Responsibility).where(
            Responsibility.subject_type == subject_type,
            Responsibility.subject_id == subject_id,
            Responsibility.duty == duty,
            Responsibility.valid_to.is_(None),
        )
    ).first()
    if current is not None and current.user_id == user.id:
        return None
    before = None
    if current is not None:
        current.valid_to = at
        session.add(current)
        before = {"user_id": current.user_id}
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
    session.flush()
    audit.record(
        session,
        actor,
        "responsibility.assigned",
        object_type=subject_type,
        object_id=subject_id,
        department_id=department_id,
        before=before,
        after={"user": user.username, "duty": duty},
        reason=reason,
    )
    return row


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
