"""The risk register and the assessments as files (CSV, XLSX): their columns, the rows they read
into, and the batch services that check, create, undo and export them. The engine that reads,
reports and writes is the core's (secgov.exchange); every rule of a record stays in the domain's
services (`risks.create_risks`, `services.create_assessment`), which these call.

Rows name assets by code, owners by user name and departments by code. The row schemas live
here rather than in `schemas.py`: they are the files' format, not the API's.

- **Risks** import as new risks, open or in treatment (accepting or closing one is a decision
  of its own, not a file's); `level` and `residual_level` are exported for the reader and
  derived again from the matrix in force on import (what the file says there is not read).
- **Assessments** import as drafts, with the assessor's own area ratings (`rating_<area>`, a
  rating other than the controls' needing its `reason_<area>`); `status`, `score` and
  `conclusion` are exported for the reader and not read back: an imported assessment is a draft
  that goes through submission and approval like any other.

Risks have no code of their own: the same title may name risks of several assets, so a file
may repeat any value (the register's `key` is empty)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Annotated, Literal

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, StringConstraints, create_model, field_validator
from sqlalchemy import func
from sqlmodel import Session, select

from assessments import risks, rule, services
from assessments.codes import ASSESSMENT_KIND, ASSESSMENT_STATUS, CONCLUSION, RISK_LEVEL, TREATMENT
from assessments.models import Assessment, AssessmentArea, AssessmentControl, Risk
from assessments.schemas import Area as AreaCode
from assessments.schemas import (
    AreaInput,
    AssessmentCreate,
    AssessmentQuery,
    AssessmentStatus,
    Conclusion,
    Kind,
    Level,
    Note,
    Number,
    Rating,
    RiskCreate,
    RiskQuery,
    Scale,
    Short,
    Text,
    Title,
    Treatment,
    Username,
)
from assessments.schemas import OptControlId as ControlRef
from assets.models import Asset
from assets.services import owners_named
from secgov import audit, exchange, responsibility
from secgov.authz import Actor, path_in_scope
from secgov.codes import AREA, N_
from secgov.config import ServiceConfig
from secgov.db import chunks
from secgov.errors import Invalid, Refusal, ServiceError
from secgov.exchange import Column, Problems, Register
from secgov.models import AuditEntry, Department, Responsibility

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
DepartmentCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]
Assessors = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
# Assessors in a cell: separated by semicolons (a name may hold spaces: "王安 Wang An").
ASSESSOR_SEPARATOR = ";"


# --- rows ----------------------------------------------------------------------------------------


class RiskRow(BaseModel):
    """A row of the risk register's file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    asset: Code
    department: DepartmentCode = ""  # the asset's department, when given: a check
    title: Title
    area: AreaCode | Literal[""] = ""
    control_id: ControlRef = ""
    threat: Text = ""
    vulnerability: Text = ""
    likelihood: Scale
    impact: Scale
    level: Level | Literal[""] = ""  # exported for the reader; derived again on import
    treatment: Treatment = "reduce"
    treatment_plan: Text = ""
    owner: Username | None = None  # the asset's owner when left out
    due_date: date | None = None
    status: Literal["open", "in_treatment"] = "open"
    residual_likelihood: Scale | None = None
    residual_impact: Scale | None = None
    residual_level: Level | Literal[""] = ""  # exported for the reader; derived again on import


class RiskLine(BaseModel):
    """A risk as its export writes it (any status)."""

    asset: str
    department: str
    title: str
    area: str
    control_id: str
    threat: str
    vulnerability: str
    likelihood: int
    impact: int
    level: str
    treatment: str
    treatment_plan: str
    owner: str | None
    due_date: date | None
    status: str
    residual_likelihood: int | None
    residual_impact: int | None
    residual_level: str


def _area_fields() -> dict:
    fields = {}
    for area in AREA.codes:
        fields[f"rating_{area}"] = (Rating | None, None)
        fields[f"reason_{area}"] = (Note, "")
    return fields


