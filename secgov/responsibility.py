"""Effective-dated responsibility assignments: who is responsible for what, at any moment.

A term runs from `valid_from` until `valid_to` (None: until someone else takes the duty). The
holder at a moment is the term that covers it (`covering`). Assigning a duty starts a new term,
never in the past, and ends the term covering its start there; history is never overwritten.
Every owner field of the domains (asset owners, risk owners, drill leads, action owners, the
accountability's chief and department heads) reads and writes through this module.

Some duties fall back to another: an asset's owner answers for its assessments and scans unless
someone is named for them (an assessment lead, a scan owner). The readers (`holders`,
`holders_at`, `terms_at`) take such duties as a tuple in order of precedence, and `answering`
states the rule once: the first duty with a term in force at the moment wins."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import and_, delete, or_
from sqlmodel import Session, select

from secgov import audit
from secgov.audit import Actor
from secgov.db import chunks
from secgov.models import Responsibility, User


def covering(at: datetime | None = None):
    """The WHERE clause of the terms in force at `at` (now)."""
    at = at or datetime.now(UTC)
    return and_(Responsibility.valid_from <= at, or_(Responsibility.valid_to.is_(None), Responsibility.valid_to > at))


def in_force(term: Responsibility, at: datetime) -> bool:
    """Whether a term covers the moment `at`: `covering` for a term already read."""
    return term.valid_from <= at and (term.valid_to is None or term.valid_to > at)


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
    until: datetime | None = None,
    corrects: Responsibility | None = None,
) -> Responsibility | None:
    """Make user the holder of duty from `at` (now) until `until` (open-ended); the term in force
    at `at` ends then. `corrects`: the term this one corrects (its holder was recorded wrongly).

    Reassigning to the current holder (open-ended, not a correction) changes nothing and returns None.
    """
    rows = assign_many(
        session,
        subject_type,
        duty,
        [(subject_id, user, department_id)],
        actor,
        reason=reason,
        at=at,
        until=until,
        corrects=corrects,
    )
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
    until: datetime | None = None,
    corrects: Responsibility | None = None,
) -> list[Responsibility | None]:
    """assign() for many subjects at once, each (subject id, user, department id for the audit):
    one query for the holders at `at`, one flush, one audit append. One result per assignment.
    The caller has checked the period (secgov.accountability.assignments does for every duty)."""
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
                covering(at),
            )
        ):
            current[row.subject_id] = row
    results: list[Responsibility | None] = []
    events: list[audit.Event] = []
    for subject_id, user, department_id in assignments:
        holder = current.get(subject_id)
        if (
            holder is not None
            and holder.user_id == user.id
            and until is None
            and holder.valid_to is None
            and not corrects
        ):
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
            valid_to=until,
            assigned_by=actor.username,
            reason=reason[:500],
            corrects_id=corrects.id if corrects is not None else None,
        )
        session.add(row)
        current[subject_id] = row
        results.append(row)
        extra = {"reason": reason}
        if until is not None:
            extra["until"] = until.isoformat()
        if corrects is not None:
            extra["corrects"] = corrects.id
        fields = dict(
            object_type=subject_type,
            object_id=subject_id,
            department_id=department_id,
            before=before,
            after={"user": user.username, "duty": duty},
            extra=extra,
        )
        if corrects is None:
            events.append(audit.Event("responsibility.assigned", **fields))
        else:
            events.append(audit.Event("responsibility.corrected", **fields))
    session.flush()
    audit.record_many(session, actor, events)
    return results


Duties = str | Sequence[str]


def precedence(duty: Duties) -> tuple[str, ...]:
    """A duty, or duties in order of precedence, as a tuple."""
    return (duty,) if isinstance(duty, str) else tuple(duty)


def answering(terms: Iterable[Responsibility], duty: Duties, at: datetime) -> Responsibility | None:
    """The term that answers at `at` among one subject's terms: the term in force of the first of
    the duties (in order of precedence) that has one. This is the rule of a duty that falls back to
    another (an asset's assessment lead, else its owner): whoever is named for it in force then,
    else the holder of the next duty in force then."""
    duties = precedence(duty)
    found = {term.duty: term for term in terms if term.duty in duties and in_force(term, at)}
    return next((found[d] for d in duties if d in found), None)


def holders(
    session: Session, subject_type: str, subject_ids: Iterable[int], duty: Duties, at: datetime | None = None
) -> dict[int, User]:
    """The holder of duty for each subject, now or at a past moment; one query. `duty` may be
    several duties in order of precedence: the holder of the first with a term in force
    (`answering`)."""
    ids = list(subject_ids)
    if not ids:
        return {}
    at = at or datetime.now(UTC)
    duties = precedence(duty)
    where = [
        Responsibility.subject_type == subject_type,
        Responsibility.subject_id.in_(ids),
        Responsibility.duty.in_(duties),
        covering(at),
    ]
    rows = session.exec(select(Responsibility, User).join(User, User.id == Responsibility.user_id).where(*where)).all()
    terms: dict[int, list[Responsibility]] = {}
    users: dict[int, User] = {}
    for term, user in rows:
        terms.setdefault(term.subject_id, []).append(term)
        users[term.id] = user
    found = {}
    for subject_id, held in terms.items():
        term = answering(held, duties, at)
        if term is not None:
            found[subject_id] = users[term.id]
    return found


def terms_at(
    session: Session, subject_type: str, duty: Duties, moments: Iterable[tuple[int, datetime]]
) -> dict[tuple[int, datetime], Responsibility]:
    """The term that answers (`answering`) for each (subject id, moment) pair that had one then —
    each pair its own moment (an appraisal asks who held an asset at each due date). `duty` may
    be several duties in order of precedence. One statement per 500 subjects: the subjects' terms
    are read and matched with `in_force`."""
    pairs = list(moments)
    duties = precedence(duty)
    wanted = sorted({subject_id for subject_id, _at in pairs})
    terms: dict[int, list[Responsibility]] = {}
    for chunk in chunks(wanted):
        rows = session.exec(
            select(Responsibility).where(
                Responsibility.subject_type == subject_type,
                Responsibility.duty.in_(duties),
                Responsibility.subject_id.in_(chunk),
            )
        ).all()
        for term in rows:
            terms.setdefault(term.subject_id, []).append(term)
    found: dict[tuple[int, datetime], Responsibility] = {}
    for subject_id, at in pairs:
        term = answering(terms.get(subject_id, ()), duties, at)
        if term is not None:
            found[(subject_id, at)] = term
    return found


def holders_at(
    session: Session, subject_type: str, duty: Duties, moments: Iterable[tuple[int, datetime]]
) -> dict[tuple[int, datetime], int]:
    """The holder's user id of duty (or of the first of several duties in order of precedence
    with a term in force) for each (subject id, moment) pair that had one then (`terms_at`)."""
    return {key: term.user_id for key, term in terms_at(session, subject_type, duty, moments).items()}


def duty_answering(session: Session, subject_type: str, subject_id: int, duty: Duties, at: datetime) -> str:
    """Which of the duties (in order of precedence) answers for the subject at `at`: the first with
    a term in force then; when none has, the last (the duty every subject needs, whose gap it is).
    For a record that went wrong (the accountability trace) to name the duty of the moment."""
    duties = precedence(duty)
    term = terms_at(session, subject_type, duties, [(subject_id, at)]).get((subject_id, at))
    return term.duty if term is not None else duties[-1]


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
