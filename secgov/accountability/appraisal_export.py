"""The appraisal as registers of the core's exchange, exported only (CSV, XLSX): the ranking of a
period (a row per department and per person, with each measure's figure) and the records behind
it (a row per outcome, with who answered for it at its moment). The readers who see the whole
appraisal export it; the period filter takes the page's codes (this quarter by default)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from flask_babel import gettext as _
from pydantic import BaseModel, create_model
from sqlmodel import Session

from secgov import exchange, localtime, snapshots
from secgov.accountability import appraisal
from secgov.accountability.measures import Measure
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig

RANKING = "appraisal"
RECORDS = "appraisal_records"

_EXPORT_ONLY = exchange.ExportOnly(
    lambda: _("The appraisal is derived from the records: it is exported, never imported.")
)


def _appraise(session: Session, actor: Actor, measures: Sequence[Measure], code: str | None) -> appraisal.Appraisal:
    # The exchange gives an export no configuration: the settings are the city's, the day the
    # default time zone's (as the other exports).
    config = ServiceConfig()
    code = code or appraisal.quarter_of(snapshots.local_today(config.timezone))
    return appraisal.appraise(session, actor, appraisal.READERS, measures, code, config, datetime.now(UTC))


def _register(name, title, line, names, filters, records) -> exchange.Register:
    return exchange.Register(
        name=name,
        object_type="appraisal_period",
        title=title,
        columns=tuple(exchange.Column(n) for n in names),
        schema=line,
        key="",
        check=_EXPORT_ONLY.check,
        create=_EXPORT_ONLY.create,
        undo=_EXPORT_ONLY.undo,
        filters=filters,
        records=records,
        importers=(),
        exporters=tuple(sorted(appraisal.READERS)),
    )


def ranking(measures: Sequence[Measure]) -> exchange.Register:
    """A row per department, then per person: rank, score, and for each measure good and total
    (and the mean value of an average measure)."""
    fields: dict = {
        "period": (str, ...),
        "closed": (bool, ...),
        "kind": (str, ...),
        "rank": (int | None, None),
        "code": (str, ...),
        "name": (str, ...),
        "department": (str | None, None),
        "score": (float | None, None),
        "records": (int, ...),
    }
    names = list(fields)
    for m in measures:
        fields[f"{m.code}_good"] = (int | None, None)
        fields[f"{m.code}_total"] = (int | None, None)
        names += [f"{m.code}_good", f"{m.code}_total"]
        if m.kind == "average":
            fields[f"{m.code}_average"] = (float | None, None)
            names.append(f"{m.code}_average")
    line = create_model("AppraisalLine", __base__=BaseModel, **fields)

    def records(session: Session, actor: Actor, filters: BaseModel) -> Iterator[BaseModel]:
        found = _appraise(session, actor, measures, filters.period)
        lines = [("department", x) for x in found.departments] + [("person", x) for x in found.people]
        for kind, each in lines:
            values = {
                "period": found.period.code,
                "closed": found.closed is not None,
                "kind": kind,
                "rank": each.rank,
                "code": each.code,
                "name": each.name,
                "department": each.department if kind == "person" else None,
                "score": each.score,
                "records": each.records,
            }
            for m in measures:
                figure = each.figures.get(m.code)
                values[f"{m.code}_good"] = figure.good if figure else None
                values[f"{m.code}_total"] = figure.total if figure else None
                if m.kind == "average":
                    values[f"{m.code}_average"] = figure.average if figure else None
            yield line(**values)

    return _register(RANKING, N_("Appraisal ranking"), line, names, appraisal.AppraisalQuery, records)


class RecordLine(BaseModel):
    period: str
    measure: str
    record_type: str
    record_id: int
    title: str
    at: str
    department: str
    user: str | None = None
    good: bool
    value: float | None = None


def outcomes(measures: Sequence[Measure]) -> exchange.Register:
    """A row per record of the period: its measure, the moment it counted, its department, who
    answered for it then, whether it went well."""

    def records(session: Session, actor: Actor, filters: BaseModel) -> Iterator[BaseModel]:
        found = _appraise(session, actor, measures, filters.period)
        tz = ServiceConfig().timezone
        for row in appraisal.records(found, filters.measure, filters.user, filters.department, filters.good):
            yield RecordLine(
                period=found.period.code,
                measure=row["measure"],
                record_type=row["record_type"],
                record_id=row["record_id"],
                title=row["title"],
                at=localtime.exported(localtime.instant(row["at"]), tz),
                department=row["department"],
                user=row["username"],
                good=row["good"],
                value=row["value"],
            )

    return _register(
        RECORDS, N_("Appraisal records"), RecordLine, list(RecordLine.model_fields), appraisal.RecordFilters, records
    )
