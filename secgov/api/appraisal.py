"""The security performance appraisal over the API (SPEC §5): a period's figures per person and
per department with scores and ranks, the records behind every figure, the closed periods, and
closing a period (the city's leadership). The same service as the page (appraisal.appraise)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from flask import Blueprint, current_app
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import select

from secgov import snapshots
from secgov.accountability import appraisal
from secgov.authz import ALL_ROLES, roles
from secgov.directory import label_of
from secgov.localtime import Instant
from secgov.models import AppraisalPeriod
from secgov.rest import PageQuery, operation, page, page_model
from secgov.web import actor, get_session, page_of, require_user, service_config

bp = Blueprint("api_appraisal", __name__, url_prefix="/api/v1")


class RecordQuery(appraisal.RecordFilters, PageQuery):
    pass


TAGS = ["accountability"]


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    period: str = Field(min_length=4, max_length=10, description=appraisal.PERIOD_HELP.split(";")[0] + ".")

    _code = field_validator("period")(lambda cls, value: appraisal.period_code(value))


class MeasureRead(BaseModel):
    code: str
    label: str = Field(description="In the caller's language.")
    help: str = Field(description="What counts as good, in the caller's language.")
    kind: Literal["rate", "average"]
    unit: str = Field(description="The unit of an average measure's value (days), in the caller's language.")
    weight: int = Field(description="Its weight in the score (the weights add up to 100).")


class FigureRead(BaseModel):
    good: int
    total: int
    score: float | None = Field(description="The share of good outcomes, 0-100.")
    average: float | None = Field(description="An average measure's mean value (in its unit).")


class LineRead(BaseModel):
    rank: int | None = Field(description="1 is the best; equal scores share a rank; null without records.")
    code: str = Field(description="The user name, or the department's code.")
    name: str
    department: str | None = Field(description="A person's own department (its code).")
    score: float | None = Field(description="0-100: the measures' scores weighed, those without records left out.")
    records: int
    figures: dict[str, FigureRead] = Field(description="By measure code.")


class PeriodRead(BaseModel):
    code: str
    starts_on: date
    ends_on: date
    closed: bool
    closed_at: Instant | None
    closed_by: str | None
    sha256: str | None = Field(description="Of the stored outcomes (canonical JSON), when closed.")


class AppraisalRead(BaseModel):
    period: PeriodRead
    as_of: Instant = Field(description="Until when the records count: the period's end, or now.")
    own_only: bool = Field(description="True when the caller sees only their own line.")
    score: float | None = Field(description="Everything the caller sees, together.")
    measures: list[MeasureRead]
    people: list[LineRead]
    departments: list[LineRead]
    unheld: LineRead = Field(description="Records nobody held a duty for at their moment (a gap).")


class RecordRead(BaseModel):
    measure: str
    record_type: str
    record_id: int
    title: str
    at: Instant = Field(description="The moment that counts (due or done).")
    department: str
    user: str | None = Field(description="Who held the duty at that moment; null: nobody.")
    good: bool
    value: float | None
    url: str | None = Field(description="The record's page.")


def _period_read(found: appraisal.Appraisal) -> PeriodRead:
    span, closed = found.period, found.closed
    return PeriodRead(
        code=span.code,
        starts_on=span.starts_on,
        ends_on=span.ends_on,
        closed=closed is not None,
        closed_at=closed.at if closed else None,
        closed_by=closed.by if closed else None,
        sha256=closed.sha256 if closed else None,
    )


def _line(line: appraisal.Line, person: bool) -> LineRead:
    return LineRead(
        rank=line.rank,
        code=line.code,
        name=line.name if person else label_of(line.name, line.name_en),
        department=line.department if person else None,
        score=line.score,
        records=line.records,
        figures={
            code: FigureRead(good=f.good, total=f.total, score=f.score, average=f.average)
            for code, f in line.figures.items()
        },
    )


def record_url(infos: dict[str, appraisal.MeasureInfo], row: dict) -> str | None:
    """The page of an outcome's record, when its measure names one and the caller may open it."""
    info = infos.get(row["measure"])
    return page_of(info.links.get(row["record_type"]) if info else None, row["record_id"])


