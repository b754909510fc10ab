"""Daily snapshots of the headline figures, for trends on the dashboard and in the reports.

A domain declares its figures (`Figure`, in `Domain.figures`); the daily job ("snapshot.daily",
`secgov.jobs`) hands them all to `take`, which stores each department's OWN value of every
figure for the day (`secgov.models.FigureSnapshot`). `series` reads them back for a subtree: the
sum over the department and everything below it, per day and figure, in one grouped query.

A snapshot records the state when it is taken, under the day it is taken for: taking a past day
again replaces that day's rows with today's state (what a missed run does when it is caught up).
Zero values are not stored, except the root department's, which always gets a row for every
figure: the root's rows say which figures were taken on which day, so that a subtree without a
row on such a day reads 0 (nothing there), and a day without them reads as not taken (a gap).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, delete, false, func, insert, or_
from sqlmodel import Session, select

from secgov import localtime
from secgov.authz import Actor, get_scoped
from secgov.errors import Invalid, NotFound
from secgov.models import Department, FigureSnapshot

MAX_SPAN_DAYS = 400  # the longest period `series` reads at once
DEFAULT_SPAN_DAYS = 90  # what the API reads when no period is given


@dataclass(frozen=True)
class Figure:
    """A headline figure: `count(session)` gives each department's own value by department id
    (departments left out are 0). A `summable` figure (a number of things) adds up over a
    subtree; another (a ratio) is read for the department alone."""

    code: str  # stored in FigureSnapshot.figure: at most 60 characters, never renamed
    label: str  # an English message marked with N_
    count: Callable[[Session], Mapping[int, float]]
    summable: bool = True


@dataclass(frozen=True)
class Point:
    """One figure of a subtree on one day."""

    day: date
    figure: str
    value: float


def local_today(tz: str) -> date:
    """Today's date in the city's time zone (the day a snapshot is taken for by default)."""
    return datetime.now(localtime.zone(tz)).date()


def take(session: Session, figures: Sequence[Figure], day: date) -> int:
    """Store every department's own value of each figure for day, replacing what that day held
    for these figures; returns the rows written. Zero values are skipped except the root
    department's (see the module's docstring). The caller commits."""
    codes = [figure.code for figure in figures]
    if len(set(codes)) != len(codes):
        raise ValueError(f"figures declared twice: {sorted(c for c in codes if codes.count(c) > 1)}")
    roots = set(session.exec(select(Department.id).where(Department.parent_id.is_(None))).all())
    rows: list[dict] = []
    for figure in figures:
        values = {int(dept): float(value) for dept, value in figure.count(session).items()}
        for dept in roots:
            values.setdefault(dept, 0.0)
        rows += [
            {"day": day, "department_id": dept, "figure": figure.code, "value": value}
            for dept, value in sorted(values.items())
            if value or dept in roots
        ]
    if codes:
        session.execute(delete(FigureSnapshot).where(FigureSnapshot.day == day, FigureSnapshot.figure.in_(codes)))
    if rows:
        session.execute(insert(FigureSnapshot), rows)
    return len(rows)


def scope_root(session: Session, actor: Actor) -> Department:
    """The top of the actor's scope: their own department, or the city's root department for
    those who act for the whole city; NotFound when there is no department yet."""
    if actor.city_wide:
        root = session.exec(select(Department).where(Department.parent_id.is_(None)).order_by(Department.id)).first()
        if root is None:
            raise NotFound(_("Not found."))
        return root
    return get_scoped(session, Department, actor.department_id, actor)


def check_period(since: date, until: date) -> None:
    """Refuse a period that ends before it starts or is longer than MAX_SPAN_DAYS."""
    if since > until:
        raise Invalid(_("The period ends before it starts."), field="since")
    if (until - since).days + 1 > MAX_SPAN_DAYS:
        raise Invalid(_("A period can span at most %(days)d days.", days=MAX_SPAN_DAYS), field="since")


def default_period(today: date) -> tuple[date, date]:
    """The last DEFAULT_SPAN_DAYS days, today included."""
    return today - timedelta(days=DEFAULT_SPAN_DAYS - 1), today


def series(
    session: Session,
    actor: Actor,
    figures: Sequence[Figure],
    department_id: int | None,
    since: date,
    until: date,
) -> list[Point]:
    """Per day taken and figure, the figure over the subtree of a department in the actor's scope
    (default: the top of the scope), from since to until, by day then figure code. Summable
    figures add up the subtree's rows; the others are the department's own value. A department
    outside the scope is NotFound (audited), as if it did not exist. Four statements at most,
    whatever the number of departments and days."""
    check_period(since, until)
    department = (
        scope_root(session, actor) if department_id is None else get_scoped(session, Department, department_id, actor)
    )
    if not figures:
        return []
    summed = [figure.code for figure in figures if figure.summable]
    own = [figure.code for figure in figures if not figure.summable]
    period = and_(FigureSnapshot.day >= since, FigureSnapshot.day <= until)
    roots = select(Department.id).where(Department.parent_id.is_(None))
    taken = session.exec(
        select(FigureSnapshot.day, FigureSnapshot.figure)
        .where(period, FigureSnapshot.department_id.in_(roots), FigureSnapshot.figure.in_([*summed, *own]))
        .distinct()
    ).all()
    subtree = and_(FigureSnapshot.figure.in_(summed), Department.path.startswith(department.path, autoescape=True))
    alone = and_(FigureSnapshot.figure.in_(own), FigureSnapshot.department_id == department.id)
    totals = dict(
        ((day, figure), value)
        for day, figure, value in session.exec(
            select(FigureSnapshot.day, FigureSnapshot.figure, func.sum(FigureSnapshot.value))
            .join(Department, Department.id == FigureSnapshot.department_id)
            .where(period, or_(subtree if summed else false(), alone if own else false()))
            .group_by(FigureSnapshot.day, FigureSnapshot.figure)
        ).all()
    )
    return [Point(day, figure, float(totals.get((day, figure)) or 0.0)) for day, figure in sorted(taken)]