class _AssessmentRowBase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    asset: Code
    department: DepartmentCode = ""
    kind: Kind
    title: Short = ""
    assessors: Assessors = ""
    started_on: date
    finished_on: date | None = None
    agency: Short = ""
    report_number: Number = ""
    agency_score: Rating | None = None
    summary: Text = ""
    # Exported for the reader; an import makes a draft whatever they say.
    status: AssessmentStatus | Literal[""] = ""
    score: float | None = None
    conclusion: Conclusion | Literal[""] = ""

    @field_validator("assessors")
    @classmethod
    def _assessors(cls, value: str) -> str:
        names = [name.strip() for name in value.split(ASSESSOR_SEPARATOR) if name.strip()]
        if len(names) > 20:
            raise ValueError(_("At most 20 assessors."))
        if any(len(name) > 100 for name in names):
            raise ValueError(_("An assessor's name is at most 100 characters."))
        return value

    def assessor_list(self) -> list[str]:
        return [name.strip() for name in self.assessors.split(ASSESSOR_SEPARATOR) if name.strip()]

    def ratings(self) -> list[AreaInput]:
        """The assessor's own ratings of the areas the row rates."""
        return [
            AreaInput(area=area, rating=getattr(self, f"rating_{area}"), reason=getattr(self, f"reason_{area}"))
            for area in AREA.codes
            if getattr(self, f"rating_{area}") is not None
        ]


# A row of the assessments' file: the six areas' rating and reason columns follow the one list
# of areas.
AssessmentRow = create_model("AssessmentRow", __base__=_AssessmentRowBase, __module__=__name__, **_area_fields())


# --- look-ups ------------------------------------------------------------------------------------


class _Found:
    """An asset a row names, with its department's code and path."""

    __slots__ = ("id", "code", "department", "path")

    def __init__(self, asset_id: int, code: str, department: str, path: str):
        self.id, self.code, self.department, self.path = asset_id, code, department, path


def _assets(session: Session, codes: Sequence[str]) -> dict[str, _Found]:
    """The assets with these codes (without case), wherever they are: one query per 500 codes."""
    found: dict[str, _Found] = {}
    for chunk in chunks(sorted({code.lower() for code in codes})):
        for asset_id, code, department, path in session.exec(
            select(Asset.id, Asset.code, Department.code, Department.path)
            .join(Department, Department.id == Asset.department_id)
            .where(func.lower(Asset.code).in_(chunk))
        ).all():
            found[code.lower()] = _Found(asset_id, code, department, path)
    return found


def _asset_problems(row, assets: dict[str, _Found], actor: Actor, register: str) -> tuple[_Found | None, list]:
    """The asset a row names, in the actor's scope, and its department when the row gives one. An
    asset outside the scope is unknown, like a missing one, and the attempt is audited."""
    found = assets.get(row.asset.lower())
    if found is None or not path_in_scope(found.path, actor):
        refusal = (
            Refusal(actor, "authz.out_of_scope", "asset", found.id, {"register": register})
            if found is not None
            else None
        )
        return None, [Invalid(_("Unknown asset: %(code)s", code=row.asset[:40]), field="asset", refusal=refusal)]
    if row.department and row.department.lower() != found.department.lower():
        message = _(
            "%(asset)s belongs to department %(department)s, not %(given)s.",
            asset=found.code,
            department=found.department,
            given=row.department[:40],
        )
        return found, [Invalid(message, field="department")]
    return found, []


# --- risks ---------------------------------------------------------------------------------------


def check_risks(session: Session, items: Sequence[RiskRow], actor: Actor, config: ServiceConfig) -> Problems:
    """What the rules refuse in each row of a batch, by its index: assets unknown to the actor (out
    of scope: audited), a department other than the asset's, owners unknown or disabled (or no
    owner named for an asset without an active one), due dates before today, a residual
    likelihood without its impact. A few queries per batch, whatever its size."""
    today = risks.today_utc()
    assets = _assets(session, [item.asset for item in items])
    owners = owners_named(session, [item.owner for item in items if item.owner], actor)
    asset_owners = responsibility.holders(session, "asset", [a.id for a in assets.values()], "owner")
    problems: Problems = {}
    for index, item in enumerate(items):
        found, errors = _asset_problems(item, assets, actor, "risks")
        if item.owner and item.owner.lower() not in owners:
            errors.append(Invalid(_("Unknown or disabled user: %(name)s", name=item.owner[:64]), field="owner"))
        elif not item.owner and found is not None:
            holder = asset_owners.get(found.id)
            if holder is None or holder.disabled:
                errors.append(Invalid(_("The asset has no active owner: name the risk's owner."), field="owner"))
        if item.due_date is not None and item.due_date < today:
            errors.append(Invalid(_("The due date cannot be before the risk was registered."), field="due_date"))
        if (item.residual_likelihood is None) != (item.residual_impact is None):
            errors.append(
                Invalid(
                    _("Give both the residual likelihood and the residual impact, or neither."),
                    field="residual_impact",
                )
            )
        if errors:
            problems[index] = errors
    return problems


