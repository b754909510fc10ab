"""Assessments: drafting, submitting, approving or returning them, their area ratings, reviewed
controls and findings, and the score and conclusion they come to (`assessments.rule` states the
method). Approved assessments are frozen: a later change needs a new assessment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from assessments import risks, rule, scope
from assessments.codes import AGENCY_KINDS
from assessments.models import Assessment, AssessmentArea, AssessmentControl, AssessmentFinding
from assessments.rule import Method
from assessments.schemas import (
    AreaInput,
    AreaRead,
    AssessmentCreate,
    AssessmentDecision,
    AssessmentQuery,
    AssessmentRead,
    AssessmentSummary,
    AssessmentUpdate,
    ControlReview,
    ControlReviewRead,
    FindingCreate,
    FindingRead,
)
from assets import controls as asset_controls
from assets.models import Asset, AssetControl, Control
from assets.rule import today_utc
from assets.schemas import AssetControlChange, AssetControlsUpdate
from secgov import audit
from secgov.authz import Actor, in_scope, path_in_scope, scoped_row
from secgov.codes import AREA
from secgov.directory import department_by_code
from secgov.errors import Conflict, Forbidden, Invalid, NotFound, Refusal, check_version
from secgov.models import Department

# Who may draft, edit and submit assessments and risks; who decides on them.
WRITERS = ("admin", "officer")
APPROVERS = ("leader",)
EDITABLE = ("draft", "returned")


# --- reading -------------------------------------------------------------------------------------


def get_assessment(session: Session, assessment_id: int, actor: Actor) -> Assessment:
    """The assessment with this id in the actor's scope (out of scope: audited, then not found)."""
    return scope.get_by_asset(session, Assessment, assessment_id, actor, "assessment")


def _filters(session: Session, actor: Actor, query: AssessmentQuery) -> list:
    where = [in_scope(Asset.department_id, actor)]
    if query.q:
        pattern = f"%{query.q.lower()}%"
        where.append(
            or_(
                func.lower(Asset.code).like(pattern),
                func.lower(Asset.name).like(pattern),
                func.lower(Assessment.title).like(pattern),
            )
        )
    if query.asset_id is not None:
        where.append(Assessment.asset_id == query.asset_id)
    if query.department:
        where.append(Department.path.startswith(department_by_code(session, query.department, actor).path))
    for name in ("kind", "status", "conclusion"):
        value = getattr(query, name)
        if value:
            where.append(getattr(Assessment, name) == value)
    if query.year:
        day = func.coalesce(Assessment.finished_on, Assessment.started_on)
        where.append(day >= date(query.year, 1, 1))
        where.append(day <= date(query.year, 12, 31))
    return where


