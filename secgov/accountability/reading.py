"""Reading the assignments (SPEC §5): the terms of every declared duty, current and past, as the
reader may see them, the declared duties, the gaps and the reader's own duties.

A term is visible when its subject lies in the reader's scope (each duty's `find` says where a
subject lives), and everyone sees their own terms wherever their subjects are. The statements
run do not grow with the rows shown: one for the terms, one per duty (a batch of 500 subjects)
for their subjects, one for the departments' codes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from secgov import responsibility
from secgov.accountability.assignments import Gap, duties_of, duty_named, gaps
from secgov.accountability.duties import Duty, Subject
from secgov.authz import Actor, path_in_scope
from secgov.db import chunks
from secgov.localtime import Instant
from secgov.models import Department, Responsibility, User


class TermQuery(BaseModel):
    """Filters of the terms: a duty's code, the holder's user name, only the terms in force now."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    duty: Annotated[str, StringConstraints(max_length=81)] | None = Field(
        default=None, description='A duty\'s code, e.g. "department.head".'
    )
    user: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="The holder's user name."
    )
    current: bool = Field(default=False, description="Only the terms in force now.")
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=50, ge=1, le=200)


class PageOnly(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=50, ge=1, le=200)


class TermRead(BaseModel):
    """One term of a duty: who held it for which subject, from when until when, who assigned it
    and why; `corrects_id` names the term it corrects (its holder had been recorded wrongly)."""

    id: int
    duty: str = Field(description='The duty\'s code, e.g. "asset.owner".')
    duty_label: str = Field(description="What the duty is called, in the caller's language.")
    subject_type: str
    subject_id: int
    subject: str = Field(description="The subject's code and name.")
    department: str = Field(description="The code of the subject's department.")
    user: str = Field(description="The holder's user name.")
    valid_from: Instant
    valid_to: Instant | None = Field(description="None: until someone else takes the duty.")
    assigned_by: str
    reason: str
    corrects_id: int | None
    current: bool = Field(description="Whether the term is in force now.")


class DutyRead(BaseModel):
    code: str
    label: str = Field(description="What the duty is called, in the caller's language.")
    level: str = Field(description="chief, head or sub_item.")
    assigners: list[str] = Field(description="The roles that may assign it (inside their scope).")


class GapRead(BaseModel):
    """A subject that needs a holder of a duty and has none, or whose holder is disabled."""

    duty: str
    duty_label: str
    subject_type: str
    subject_id: int
    subject: str
    department: str
    holder: str | None = Field(description="The disabled holder's user name; None when nobody holds the duty.")


def duty_list(duties: Mapping[str, Duty]) -> list[DutyRead]:
    """The declared duties, the chief first, then the heads, then the sub-item duties; those of a
    kind of subject together, in the order they were declared (an asset's owner, then the duties
    other domains declare on an asset, before a risk's)."""
    kinds = list(dict.fromkeys(d.subject_type for d in duties.values()))
    ordered = sorted(
        duties.values(), key=lambda d: (("chief", "head", "sub_item").index(d.level), kinds.index(d.subject_type))
    )
    return [DutyRead(code=d.code, label=_(d.label), level=d.level, assigners=sorted(d.assigners)) for d in ordered]


def _subjects(session: Session, duties: Sequence[Duty], rows: Sequence[Responsibility]) -> dict[tuple, Subject]:
    """(subject type, duty, subject id) -> the subject, for the subjects of these terms."""
    found: dict[tuple, Subject] = {}
    for duty in duties:
        ids = sorted({r.subject_id for r in rows if (r.subject_type, r.duty) == (duty.subject_type, duty.duty)})
        for chunk in chunks(ids):
            for subject_id, subject in duty.find(session, chunk).items():
                found[(duty.subject_type, duty.duty, subject_id)] = subject
    return found


def _codes(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.exec(select(Department.id, Department.code).where(Department.id.in_(sorted(ids)))).all())