def create_risks(session: Session, items: Sequence[RiskRow], actor: Actor, config: ServiceConfig) -> list[Risk]:
    """Register the rows' risks through `risks.create_risks` (the rules of `create_risk`, by the
    batch; each audited), all or none: the first problem `check_risks` finds is raised before
    anything is written."""
    if not items:
        return []
    problems = check_risks(session, items, actor, config)
    if problems:
        raise problems[min(problems)][0]
    assets = _assets(session, [item.asset for item in items])
    data = [
        RiskCreate(
            asset_id=assets[item.asset.lower()].id,
            **item.model_dump(include=set(RiskCreate.model_fields) - {"asset_id"}),
        )
        for item in items
    ]
    return risks.create_risks(session, data, actor, rule.method(session, config))


def remove_imported_risks(session: Session, risk_ids: list[int], actor: Actor) -> None:
    """Undo an import that could not be completed: remove the risks it wrote (each audited)."""
    for chunk in chunks(risk_ids):
        rows = session.exec(
            select(Risk, Asset.code, Asset.department_id)
            .join(Asset, Asset.id == Risk.asset_id)
            .where(Risk.id.in_(chunk))
        ).all()
        events = [
            audit.Event(
                "risk.deleted",
                "risk",
                risk.id,
                department_id,
                before={"title": risk.title, "level": risk.level, "status": risk.status},
                extra={"asset": code, "reason": "import undone"},
            )
            for risk, code, department_id in rows
        ]
        responsibility.forget(session, risks.SUBJECT, [risk.id for risk, _c, _d in rows])
        for risk, _code, _department in rows:
            session.delete(risk)
        session.flush()
        audit.record_many(session, actor, events)


def _method(session: Session) -> rule.Method:
    # The register's export is given no configuration; the methodology's defaults need none
    # (they come from the catalog), and what the city set is read from its settings.
    return rule.method(session, ServiceConfig())


def risk_records(session: Session, actor: Actor, query: RiskQuery) -> Iterator[RiskLine]:
    """Every risk in scope that the list's filters select, as the file's rows."""
    for r in risks.export_records(session, actor, query, _method(session)):
        yield RiskLine(asset=r.asset_code, **r.model_dump(include=set(RiskLine.model_fields) - {"asset"}))


# --- assessments ---------------------------------------------------------------------------------


def check_assessments(session: Session, items: Sequence[BaseModel], actor: Actor, config: ServiceConfig) -> Problems:
    """What the rules refuse in each row, by its index: assets unknown to the actor (out of scope:
    audited), a department other than the asset's, dates in the future or out of order, an
    outside agency on a kind that has none, an area rated otherwise than its controls without a
    reason. The areas' computed ratings cost one query per asset."""
    today = services.today_utc()
    assets = _assets(session, [item.asset for item in items])
    computed: dict[int, dict[str, float | None]] = {}
    problems: Problems = {}
    for index, item in enumerate(items):
        found, errors = _asset_problems(item, assets, actor, "assessments")
        for check, args in (
            (services._check_dates, (item.started_on, item.finished_on, today)),
            (services._check_agency, (item.kind, item.agency, item.agency_score)),
        ):
            try:
                check(*args)
            except ServiceError as exc:
                errors.append(exc)
        if found is not None and not errors:
            if found.id not in computed:
                computed[found.id] = services.computed_ratings(session, found.id)
            for area in item.ratings():
                own = computed[found.id][area.area]
                if not area.reason and (own is None or abs(area.rating - own) >= 0.05):
                    errors.append(
                        Invalid(
                            _("Say why the rating of %(area)s differs from the controls.", area=AREA.label(area.area)),
                            field=f"reason_{area.area}",
                        )
                    )
        if errors:
            problems[index] = errors
    return problems


def create_assessments(
    session: Session, items: Sequence[BaseModel], actor: Actor, config: ServiceConfig
) -> list[Assessment]:
    """Start the rows' assessments as drafts through `services.create_assessment` (each audited),
    all or none: the first problem `check_assessments` finds is raised before anything is written."""
    if not items:
        return []
    problems = check_assessments(session, items, actor, config)
    if problems:
        raise problems[min(problems)][0]
    assets = _assets(session, [item.asset for item in items])
    created = []
    for item in items:
        data = AssessmentCreate(
            asset_id=assets[item.asset.lower()].id,
            kind=item.kind,
            title=item.title,
            assessors=item.assessor_list(),
            started_on=item.started_on,
            finished_on=item.finished_on,
            agency=item.agency,
            report_number=item.report_number,
            agency_score=item.agency_score,
            summary=item.summary,
            areas=item.ratings(),
        )
        created.append(services.create_assessment(session, data, actor))
    return created


