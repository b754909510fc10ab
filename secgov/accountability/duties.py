"""The duties people are accountable for (SPEC §5): the city's chief responsible person (总负责人),
each department's head, and the sub-item owners (分项负责人) the domains declare — an asset's
owner, a risk's remediation owner, a drill's lead, a corrective action's owner, ...

A duty is declared once, as a `Duty`: the kind of subject it is held for, what the subject is
called and where it sits in the department tree (`find`), which subjects need a holder now
(`required`, for the gaps), and who may assign it. The core declares the chief and the heads;
each domain declares its own in its `Domain(duties=...)`, and the registry collects them all
(`Registry.duties`). The core reads the domains' subjects only through these functions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlmodel import Session, select

from secgov import responsibility
from secgov.codes import N_
from secgov.models import Department, Responsibility

LEVELS = ("chief", "head", "sub_item")


@dataclass(frozen=True)
class Subject:
    """What a duty is held for: its id, how people call it (a code and name, not translated),
    and its department (the scope it lives in)."""

    id: int
    label: str
    department_id: int
    department_path: str


# find(session, ids) -> the subjects among these ids that exist, by id (whatever the scope).
Finder = Callable[[Session, Sequence[int]], Mapping[int, Subject]]
# required(path) -> a SELECT of the ids of the subjects in the department subtree at `path`
# ("/" for the whole city) that need a holder now; their gaps are counted as violations.
Required = Callable[[str], Select]


@dataclass(frozen=True)
class Duty:
    """A duty held for a kind of subject. `subject_type` and `duty` are the values stored in
    `Responsibility` (the asset domain's owner is ("asset", "owner")); `label` an English message
    marked with N_; `level` one of LEVELS; `assigners` the roles that may assign it (inside their
    scope).

    A domain whose records name their holder (a drill's lead) gives `applied(session, actor,
    subject_id, user)`, which makes the record follow a new holder (or refuses, raising a
    ServiceError); such a duty changes hands from now on only. `eligible(session, actor, subject,
    user)` replaces the core's rule on who may hold the duty (an active user the assigner sees,
    who sees the subject) with the domain's own, raising Invalid."""

    subject_type: str
    duty: str
    label: str
    level: str
    find: Finder
    required: Required
    assigners: frozenset[str]
    applied: Callable[[Session, Any, int, Any], None] | None = None
    eligible: Callable[[Session, Any, Subject, Any], None] | None = None

    @property
    def code(self) -> str:
        return f"{self.subject_type}.{self.duty}"


def _departments(session: Session, ids: Sequence[int]) -> dict[int, Subject]:
    rows = session.exec(select(Department).where(Department.id.in_(list(ids)))).all() if ids else []
    return {d.id: Subject(d.id, f"{d.code} {d.name}", d.id, d.path) for d in rows}


def _root(session: Session, ids: Sequence[int]) -> dict[int, Subject]:
    return {k: v for k, v in _departments(session, ids).items() if v.department_path.count("/") == 2}


def _departments_under(path: str) -> Select:
    return select(Department.id).where(Department.path.startswith(path, autoescape=True))


def _the_root(path: str) -> Select:
    # The chief is the city's: only a city-wide reader sees the root department's duty.
    query = select(Department.id).where(Department.parent_id.is_(None))
    return query if path == "/" else query.where(Department.path.startswith(path, autoescape=True))


LEADERSHIP = frozenset({"admin", "leader"})

CHIEF = Duty(
    subject_type="city",
    duty="chief",
    label=N_("Chief responsible person"),
    level="chief",
    find=_root,
    required=_the_root,
    assigners=LEADERSHIP,
)
HEAD = Duty(
    subject_type="department",
    duty="head",
    label=N_("Department head"),
    level="head",
    find=_departments,
    required=_departments_under,
    assigners=LEADERSHIP,
)

CORE = (CHIEF, HEAD)


def ancestry(department: Department) -> list[int]:
    """The ids of a department and of the departments above it, from the root down."""
    return [int(part) for part in department.path.strip("/").split("/") if part]


def heads_at(
    session: Session, moments: Iterable[tuple[Department, datetime]]
) -> dict[tuple[int, datetime], tuple[int, Responsibility]]:
    """For each (department, moment), the head who answered for it then: its own head's term in
    force, or that of the nearest department above it that had one — with that department's id;
    nothing for a department none of whose departments had a head then. One statement per 500
    departments asked about (the trace, the appraisal and the report read heads this one way)."""
    pairs = list(moments)
    asked = {(ancestor, at) for department, at in pairs for ancestor in ancestry(department)}
    terms = responsibility.terms_at(session, HEAD.subject_type, HEAD.duty, asked)
    found: dict[tuple[int, datetime], tuple[int, Responsibility]] = {}
    for department, at in pairs:
        for ancestor in reversed(ancestry(department)):
            term = terms.get((ancestor, at))
            if term is not None:
                found[(department.id, at)] = (ancestor, term)
                break
    return found
