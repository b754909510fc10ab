"""Drills and corrective actions as register exports (CSV, XLSX) through the core's engine
(secgov.exchange): their columns, the rows they write, with the lists' filters and scope.

Both are read by the roles that read drills (`services.READERS`) and are export-only
(`importers=()`): a drill is planned, conducted and recorded through its own steps (the timeline
gives the measured times), and an action belongs to a drill's improvement plan, so neither is
read back from a spreadsheet. Moments are written in the city's zone with their offset
(`secgov.localtime.exported`); corrective actions are those the list shows the reader (in scope,
or their own)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from flask_babel import gettext as _
from pydantic import BaseModel
from sqlmodel import Session, select

from assets.models import Asset
from assets.rule import today_utc
from drills import actions, readiness, services
from drills.codes import AAR_STATUS, ACTION_STATUS, DRILL_STATUS, EXERCISE_TYPE, INCIDENT_GRADE, REPORTING
from drills.models import CorrectiveAction, Drill, DrillAsset, DrillDepartment, DrillObjective
from drills.schemas import ActionQuery, DrillQuery
from secgov import exchange
from secgov.authz import Actor
from secgov.codes import N_
from secgov.exchange import Column, ExportOnly, Register
from secgov.localtime import Instant
from secgov.models import Department


class DrillLine(BaseModel):
    """A drill as its export writes it."""

    id: int
    title: str
    department: str
    exercise_type: str
    incident_grade: str
    status: str
    lead: str
    planned_start: Instant
    duration_minutes: int
    recurrence_months: int | None
    assets: list[str]
    departments: list[str]
    started_at: Instant | None
    ended_at: Instant | None
    detect_minutes: int | None
    report_minutes: int | None
    contain_minutes: int | None
    recover_minutes: int | None
    report_deadline_minutes: int | None
    reporting: str
    objectives: int
    rated_p: int
    rated_s: int
    rated_m: int
    rated_u: int
    aar_status: str
    aar_approved_by: str
    aar_approved_at: Instant | None
    open_actions: int
    previous: int | None
    request: int | None
    created_by: str
    created_at: Instant
    completed_at: Instant | None


def drill_records(session: Session, actor: Actor, query: DrillQuery) -> Iterator[DrillLine]:
    """Every drill in scope that the list's filters select, as the file's rows."""
    for page in exchange.pages(lambda q: services.list_drills(session, actor, q), query):
        ids = [d.id for d in page]
        if not ids:
            continue
        rows = {d.id: d for d in session.exec(select(Drill).where(Drill.id.in_(ids))).all()}
        assets: dict[int, list[str]] = {}
        for drill_id, code in session.exec(
            select(DrillAsset.drill_id, Asset.code)
            .join(Asset, Asset.id == DrillAsset.asset_id)
            .where(DrillAsset.drill_id.in_(ids))
            .order_by(Asset.code)
        ).all():
            assets.setdefault(drill_id, []).append(code)
        departments: dict[int, list[str]] = {}
        for drill_id, code in session.exec(
            select(DrillDepartment.drill_id, Department.code)
            .join(Department, Department.id == DrillDepartment.department_id)
            .where(DrillDepartment.drill_id.in_(ids))
            .order_by(Department.code)
        ).all():
            departments.setdefault(drill_id, []).append(code)
        ratings: dict[int, list[str]] = {}
        for drill_id, rating in session.exec(
            select(DrillObjective.drill_id, DrillObjective.rating).where(DrillObjective.drill_id.in_(ids))
        ).all():
            ratings.setdefault(drill_id, []).append(rating)
        for summary in page:
            row = rows[summary.id]
            counted = readiness.ratings(ratings.get(row.id, []))
            yield DrillLine(
                id=row.id,
                title=row.title,
                department=summary.department,
                exercise_type=row.exercise_type,
                incident_grade=row.incident_grade,
                status=row.status,
                lead=summary.lead,
                planned_start=row.planned_start,
                duration_minutes=row.duration_minutes,
                recurrence_months=row.recurrence_months,
                assets=assets.get(row.id, []),
                departments=departments.get(row.id, []),
                started_at=row.started_at,
                ended_at=row.ended_at,
                detect_minutes=row.detect_minutes,
                report_minutes=row.report_minutes,
                contain_minutes=row.contain_minutes,
                recover_minutes=row.recover_minutes,
                report_deadline_minutes=row.report_deadline_minutes,
                reporting=summary.reporting,
                objectives=len(ratings.get(row.id, [])),
                rated_p=counted["P"],
                rated_s=counted["S"],
                rated_m=counted["M"],
                rated_u=counted["U"],
                aar_status=row.aar_status,
                aar_approved_by=row.aar_approved_by,
                aar_approved_at=row.aar_approved_at,
                open_actions=summary.open_actions,
                previous=row.previous_id,
                request=row.request_id,
                created_by=row.created_by,
                created_at=row.created_at,
                completed_at=row.completed_at,
            )
        for row in rows.values():
            session.expunge(row)


class ActionLine(BaseModel):
    """A corrective action as its export writes it."""

    id: int
    drill: int
    drill_title: str
    title: str
    description: str
    owner: str
    department: str
    asset: str
    objective: int | None
    due_date: date
    status: str
    overdue: bool
    days_overdue: int
    escalated_at: Instant | None
    note: str
    risk: int | None
    closed_at: Instant | None
    created_by: str
    created_at: Instant
    updated_at: Instant


def action_records(session: Session, actor: Actor, query: ActionQuery) -> Iterator[ActionLine]:
    """Every corrective action the reader sees that the list's filters select, as the file's rows
    (overdue as of today)."""
    today = today_utc()
    for page in exchange.pages(lambda q: actions.list_actions(session, actor, q, today), query):
        for a in page:
            yield ActionLine(
                id=a.id,
                drill=a.drill_id,
                drill_title=a.drill_title,
                title=a.title,
                description=a.description,
                owner=a.owner,
                department=a.department,
                asset=a.asset,
                objective=a.objective_id,
                due_date=a.due_date,
                status=a.status,
                overdue=a.overdue,
                days_overdue=a.days_overdue,
                escalated_at=a.escalated_at,
                note=a.note,
                risk=a.risk_id,
                closed_at=a.closed_at,
                created_by=a.created_by,
                created_at=a.created_at,
                updated_at=a.updated_at,
            )


# --- no import: the engine's import services refuse (no route offers them) -------------------------


# Made in the application, never imported from a spreadsheet.
_EXPORT_ONLY = ExportOnly(
    lambda: _("Drills and corrective actions are not imported from a spreadsheet: record them in the application.")
)


DRILLS = Register(
    name="drills",
    object_type="drill",
    title=N_("Drills"),
    columns=(
        Column("id"),
        Column("title"),
        Column("department"),
        Column("exercise_type", choices=EXERCISE_TYPE.codes),
        Column("incident_grade", choices=INCIDENT_GRADE.codes),
        Column("status", choices=DRILL_STATUS.codes),
        Column("lead"),
        Column("planned_start"),
        Column("duration_minutes"),
        Column("recurrence_months"),
        Column("assets"),
        Column("departments"),
        Column("started_at"),
        Column("ended_at"),
        Column("detect_minutes"),
        Column("report_minutes"),
        Column("contain_minutes"),
        Column("recover_minutes"),
        Column("report_deadline_minutes"),
        Column("reporting", choices=REPORTING.codes),
        Column("objectives"),
        Column("rated_p"),
        Column("rated_s"),
        Column("rated_m"),
        Column("rated_u"),
        Column("aar_status", choices=AAR_STATUS.codes),
        Column("aar_approved_by"),
        Column("aar_approved_at"),
        Column("open_actions"),
        Column("previous"),
        Column("request"),
        Column("created_by"),
        Column("created_at"),
        Column("completed_at"),
    ),
    schema=DrillLine,
    key="",
    check=_EXPORT_ONLY.check,
    create=_EXPORT_ONLY.create,
    undo=_EXPORT_ONLY.undo,
    filters=DrillQuery,
    records=drill_records,
    importers=(),
    exporters=services.READERS,
    release=(Drill,),
)

ACTIONS = Register(
    name="corrective_actions",
    object_type="corrective_action",
    title=N_("Corrective actions"),
    columns=(
        Column("id"),
        Column("drill"),
        Column("drill_title"),
        Column("title"),
        Column("description"),
        Column("owner"),
        Column("department"),
        Column("asset"),
        Column("objective"),
        Column("due_date"),
        Column("status", choices=ACTION_STATUS.codes),
        Column("overdue", cell="bool"),
        Column("days_overdue"),
        Column("escalated_at"),
        Column("note"),
        Column("risk"),
        Column("closed_at"),
        Column("created_by"),
        Column("created_at"),
        Column("updated_at"),
    ),
    schema=ActionLine,
    key="",
    check=_EXPORT_ONLY.check,
    create=_EXPORT_ONLY.create,
    undo=_EXPORT_ONLY.undo,
    filters=ActionQuery,
    records=action_records,
    importers=(),
    exporters=services.READERS,
    release=(CorrectiveAction,),
)

__all__ = ["ACTIONS", "DRILLS"]