def list_assessments(session: Session, actor: Actor, query: AssessmentQuery) -> tuple[list[AssessmentSummary], int]:
    """A page of the assessments in scope, newest first."""
    where = _filters(session, actor, query)
    joined = lambda q: q.join(Asset, Asset.id == Assessment.asset_id).join(  # noqa: E731
        Department, Department.id == Asset.department_id
    )
    total = session.exec(joined(select(func.count(Assessment.id))).where(*where)).one()
    rows = session.exec(
        joined(select(Assessment, Asset.code, Asset.name, Department.code))
        .where(*where)
        .order_by(func.coalesce(Assessment.finished_on, Assessment.started_on).desc(), Assessment.id.desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return [_summary(a, code, name, dept) for a, code, name, dept in rows], total


def _summary(a: Assessment, code: str, name: str, department: str) -> AssessmentSummary:
    return AssessmentSummary(
        id=a.id, asset_id=a.asset_id, asset_code=code, asset_name=name, department=department, kind=a.kind,
        status=a.status, title=a.title, started_on=a.started_on, finished_on=a.finished_on, agency=a.agency,
        score=a.score, conclusion=a.conclusion if a.status == "approved" else "", created_by=a.created_by,
        decided_by=a.decided_by, updated_at=a.updated_at,
    )  # fmt: skip


def export_records(session: Session, actor: Actor, query: AssessmentQuery):
    """Every assessment the query selects, for the register's export."""
    page = query.model_copy(update={"page": 1, "page_size": 200})
    while True:
        rows, _total = list_assessments(session, actor, page)
        yield from rows
        if len(rows) < page.page_size:
            return
        page = page.model_copy(update={"page": page.page + 1})


def _control_rows(session: Session, asset_id: int) -> list[tuple[str, str, str]]:
    """The asset's required controls: (control id, area, status)."""
    return list(
        session.exec(
            select(AssetControl.control_id, Control.area, AssetControl.status)
            .join(Control, Control.id == AssetControl.control_id)
            .where(AssetControl.asset_id == asset_id, AssetControl.required.is_(True))
        ).all()
    )


def computed_ratings(
    session: Session, asset_id: int, reviewed: Mapping[str, str] | None = None
) -> dict[str, float | None]:
    """Each area's rating from the asset's required controls, with the statuses found during the
    assessment in place of the recorded ones."""
    reviewed = reviewed or {}
    statuses: dict[str, list[str]] = {code: [] for code in AREA.codes}
    for control_id, area, status in _control_rows(session, asset_id):
        if area in statuses:
            statuses[area].append(reviewed.get(control_id, status))
    return {area: rule.area_rating(found) for area, found in statuses.items()}


def _areas(session: Session, a: Assessment) -> dict[str, AssessmentArea]:
    rows = session.exec(select(AssessmentArea).where(AssessmentArea.assessment_id == a.id)).all()
    return {row.area: row for row in rows}


def _reviewed(session: Session, a: Assessment) -> list[tuple[AssessmentControl, str]]:
    return list(
        session.exec(
            select(AssessmentControl, Control.area)
            .join(Control, Control.id == AssessmentControl.control_id)
            .where(AssessmentControl.assessment_id == a.id)
            .order_by(Control.position, Control.id)
        ).all()
    )


def area_reads(session: Session, a: Assessment, method: Method) -> list[AreaRead]:
    """The six areas as they stand: frozen ratings once approved, else computed now."""
    stored = _areas(session, a)
    if a.status == "approved":
        computed = {area: (stored[area].computed if area in stored else None) for area in AREA.codes}
    else:
        reviewed = {row.control_id: row.status for row, _area in _reviewed(session, a)}
        computed = computed_ratings(session, a.asset_id, reviewed)
    result = []
    for area in AREA.codes:
        row = stored.get(area)
        own = row.rating if row else None
        result.append(
            AreaRead(
                area=area,
                computed=computed[area],
                rating=own if own is not None else computed[area],
                adjusted=own is not None,
                reason=row.reason if row else "",
                notes=row.notes if row else "",
                weight=method.weights.get(area, 0),
            )
        )
    return result


def score_of(a: Assessment, areas: Sequence[AreaRead], method: Method) -> float | None:
    """The agency's score when an outside agency carried it out, else the weighted mean."""
    if a.kind in AGENCY_KINDS and a.agency and a.agency_score is not None:
        return a.agency_score
    return rule.overall_score({r.area: r.rating for r in areas}, method.weights)


def finding_reads(session: Session, a: Assessment, method: Method) -> list[FindingRead]:
    rows = session.exec(
        select(AssessmentFinding).where(AssessmentFinding.assessment_id == a.id).order_by(AssessmentFinding.id)
    ).all()
    return [
        FindingRead(
            id=f.id,
            assessment_id=f.assessment_id,
            area=f.area,
            control_id=f.control_id,
            title=f.title,
            description=f.description,
            likelihood=f.likelihood,
            impact=f.impact,
            level=rule.level_of(f.likelihood, f.impact, method.matrix),
            risk_id=f.risk_id,
        )  # fmt: skip
        for f in rows
    ]


def read_one(session: Session, a: Assessment, method: Method, today: date | None = None) -> AssessmentRead:
    today = today or today_utc()
    asset = session.get(Asset, a.asset_id)
    department = session.get(Department, asset.department_id)
    areas = area_reads(session, a, method)
    severe = a.asset_id in risks.severe_open(session, [a.asset_id], today)
    if a.status == "approved":
        score, conclusion = a.score, a.conclusion
    else:
        score = score_of(a, areas, method)
        conclusion = rule.conclusion_of(score, method.thresholds, severe)
    return AssessmentRead(
        id=a.id, asset_id=a.asset_id, asset_code=asset.code, asset_name=asset.name, department=department.code,
        kind=a.kind, status=a.status, title=a.title, assessors=list(a.assessors or []), started_on=a.started_on,
        finished_on=a.finished_on, agency=a.agency, report_number=a.report_number, agency_score=a.agency_score,
        summary=a.summary, score=score, conclusion=conclusion, severe_risk_open=severe,
        frozen=a.status == "approved", areas=areas,
        controls=[
            ControlReviewRead(control_id=row.control_id, area=area, status=row.status, note=row.note)
            for row, area in _reviewed(session, a)
        ],
        findings=finding_reads(session, a, method), created_by=a.created_by, created_at=a.created_at,
        submitted_by=a.submitted_by, submitted_at=a.submitted_at, decided_by=a.decided_by, decided_at=a.decided_at,
        return_reason=a.return_reason, version=a.version,
    )  # fmt: skip


# --- writing -------------------------------------------------------------------------------------


def _snapshot(a: Assessment) -> dict:
    return {
        name: getattr(a, name)
        for name in (
            "kind", "status", "title", "assessors", "started_on", "finished_on", "agency", "report_number",
            "agency_score", "summary", "score", "conclusion",
        )
    }  # fmt: skip


def _check_dates(started: date, finished: date | None, today: date) -> None:
    if started > today:
        raise Invalid(_("An assessment cannot start in the future."), field="started_on")
    if finished is not None and finished < started:
        raise Invalid(_("An assessment cannot finish before it started."), field="finished_on")
    if finished is not None and finished > today:
        raise Invalid(_("An assessment cannot finish in the future."), field="finished_on")


def _check_agency(kind: str, agency: str, agency_score: float | None) -> None:
    if (agency or agency_score is not None) and kind not in AGENCY_KINDS:
        raise Invalid(_("Only MLPS evaluations and CII assessments record an outside agency."), field="agency")
    if agency_score is not None and not agency:
        raise Invalid(_("Name the agency whose score this is."), field="agency")


def _put_areas(session: Session, a: Assessment, items: Sequence[AreaInput], reviewed: Mapping[str, str]) -> None:
    """Store the assessor's ratings and notes; a rating other than the computed one needs a reason."""
    areas = [item.area for item in items]
    repeated = sorted({x for x in areas if areas.count(x) > 1})
    if repeated:
        raise Invalid(_("Each area may be given once: %(area)s.", area=AREA.label(repeated[0])), field="areas")
    computed = computed_ratings(session, a.asset_id, reviewed)
    stored = _areas(session, a)
    for item in items:
        own = item.rating
        if own is not None and computed[item.area] is not None and abs(own - computed[item.area]) < 0.05:
            own = None  # the computed rating, sent back: not an adjustment
        if own is not None and not item.reason:
            raise Invalid(
                _("Say why the rating of %(area)s differs from the controls.", area=AREA.label(item.area)),
                field=f"reason_{item.area}",
            )
        row = stored.get(item.area) or AssessmentArea(assessment_id=a.id, area=item.area)
        row.rating = own
        row.reason = item.reason if own is not None else ""
        row.notes = item.notes
        session.add(row)


def _put_controls(session: Session, a: Assessment, items: Sequence[ControlReview]) -> dict[str, str]:
    """Replace the controls reviewed: each must be one of the asset's required controls."""
    ids = [item.control_id for item in items]
    repeated = sorted({x for x in ids if ids.count(x) > 1})
    if repeated:
        raise Invalid(
            _("Each control may be sent once: %(controls)s.", controls=", ".join(repeated[:5])), field="controls"
        )
    known = {cid for cid, _area, _status in _control_rows(session, a.asset_id)}
    unknown = [cid for cid in ids if cid not in known]
    if unknown:
        raise Invalid(
            ngettext(
                "The asset has no required control %(controls)s.",
                "The asset has none of the required controls %(controls)s.",
                len(unknown),
                controls=", ".join(unknown[:5]),
            ),
            field="controls",
        )
    for row in session.exec(select(AssessmentControl).where(AssessmentControl.assessment_id == a.id)).all():
        session.delete(row)
    session.flush()
    session.add_all(
        AssessmentControl(assessment_id=a.id, control_id=i.control_id, status=i.status, note=i.note) for i in items
    )
    return {i.control_id: i.status for i in items}


def create_assessment(session: Session, data: AssessmentCreate, actor: Actor, today: date | None = None) -> Assessment:
    """Start a draft assessment of an asset in the actor's scope."""
    today = today or today_utc()
    asset = scope.asset_in_scope(session, data.asset_id, actor)
    _check_dates(data.started_on, data.finished_on, today)
    _check_agency(data.kind, data.agency, data.agency_score)
    a = Assessment(
        asset_id=asset.id, kind=data.kind, title=data.title, assessors=list(data.assessors),
        started_on=data.started_on, finished_on=data.finished_on, agency=data.agency,
        report_number=data.report_number, agency_score=data.agency_score, summary=data.summary,
        created_by=actor.username,
    )  # fmt: skip
    session.add(a)
    session.flush()
    reviewed = _put_controls(session, a, data.controls)
    _put_areas(session, a, data.areas, reviewed)
    session.flush()
    audit.record(
        session, actor, "assessment.created", object_type="assessment", object_id=a.id,
        department_id=asset.department_id, asset=asset.code, after=_snapshot(a),
    )  # fmt: skip
    return a


def _frozen(a: Assessment) -> Conflict:
    if a.status == "approved":
        return Conflict(_("This assessment is approved and frozen: start a new assessment to record changes."))
    return Conflict(_("This assessment has been submitted: it can be changed once a leader returns it."))


def update_assessment(
    session: Session, a: Assessment, data: AssessmentUpdate, actor: Actor, today: date | None = None
) -> Assessment:
    """Edit a draft or returned assessment at the version read."""
    today = today or today_utc()
    if a.status not in EDITABLE:
        raise _frozen(a)
    check_version(a, data.version)
    before = _snapshot(a)
    for name in data.model_fields_set - {"version", "areas", "controls"}:
        value = getattr(data, name)
        if value is None and name not in ("finished_on", "agency_score"):
            continue
        setattr(a, name, list(value) if name == "assessors" else value)
    _check_dates(a.started_on, a.finished_on, today)
    _check_agency(a.kind, a.agency, a.agency_score)
    if data.controls is not None:
        reviewed = _put_controls(session, a, data.controls)
    else:
        reviewed = {row.control_id: row.status for row, _area in _reviewed(session, a)}
    if data.areas is not None:
        _put_areas(session, a, data.areas, reviewed)
    a.version += 1
    a.updated_at = datetime.now(UTC)
    session.add(a)
    session.flush()
    after = _snapshot(a)
    changed = {k for k in after if after[k] != before[k]}
    extra = {}
    if data.areas is not None:
        extra["areas"] = sorted(item.area for item in data.areas)
    if data.controls is not None:
        extra["controls"] = len(data.controls)
    asset = session.get(Asset, a.asset_id)
    audit.record(
        session, actor, "assessment.updated", object_type="assessment", object_id=a.id,
        department_id=asset.department_id, asset=asset.code, before={k: before[k] for k in changed},
        after={k: after[k] for k in changed}, **extra,
    )  # fmt: skip
    return a


def submit(session: Session, a: Assessment, actor: Actor, method: Method, version: int | None = None) -> Assessment:
    """Hand a draft or returned assessment to a leader: finished, with a score to decide on."""
    if a.status not in EDITABLE:
        raise Conflict(
            _("This assessment is approved and frozen.")
            if a.status == "approved"
            else _("This assessment is already submitted.")
        )
    if version is not None:
        check_version(a, version)
    if a.finished_on is None:
        raise Invalid(_("Give the date the assessment finished before submitting it."), field="finished_on")
    if a.kind in AGENCY_KINDS and a.agency and (a.agency_score is None or not a.report_number):
        raise Invalid(_("An outside agency's evaluation needs its report number and score."), field="report_number")
    if score_of(a, area_reads(session, a, method), method) is None:
        raise Invalid(_("No area can be rated: review the asset's controls or rate the areas."), field="areas")
    return _move(session, a, "submitted", actor, submitted=True)


def _move(
    session: Session, a: Assessment, status: str, actor: Actor, *, submitted: bool = False, **extra
) -> Assessment:
    before = a.status
    a.status = status
    now = datetime.now(UTC)
    if submitted:
        a.submitted_by, a.submitted_at = actor.username, now
    else:
        a.decided_by, a.decided_at = actor.username, now
    a.version += 1
    a.updated_at = now
    session.add(a)
    session.flush()
    asset = session.get(Asset, a.asset_id)
    audit.record(
        session, actor, f"assessment.{status}", object_type="assessment", object_id=a.id,
        department_id=asset.department_id, asset=asset.code, before={"status": before}, after={"status": status},
        **extra,
    )  # fmt: skip
    return a


def is_author(username: str, created_by: str, submitted_by: str, assessors: list[str] | None) -> bool:
    """Whether someone wrote, submitted or carried out an assessment: they never decide on it."""
    return username in (created_by, submitted_by) or username in (assessors or [])


def _decider(a: Assessment, actor: Actor) -> None:
    if is_author(actor.username, a.created_by, a.submitted_by, a.assessors):
        refusal = Refusal(actor, "authz.denied", "assessment", a.id, {"reason": "own_assessment"})
        raise Forbidden(_("You cannot decide on an assessment you wrote or carried out."), refusal=refusal)
    if a.status != "submitted":
        raise Conflict(
            _("Only a submitted assessment can be decided on.")
            if a.status != "approved"
            else _("This assessment is approved and frozen.")
        )


def approve(
    session: Session, a: Assessment, data: AssessmentDecision, actor: Actor, method: Method, today: date | None = None
) -> Assessment:
    """A leader other than its author approves a submitted assessment: its ratings, score and
    conclusion are fixed as they stand, and the control statuses it found are written to the
    asset's controls (each audited, as its review)."""
    today = today or today_utc()
    _decider(a, actor)
    if data.version is not None:
        check_version(a, data.version)
    areas = area_reads(session, a, method)
    stored = _areas(session, a)
    for area in areas:
        row = stored.get(area.area) or AssessmentArea(assessment_id=a.id, area=area.area)
        row.computed = area.computed
        session.add(row)
    a.score = score_of(a, areas, method)
    severe = a.asset_id in risks.severe_open(session, [a.asset_id], today)
    a.conclusion = rule.conclusion_of(a.score, method.thresholds, severe)
    _apply_controls(session, a, actor)
    return _move(session, a, "approved", actor, score=a.score, conclusion=a.conclusion)


def _apply_controls(session: Session, a: Assessment, actor: Actor) -> None:
    reviewed = [row for row, _area in _reviewed(session, a)]
    if not reviewed:
        return
    asset = session.get(Asset, a.asset_id)
    current = {
        row.control_id: row
        for row in session.exec(
            select(AssetControl).where(
                AssetControl.asset_id == a.asset_id, AssetControl.control_id.in_([r.control_id for r in reviewed])
            )
        ).all()
    }
    items = [
        AssetControlChange(
            control_id=r.control_id,
            status=r.status,
            # The assessor's note, else the evidence as it was: stored text is never in one reader's
            # language (the audit entry names the assessment).
            evidence=(r.note or current[r.control_id].evidence)[:4000],
            reviewed_on=a.finished_on,
            version=current[r.control_id].version,
        )
        for r in reviewed
        if r.control_id in current and current[r.control_id].status != r.status
    ]
    if items:
        asset_controls.update_controls(session, asset, AssetControlsUpdate(items=items), actor)


def return_assessment(session: Session, a: Assessment, data: AssessmentDecision, actor: Actor) -> Assessment:
    """A leader other than its author returns a submitted assessment, saying why."""
    _decider(a, actor)
    if not data.reason:
        raise Invalid(_("Say why the assessment is returned."), field="reason")
    if data.version is not None:
        check_version(a, data.version)
    a.return_reason = data.reason
    return _move(session, a, "returned", actor, reason=data.reason)


def delete_draft(session: Session, a: Assessment, actor: Actor) -> None:
    """Remove a draft never submitted (a returned one stays, with its decision, in the record)."""
    if a.status != "draft" or a.submitted_at is not None:
        raise Conflict(_("Only a draft that was never submitted can be removed."))
    if session.exec(
        select(AssessmentFinding.id).where(
            AssessmentFinding.assessment_id == a.id, AssessmentFinding.risk_id.is_not(None)
        )
    ).first():
        raise Conflict(_("A finding of this draft is already a risk: the draft stays."))
    asset = session.get(Asset, a.asset_id)
    before = _snapshot(a)
    session.delete(a)
    session.flush()
    audit.record(
        session, actor, "assessment.deleted", object_type="assessment", object_id=a.id,
        department_id=asset.department_id, asset=asset.code, before=before,
    )  # fmt: skip


# --- findings ------------------------------------------------------------------------------------


def add_finding(session: Session, a: Assessment, data: FindingCreate, actor: Actor) -> AssessmentFinding:
    """Record a weakness found (drafts and returned assessments only)."""
    if a.status not in EDITABLE:
        raise _frozen(a)
    if data.control_id:
        known = {cid for cid, _area, _status in _control_rows(session, a.asset_id)}
        if data.control_id not in known:
            raise Invalid(
                _("%(control)s is not one of the asset's required controls.", control=data.control_id),
                field="control_id",
            )
    finding = AssessmentFinding(assessment_id=a.id, **data.model_dump())
    session.add(finding)
    session.flush()
    asset = session.get(Asset, a.asset_id)
    audit.record(
        session, actor, "assessment.finding_added", object_type="assessment", object_id=a.id,
        department_id=asset.department_id, asset=asset.code, finding=finding.id, after=data.model_dump(),
    )  # fmt: skip
    return finding


def get_scoped_finding(
    session: Session, assessment_id: int, finding_id: int, actor: Actor
) -> tuple[Assessment, AssessmentFinding]:
    """A finding of an assessment in the actor's scope (missing or out of scope: 404).

    One look-up finds the assessment, its department's path and the finding, so that a missing
    finding of an assessment in scope and any finding of one out of it cost the same."""
    statement = (
        select(Assessment.id, Department.path, AssessmentFinding.id)
        .outerjoin(Asset, Asset.id == Assessment.asset_id)
        .outerjoin(Department, Department.id == Asset.department_id)
        .outerjoin(
            AssessmentFinding,
            and_(AssessmentFinding.assessment_id == Assessment.id, AssessmentFinding.id == finding_id),
        )
        .where(Assessment.id == assessment_id)
    )
    found = scoped_row(session, statement, actor, "assessment", assessment_id)
    if found[2] is None:
        raise NotFound(_("Not found."))
    a, finding = session.get(Assessment, assessment_id), session.get(AssessmentFinding, finding_id)
    if a is None or finding is None:  # removed since the look-up
        raise NotFound(_("Not found."))
    return a, finding


def remove_finding(session: Session, a: Assessment, finding: AssessmentFinding, actor: Actor) -> None:
    if a.status not in EDITABLE:
        raise _frozen(a)
    if finding.risk_id is not None:
        raise Conflict(_("This finding is already risk #%(id)d: it stays.", id=finding.risk_id))
    asset = session.get(Asset, a.asset_id)
    session.delete(finding)
    session.flush()
    audit.record(
        session, actor, "assessment.finding_removed", object_type="assessment", object_id=a.id,
        department_id=asset.department_id, asset=asset.code, finding=finding.id, title=finding.title,
    )  # fmt: skip


def _finding_draft(session: Session, finding_id: int, actor: Actor) -> risks.Draft:
    finding = session.get(AssessmentFinding, finding_id)
    if finding is None:
        raise Invalid(_("Unknown finding."), field="source_id")
    a = session.get(Assessment, finding.assessment_id)
    asset = session.get(Asset, a.asset_id)
    department = session.get(Department, asset.department_id)
    if not path_in_scope(department.path, actor):
        raise Invalid(_("Unknown finding."), field="source_id")
    return risks.Draft(
        asset_id=asset.id, title=finding.title, likelihood=finding.likelihood, impact=finding.impact,
        area=finding.area, control_id=finding.control_id, vulnerability=finding.description, assessment_id=a.id,
    )  # fmt: skip


def _link_finding(session: Session, finding_id: int, risk) -> None:
    finding = session.get(AssessmentFinding, finding_id)
    finding.risk_id = risk.id
    session.add(finding)
    session.flush()


risks.register_source("assessment_finding", "assessment", _finding_draft, _link_finding)