def _reads(
    session: Session, duties: Mapping[str, Duty], items: Sequence[tuple[Responsibility, str, Subject]], now: datetime
) -> list[TermRead]:
    codes = _codes(session, {subject.department_id for _t, _u, subject in items})
    return [
        TermRead(
            id=term.id,
            duty=f"{term.subject_type}.{term.duty}",
            duty_label=_(duties[f"{term.subject_type}.{term.duty}"].label),
            subject_type=term.subject_type,
            subject_id=term.subject_id,
            subject=subject.label,
            department=codes.get(subject.department_id, ""),
            user=username,
            valid_from=term.valid_from,
            valid_to=term.valid_to,
            assigned_by=term.assigned_by,
            reason=term.reason,
            corrects_id=term.corrects_id,
            current=responsibility.in_force(term, now),
        )
        for term, username, subject in items
    ]


def list_terms(
    session: Session,
    actor: Actor,
    duties: Mapping[str, Duty],
    query: TermQuery,
    now: datetime | None = None,
    levels: Sequence[str] = (),
) -> tuple[list[TermRead], int]:
    """The terms the actor sees (subject in scope, or their own), newest first, filtered and
    paged; `levels` narrows them to duties of those levels (the page's chief and heads)."""
    now = now or datetime.now(UTC)
    wanted = [duty_named(duties, query.duty)] if query.duty else list(duties.values())
    if levels:
        wanted = [d for d in wanted if d.level in levels]
    if not wanted:
        return [], 0
    where = [or_(*(and_(Responsibility.subject_type == d.subject_type, Responsibility.duty == d.duty) for d in wanted))]
    if query.user:
        where.append(func.lower(User.username) == query.user.lower())
    if query.current:
        where.append(responsibility.covering(now))
    rows = session.exec(
        select(Responsibility, User.username)
        .join(User, User.id == Responsibility.user_id)
        .where(*where)
        .order_by(Responsibility.valid_from.desc(), Responsibility.id.desc())
    ).all()
    subjects = _subjects(session, wanted, [term for term, _name in rows])
    visible = []
    for term, username in rows:
        subject = subjects.get((term.subject_type, term.duty, term.subject_id))
        if subject is None:
            continue
        if term.user_id == actor.user_id or path_in_scope(subject.department_path, actor):
            visible.append((term, username, subject))
    start = (query.page - 1) * query.page_size
    return _reads(session, duties, visible[start : start + query.page_size], now), len(visible)


def my_terms(session: Session, user: User, duties: Mapping[str, Duty], now: datetime | None = None) -> list[TermRead]:
    """The terms the user holds now, oldest first (their subjects wherever they are)."""
    now = now or datetime.now(UTC)
    rows = [t for t in duties_of(session, user, at=now) if f"{t.subject_type}.{t.duty}" in duties]
    held = [duties[f"{t.subject_type}.{t.duty}"] for t in rows]
    subjects = _subjects(session, list({d.code: d for d in held}.values()), rows)
    items = [
        (t, user.username, subjects[(t.subject_type, t.duty, t.subject_id)])
        for t in rows
        if (t.subject_type, t.duty, t.subject_id) in subjects
    ]
    return _reads(session, duties, items, now)


def gap_list(session: Session, actor: Actor, duties: Mapping[str, Duty], at: datetime | None = None) -> list[GapRead]:
    """The gaps in the actor's scope (`assignments.gaps`), read for the pages and the API."""
    found: list[Gap] = gaps(session, actor, list(duties.values()), at=at)
    codes = _codes(session, {g.subject.department_id for g in found})
    return [
        GapRead(
            duty=g.duty.code,
            duty_label=_(g.duty.label),
            subject_type=g.duty.subject_type,
            subject_id=g.subject.id,
            subject=g.subject.label,
            department=codes.get(g.subject.department_id, ""),
            holder=g.holder.username if g.holder is not None else None,
        )
        for g in found
    ]


def term_read(session: Session, duties: Mapping[str, Duty], term: Responsibility) -> TermRead:
    """One term just written, read back."""
    duty = duties[f"{term.subject_type}.{term.duty}"]
    subject = duty.find(session, [term.subject_id])[term.subject_id]
    holder = session.get(User, term.user_id)
    return _reads(session, duties, [(term, holder.username, subject)], datetime.now(UTC))[0]
