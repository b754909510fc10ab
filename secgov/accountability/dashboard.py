"""The dashboard's accountability tile and its daily figure (SPEC §5): in the reader's scope, the
gaps (`assignments.gaps`, as the gaps API counts them), the overdue cells of the matrix per person
named in them (`matrix.lines`, as the matrix API shows them) and this quarter's appraisal
(`appraisal.appraise`: the scope's score, the best and the worst three people).

The tile is the core's, not a domain's: it reads the domains only through what the registry
collected (duties, the matrix's rows and columns, the measures), so the registry builds it
(`Registry.tiles`, `Registry.figures`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlmodel import Session, select

from secgov.accountability import appraisal, assignments, matrix
from secgov.accountability.duties import Duty
from secgov.accountability.matrix import Column, Filters, Rows
from secgov.accountability.measures import Measure
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.dashboard import Tile
from secgov.db import chunks
from secgov.models import User
from secgov.snapshots import Figure

PEOPLE_SHOWN = 5  # the people with the most overdue items
RANKED_SHOWN = 3  # the best and the worst of the appraisal
GAPS = "accountability.gaps"


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in chunks(sorted(ids)):
        for user in session.exec(select(User).where(User.id.in_(list(chunk)))).all():
            found[user.id] = user.display_name or user.username
    return found


def _roles(session: Session, actor: Actor) -> frozenset[str]:
    """The reader's roles (the appraisal shows readers every line of their scope, others their
    own); the application itself reads as a reader."""
    if actor.user_id is None:
        return appraisal.READERS
    user = session.get(User, actor.user_id)
    return frozenset(user.roles) if user is not None else frozenset()


def _person(line: appraisal.Line) -> dict[str, Any]:
    return {"user": line.code, "name": line.name, "rank": line.rank, "score": line.score}


def figures(
    session: Session,
    actor: Actor,
    config: ServiceConfig,
    today: date,
    duties: Sequence[Duty],
    rows: Rows | None,
    columns: Sequence[Column],
    measures: Sequence[Measure],
) -> dict[str, Any]:
    """The tile's figures for the actor (see the module's docstring)."""
    gaps = assignments.gaps(session, actor, duties)
    by_duty: dict[str, int] = {}
    for gap in gaps:
        by_duty[gap.duty.code] = by_duty.get(gap.duty.code, 0) + 1
    labels = {duty.code: duty.label for duty in duties}
    holders = matrix.overdue_by_holder(matrix.lines(session, actor, config, rows, columns, Filters(), today))
    shown = holders[:PEOPLE_SHOWN]
    names = _names(session, {h.user_id for h in shown})
    code = appraisal.quarter_of(today)
    found = appraisal.appraise(session, actor, _roles(session, actor), measures, code, config)
    ranked = [line for line in found.people if line.rank is not None]
    top = ranked[:RANKED_SHOWN]
    bottom = ranked[max(RANKED_SHOWN, len(ranked) - RANKED_SHOWN) :]  # never one of the top three again
    return {
        "gaps": len(gaps),
        "gaps_by_duty": [
            {"duty": duty, "label": labels[duty], "gaps": n} for duty, n in sorted(by_duty.items(), key=lambda x: -x[1])
        ],
        "overdue": sum(h.overdue for h in holders),
        "people_overdue": len(holders),
        "people": [{"user": h.username, "name": names.get(h.user_id, h.username), "overdue": h.overdue} for h in shown],
        "appraisal": {
            "period": found.period.code,
            "closed": found.closed is not None,
            "own_only": found.own_only,
            "score": found.score,
            "people": len(found.people),
            "top": [_person(line) for line in top],
            "bottom": [_person(line) for line in bottom],
        },
    }


def tile(duties: Sequence[Duty], rows: Rows | None, columns: Sequence[Column], measures: Sequence[Measure]) -> Tile:
    """The accountability tile over what the registry collected."""

    def build(session: Session, actor: Actor, config: ServiceConfig, today: date) -> dict[str, Any]:
        return figures(session, actor, config, today, duties, rows, columns, measures)

    return Tile("accountability", N_("Accountability"), build, "accountability/tile.html", (GAPS,))


def gaps_figure(duties: Sequence[Duty]) -> Figure:
    """The daily figure of the gaps: each department's own (its subjects' gaps; the chief's is the
    root department's), so a subtree's sum is what `gaps` counts for a reader of that subtree."""

    def count(session: Session) -> Mapping[int, float]:
        found: dict[int, float] = {}
        for gap in assignments.gaps(session, Actor.system("job"), duties):
            found[gap.subject.department_id] = found.get(gap.subject.department_id, 0) + 1
        return found

    return Figure(GAPS, N_("Accountability gaps"), count)