def _appraise(code: str | None) -> appraisal.Appraisal:
    config = service_config()
    measures = current_app.extensions["secgov_registry"].measures
    code = code or appraisal.quarter_of(snapshots.local_today(config.timezone))
    return appraisal.appraise(get_session(), actor(), require_user().roles, measures, code, config)


@bp.get("/appraisal")
@roles(*ALL_ROLES)
@operation(query=appraisal.AppraisalQuery, ok=AppraisalRead, tags=TAGS)
def appraisal_get(query: appraisal.AppraisalQuery):
    """A period's appraisal: per person and per department, each measure's figure (good of
    total, score, mean value), the weighed score and the rank. Administrators, leaders, officers
    and auditors read the departments in their scope; anyone else their own line. A closed
    period is read as it was stored when it was closed."""
    found = _appraise(query.period)
    return AppraisalRead(
        period=_period_read(found),
        as_of=found.as_of,
        own_only=found.own_only,
        score=found.score,
        measures=[
            MeasureRead(
                code=m.code,
                label=_(m.label),
                help=_(m.help),
                kind=m.kind,
                unit=_(m.unit) if m.unit else "",
                weight=m.weight,
            )
            for m in found.measures
        ],
        people=[_line(line, True) for line in found.people],
        departments=[_line(line, False) for line in found.departments],
        unheld=_line(found.unheld, False),
    )


@bp.get("/appraisal/records")
@roles(*ALL_ROLES)
@operation(query=RecordQuery, ok=page_model(RecordRead), tags=TAGS)
def appraisal_records(query: RecordQuery):
    """The records behind the appraisal's figures, filtered by measure, person, department and
    result: each with the moment that counted, who held the duty then, and its page."""
    found = _appraise(query.period)
    infos = {m.code: m for m in found.measures}
    rows = appraisal.records(found, query.measure, query.user, query.department, query.good)
    start = (query.page - 1) * query.page_size
    items = [
        RecordRead(
            measure=r["measure"],
            record_type=r["record_type"],
            record_id=r["record_id"],
            title=r["title"],
            at=r["at"],
            department=r["department"],
            user=r["username"],
            good=r["good"],
            value=r["value"],
            url=record_url(infos, r),
        )
        for r in rows[start : start + query.page_size]
    ]
    return page(items, len(rows), query)


class ClosedRead(BaseModel):
    code: str
    starts_on: date
    ends_on: date
    closed_at: Instant
    closed_by: str
    sha256: str


def _closed_read(row: AppraisalPeriod) -> ClosedRead:
    return ClosedRead(
        code=row.code,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        sha256=row.sha256,
    )


@bp.get("/appraisal/periods")
@roles(*ALL_ROLES)
@operation(query=PageQuery, ok=page_model(ClosedRead), tags=TAGS)
def appraisal_periods(query: PageQuery):
    """The closed appraisal periods, newest first."""
    columns = [getattr(AppraisalPeriod, name) for name in ClosedRead.model_fields]  # not the stored data
    rows = get_session().exec(select(*columns).order_by(AppraisalPeriod.starts_on.desc())).all()
    start = (query.page - 1) * query.page_size
    items = [ClosedRead(**row._mapping) for row in rows[start : start + query.page_size]]
    return page(items, len(rows), query)


@bp.post("/appraisal/close")
@roles("leader")
@operation(body=CloseIn, ok=ClosedRead, status=201, tags=TAGS)
def appraisal_close(body: CloseIn):
    """Close a period that has ended (the city's leadership): its outcomes, names and weights
    are stored as they are now with their SHA-256, and the closing is audited; later edits no
    longer change it."""
    measures = current_app.extensions["secgov_registry"].measures
    row = appraisal.close(get_session(), actor(), require_user().roles, measures, body.period, service_config())
    return _closed_read(row)
