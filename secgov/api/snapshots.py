"""The headline figures' daily snapshots over the API, for trends: per day and figure, the sum
over a department's subtree (`secgov.snapshots.series`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from flask import Blueprint
from flask_babel import gettext as _
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from secgov import directory, snapshots
from secgov.authz import READERS, roles
from secgov.errors import Invalid
from secgov.rest import operation
from secgov.snapshots import Figure
from secgov.web import actor, get_session, service_config


def _split(value: Any) -> Any:
    """figure=a,b and figure=a&figure=b both name two figures."""
    items = value if isinstance(value, list) else [value]
    return [part.strip() for item in items if isinstance(item, str) for part in item.split(",") if part.strip()]


class SnapshotQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    figure: Annotated[list[str], BeforeValidator(_split)] = Field(
        default_factory=list,
        max_length=50,
        description="Figure codes, repeated or separated by commas (default: every figure).",
    )
    department: str | None = Field(
        default=None, max_length=40, description="A department code: its whole subtree (default: your scope's top)."
    )
    since: date | None = Field(default=None, description="The first day (default: 89 days before `until`).")
    until: date | None = Field(default=None, description="The last day (default: today in the city's time zone).")


class PointRead(BaseModel):
    day: date
    figure: str
    value: float


class FigureRead(BaseModel):
    code: str
    label: str = Field(description="What the figure is called, in the caller's language.")


class SeriesRead(BaseModel):
    """The figures of a subtree on every day a snapshot was taken in the period."""

    items: list[PointRead]
    department: str
    figures: list[FigureRead]


def _chosen(declared: Sequence[Figure], codes: Sequence[str]) -> list[Figure]:
    """The figures named (all when none is), in the declared order; an unknown code is refused."""
    known = {figure.code for figure in declared}
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise Invalid(_("Unknown figure: %(code)s", code=unknown[0][:60]), field="figure")
    return [figure for figure in declared if not codes or figure.code in codes]


def _period(query: SnapshotQuery, today: date) -> tuple[date, date]:
    if query.since is None and query.until is None:
        return snapshots.default_period(today)
    if query.since is None:
        return snapshots.default_period(query.until)
    return query.since, query.until or today


def blueprint(declared: Sequence[Figure]) -> Blueprint:
    """The snapshot endpoint for these figures (the registry's; one blueprint per app)."""
    bp = Blueprint("api_snapshots", __name__, url_prefix="/api/v1")

    @bp.get("/snapshots")
    @roles(*READERS)
    @operation(query=SnapshotQuery, ok=SeriesRead, tags=["snapshots"], errors=(400, 401, 403, 404, 422))
    def snapshots_list(query: SnapshotQuery):
        """Headline figures per day over a department's subtree, from the daily snapshots."""
        db, who = get_session(), actor()
        department = (
            directory.get_department(db, query.department, who) if query.department else snapshots.scope_root(db, who)
        )
        figures = _chosen(declared, query.figure)
        since, until = _period(query, snapshots.local_today(service_config().timezone))
        points = snapshots.series(db, who, figures, department.id, since, until)
        return SeriesRead(
            items=[PointRead(day=p.day, figure=p.figure, value=p.value) for p in points],
            department=department.code,
            figures=[FigureRead(code=f.code, label=_(f.label)) for f in figures],
        )

    return bp
