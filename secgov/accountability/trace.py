"""The accountability trace (责任追究, SPEC §5): for something that went wrong — an overdue risk
treatment, a missed assessment, an overdue corrective action, a failed drill objective, a refused
scan — the chain of people responsible at the moment it went wrong: the sub-item owner, the
head of the department, the city's chief, each with the term that made them so.

Each domain declares the kinds of lapse it knows (`TraceSource`, `Domain(trace_sources=...)`):
`find(session, actor, ref, config, today)` reads one record through the domain's own scoped
look-up (missing and out of scope: NotFound after the same statements, the attempt audited) and
says whether, when and for which duty it went wrong (`Lapse`), or None when it did not. The core builds the chain from the effective-dated
terms (`secgov.responsibility`): never who holds the duty now, always who held it then. A term
later corrected is shown with its correction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlmodel import Session, select

from secgov import responsibility
from secgov.accountability.duties import CHIEF, HEAD, ancestry, heads_at
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.errors import Invalid, NotFound
from secgov.localtime import day_start
from secgov.models import Department, Responsibility, User


@dataclass(frozen=True)
class Lapse:
    """What went wrong and when: the record (`record_type`, `record_id`, a title in the record's own
    words), the moment, the department it belongs to, and the duty whose holder answers for it
    (`subject_type`, `subject_id`, `duty`, as stored in `Responsibility`)."""

    kind: str
    record_type: str
    record_id: int
    title: str
    at: datetime
    department_id: int
    subject_type: str
    subject_id: int
    duty: str
    duty_label: str  # an English message marked with N_


@dataclass(frozen=True)
class TraceSource:
    """A kind of lapse a domain knows: its code, its label (N_), and `find(session, actor, ref,
    config, today)` giving the Lapse of the record `ref` (the record's id, as text) in the actor's
    scope, or None when that record did not go wrong; NotFound when the actor has no such record."""

    kind: str
    label: str
    find: Callable[[Session, Actor, str, ServiceConfig, date], Lapse | None]


@dataclass(frozen=True)
class Link:
    """One person in the chain: their level (sub_item, head, chief), the duty and what it was held
    for, and the term in force at the lapse (None: nobody held it, a gap), with the term that
    later corrected it, if any. `department_id`: the department a head or the chief answered for
    (pages name it in the reader's language; `held_for` is its stored name)."""

    level: str
    duty_label: str
    held_for: str
    term: Responsibility | None
    holder: User | None
    corrected_by: Responsibility | None = None
    corrected_to: User | None = None
    department_id: int | None = None


@dataclass(frozen=True)
class Trace:
    lapse: Lapse
    label: str
    department: Department
    chain: list[Link]


def number(ref: str) -> int:
    """A record's id in a trace's reference: not found unless it is digits within the databases'
    INTEGER columns (a larger number names no row, and the databases refuse it in a query)."""
    if not (ref.isascii() and ref.isdigit()) or int(ref) > 2**31 - 1:
        raise NotFound(_("Not found."))
    return int(ref)


def source_named(sources: Mapping[str, TraceSource], kind: str) -> TraceSource:
    source = sources.get(kind)
    if source is None:
        raise Invalid(_("There is no kind of lapse %(kind)s.", kind=kind), field="kind")
    return source


def _term_at(session: Session, subject_type: str, subject_id: int, duty: str, at: datetime):
    found = session.exec(
        select(Responsibility, User)
        .join(User, User.id == Responsibility.user_id)
        .where(
            Responsibility.subject_type == subject_type,
            Responsibility.subject_id == subject_id,
            Responsibility.duty == duty,
            responsibility.covering(at),
        )
    ).first()
    return found if found is not None else (None, None)


def _link(
    session: Session, level: str, duty_label: str, held_for: str, found, department_id: int | None = None
) -> Link:
    term, holder = found
    correction, corrected_to = None, None
    if term is not None:
        later = session.exec(
            select(Responsibility, User)
            .join(User, User.id == Responsibility.user_id)
            .where(Responsibility.corrects_id == term.id)
        ).first()
        if later is not None:
            correction, corrected_to = later
    return Link(level, duty_label, held_for, term, holder, correction, corrected_to, department_id)


def trace(
    session: Session,
    actor: Actor,
    sources: Mapping[str, TraceSource],
    kind: str,
    ref: str,
    config: ServiceConfig,
    today: date,
) -> Trace:
    """The chain of people responsible for the record `ref` of this kind when it went wrong; not
    found outside the actor's scope (audited by the source's look-up), Invalid when the record did
    not go wrong."""
    source = source_named(sources, kind)
    lapse = source.find(session, actor, ref, config, today)
    if lapse is None:
        raise Invalid(_("This record has not gone wrong: there is nothing to trace."), field="id")
    department = session.get(Department, lapse.department_id)
    if department is None:  # removed since the look-up
        raise NotFound(_("Not found."))
    links = chain(
        session, department, lapse.subject_type, lapse.subject_id, lapse.duty, lapse.duty_label, lapse.title, lapse.at
    )
    return Trace(lapse, source.label, department, links)


def chain(
    session: Session,
    department: Department,
    subject_type: str,
    subject_id: int,
    duty: str,
    duty_label: str,
    held_for: str,
    at: datetime,
) -> list[Link]:
    """The people responsible at `at` for a duty on a subject of `department`: the sub-item
    holder, the head of the department (or of the nearest department above it that had one: the
    link names whose head it was), the city's chief. The report's overdue chapter asks it too."""
    links = [_link(session, "sub_item", duty_label, held_for, _term_at(session, subject_type, subject_id, duty, at))]
    ancestors = ancestry(department)
    departments = {d.id: d for d in session.exec(select(Department).where(Department.id.in_(ancestors))).all()}
    head = heads_at(session, [(department, at)]).get((department.id, at))
    if head is None:
        links.append(_link(session, "head", HEAD.label, department.name, (None, None), department.id))
    else:
        whose, term = head
        links.append(
            _link(session, "head", HEAD.label, departments[whose].name, (term, session.get(User, term.user_id)), whose)
        )
    root = departments.get(ancestors[0]) if ancestors else None
    if root is not None:
        links.append(
            _link(session, "chief", CHIEF.label, root.name, _term_at(session, "city", root.id, "chief", at), root.id)
        )
    return links


def when_overdue(session: Session, items: Sequence[Mapping[str, Any]], tz: str) -> list[list[dict[str, Any]]]:
    """For each overdue item of the report's overdue chapter that names its duty (`subject_type`,
    `subject_id`, `duty`) and its department's code (`department`), the people responsible when it
    fell overdue — the start of the day after its due date (`due`), as every lapse of the trace —
    as `chain` finds them: [{level, user, name, held_for, corrected_to}]; [] for an item that names
    no duty."""
    codes = {item["department"] for item in items if item.get("subject_type")}
    departments = {
        d.code: d
        for d in (session.exec(select(Department).where(Department.code.in_(sorted(codes)))).all() if codes else [])
    }
    found = []
    for item in items:
        department = departments.get(item.get("department", ""))
        if not item.get("subject_type") or department is None:
            found.append([])
            continue
        at = day_start(date.fromisoformat(item["due"]) + timedelta(days=1), tz)
        links = chain(session, department, item["subject_type"], item["subject_id"], item["duty"], "", "", at)
        found.append(
            [
                {
                    "level": link.level,
                    "user": link.holder.username if link.holder else None,
                    "name": (link.holder.display_name or link.holder.username) if link.holder else None,
                    "held_for": link.held_for,
                    "corrected_to": (link.corrected_to.display_name or link.corrected_to.username)
                    if link.corrected_to
                    else None,
                }
                for link in links
            ]
        )
    return found