def remove_imported_assessments(session: Session, assessment_ids: list[int], actor: Actor) -> None:
    """Undo an import that could not be completed: remove the drafts it wrote (each audited; a
    draft submitted meanwhile stays, and the engine reports it)."""
    for chunk in chunks(assessment_ids):
        for a in session.exec(select(Assessment).where(Assessment.id.in_(chunk))).all():
            services.delete_draft(session, a, actor)


class AssessmentLine(BaseModel):
    """An assessment as its export writes it."""

    model_config = ConfigDict(extra="allow")  # the areas' rating and reason columns

    asset: str
    department: str
    kind: str
    title: str
    assessors: str
    started_on: date
    finished_on: date | None
    agency: str
    report_number: str
    agency_score: float | None
    summary: str
    status: str
    score: float | None
    conclusion: str


def assessment_records(session: Session, actor: Actor, query: AssessmentQuery) -> Iterator[AssessmentLine]:
    """Every assessment in scope that the list's filters select, as the file's rows: the
    assessor's own area ratings and reasons (a rating left to the controls is blank)."""
    for page in exchange.pages(lambda q: services.list_assessments(session, actor, q), query):
        ids = [s.id for s in page]
        if not ids:
            return
        rows = {a.id: a for a in session.exec(select(Assessment).where(Assessment.id.in_(ids))).all()}
        areas: dict[int, dict[str, AssessmentArea]] = {}
        for area in session.exec(select(AssessmentArea).where(AssessmentArea.assessment_id.in_(ids))).all():
            areas.setdefault(area.assessment_id, {})[area.area] = area
        for s in page:
            a = rows[s.id]
            own = areas.get(s.id, {})
            columns = {}
            for code in AREA.codes:
                stored = own.get(code)
                columns[f"rating_{code}"] = stored.rating if stored else None
                columns[f"reason_{code}"] = stored.reason if stored and stored.rating is not None else ""
            yield AssessmentLine(
                asset=s.asset_code,
                department=s.department,
                kind=s.kind,
                title=s.title,
                assessors=f"{ASSESSOR_SEPARATOR} ".join(a.assessors or []),
                started_on=s.started_on,
                finished_on=s.finished_on,
                agency=a.agency,
                report_number=a.report_number,
                agency_score=a.agency_score,
                summary=a.summary,
                status=s.status,
                score=a.score if a.status == "approved" else None,
                conclusion=s.conclusion,
                **columns,
            )
        for a in rows.values():
            session.expunge(a)


# --- the registers -------------------------------------------------------------------------------

RISKS = Register(
    name="risks",
    object_type="risk",
    title=N_("Risks"),
    columns=(
        Column("asset", required=True),
        Column("department"),
        Column("title", required=True),
        Column("area", cell="lower", choices=AREA.codes),
        Column("control_id"),
        Column("threat"),
        Column("vulnerability"),
        Column("likelihood", required=True),
        Column("impact", required=True),
        Column("level", cell="lower", choices=RISK_LEVEL.codes),
        Column("treatment", cell="lower", choices=TREATMENT.codes),
        Column("treatment_plan"),
        Column("owner"),
        Column("due_date"),
        Column("status", cell="lower", choices=("open", "in_treatment")),
        Column("residual_likelihood"),
        Column("residual_impact"),
        Column("residual_level", cell="lower", choices=RISK_LEVEL.codes),
    ),
    schema=RiskRow,
    key="",
    check=check_risks,
    create=create_risks,
    undo=remove_imported_risks,
    filters=RiskQuery,
    records=risk_records,
    importers=services.WRITERS,
    release=(Risk, Responsibility, AuditEntry),
    statistics=("risk", "responsibility"),
)

ASSESSMENTS = Register(
    name="assessments",
    object_type="assessment",
    title=N_("Assessments"),
    columns=(
        Column("asset", required=True),
        Column("department"),
        Column("kind", required=True, cell="lower", choices=ASSESSMENT_KIND.codes),
        Column("title"),
        Column("assessors"),
        Column("started_on", required=True),
        Column("finished_on"),
        Column("agency"),
        Column("report_number"),
        Column("agency_score"),
        Column("summary"),
        *(column for area in AREA.codes for column in (Column(f"rating_{area}"), Column(f"reason_{area}"))),
        Column("status", cell="lower", choices=ASSESSMENT_STATUS.codes),
        Column("score"),
        Column("conclusion", cell="lower", choices=CONCLUSION.codes),
    ),
    schema=AssessmentRow,
    key="",
    check=check_assessments,
    create=create_assessments,
    undo=remove_imported_assessments,
    filters=AssessmentQuery,
    records=assessment_records,
    importers=services.WRITERS,
    release=(Assessment, AssessmentArea, AssessmentControl, AuditEntry),
    statistics=("assessment", "assessment_area"),
)
