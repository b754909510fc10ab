"""The risk register: registering, editing, reviewing, accepting and closing risks, promoting
other records to risks, and the counts and heat map that the pages, the dashboard and the reports
read. A risk's level comes from the matrix in force (`assessments.rule`); its owner is a
Responsibility (duty "owner" on subject "risk")."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask_babel import gettext as _
from sqlalchemy import and_, case, exists, func, not_, or_
from sqlmodel import Session, select

from assessments import rule, scope
from assessments.codes import LEVELS, LIVE_STATUSES, SEVERE
from assessments.models import Risk, RiskAcceptance, RiskReview
from assessments.rule import Method
from assessments.schemas import (
    AcceptanceCreate,
    AcceptanceRead,
    HeatCell,
    HeatMap,
    Promotion,
    ReviewCreate,
    ReviewRead,
    RiskCounts,
    RiskCreate,
    RiskQuery,
    RiskRead,
    RiskUpdate,
)
from assets.models import Asset
from assets.rule import today_utc
from assets.services import owners_named
from secgov import audit, responsibility
from secgov.authz import Actor, in_scope, path_in_scope
from secgov.db import chunks
from secgov.directory import department_by_code
from secgov.errors import Conflict, Forbidden, Invalid, Refusal, check_version
from secgov.models import Department, User

SUBJECT = "risk"
OWNER = "owner"
# Who may accept a high or very-high risk (everyone who may write risks accepts the others).
ACCEPTORS = ("leader",)
# An acceptance lasts at most this long.
MAX_ACCEPTANCE_DAYS = 3 * 366
# Acceptances ending within this many days are listed as expiring.
EXPIRING_DAYS = 30
# A live risk's treatment due within this many days is due soon (the accountability matrix).
TREATMENT_SOON_DAYS = 30


# --- what "open" means ---------------------------------------------------------------------------


def accepted_in_force(today: date):
    """An approved acceptance of the risk that has not expired (it ends on its expires_on day)."""
    return exists().where(
        RiskAcceptance.risk_id == Risk.id, RiskAcceptance.status == "active", RiskAcceptance.expires_on > today
    )


def open_clause(today: date):
    """Risks still open: open or in treatment, or accepted by an acceptance that has lapsed (the
    daily job reopens those; until it runs they count as open all the same)."""
    return or_(Risk.status.in_(LIVE_STATUSES), and_(Risk.status == "accepted", not_(accepted_in_force(today))))


def severe_open(session: Session, asset_ids: Iterable[int], today: date) -> set[int]:
    """The assets among these with an open high or very-high risk (their conclusions are poor)."""
    ids = sorted(set(asset_ids))
    if not ids:
        return set()
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            session.exec(
                select(Risk.asset_id)
                .where(Risk.asset_id.in_(chunk), Risk.level.in_(SEVERE), open_clause(today))
                .distinct()
            ).all()
        )
    return found


def next_review(risk: Risk, method: Method) -> date | None:
    """When an open or accepted risk is next reviewed: its level's interval after the last review
    (or its registration). Closed risks are not reviewed."""
    if risk.status == "closed":
        return None
    return rule.review_due(risk.level, risk.last_reviewed_on or risk.created_on, method.review_months)


def treatment_overdue(risk: Risk, today: date) -> bool:
    """A treatment due before today on a risk still being worked on (not accepted, not closed)."""
    return risk.status in LIVE_STATUSES and risk.due_date is not None and risk.due_date < today


def treatment_state(risk: Risk, today: date) -> str:
    """How a live risk's treatment stands: `overdue` (treatment_overdue), `due_soon` (due within
    TREATMENT_SOON_DAYS) or `on_time` (later, or no due date)."""
    if treatment_overdue(risk, today):
        return "overdue"
    if (
        risk.status in LIVE_STATUSES
        and risk.due_date is not None
        and (risk.due_date - today).days <= TREATMENT_SOON_DAYS
    ):
        return "due_soon"
    return "on_time"


def urgency(risk: Risk) -> tuple:
    """The sort key of the most urgent risk first: the earliest treatment due date (none last),
    then the highest level."""
    level = LEVELS.index(risk.level) if risk.level in LEVELS else -1
    return (risk.due_date is None, risk.due_date or date.max, -level, risk.id)


def live_by_asset(session: Session, asset_ids: Sequence[int]) -> dict[int, list[Risk]]:
    """The live risks (open or in treatment) of these assets, most urgent first, by asset; one
    statement per 500 assets."""
    found: dict[int, list[Risk]] = {}
    for chunk in chunks(list(asset_ids)):
        for risk in session.exec(select(Risk).where(Risk.asset_id.in_(chunk), Risk.status.in_(LIVE_STATUSES))).all():
            found.setdefault(risk.asset_id, []).append(risk)
    for risks in found.values():
        risks.sort(key=urgency)
    return found


# --- reading -------------------------------------------------------------------------------------


def _acceptance_read(row: RiskAcceptance) -> AcceptanceRead:
    return AcceptanceRead(
        id=row.id,
        risk_id=row.risk_id,
        level=row.level,
        reason=row.reason,
        expires_on=row.expires_on,
        status=row.status,
        accepted_by=row.accepted_by,
        accepted_at=row.accepted_at,
        ended_by=row.ended_by,
        ended_at=row.ended_at,
    )


def read_many(session: Session, risks: list[Risk], method: Method, today: date | None = None) -> list[RiskRead]:
    """Output records for a page of risks: assets, departments, owners and acceptances in force
    in four queries."""
    if not risks:
        return []
    today = today or today_utc()
    ids = [r.id for r in risks]
    assets = {
        a.id: (a, code)
        for a, code in session.exec(
            select(Asset, Department.code)
            .join(Department, Department.id == Asset.department_id)
            .where(Asset.id.in_({r.asset_id for r in risks}))
        ).all()
    }
    owners = responsibility.holders(session, SUBJECT, ids, OWNER)
    acceptances = {
        row.risk_id: row
        for row in session.exec(
            select(RiskAcceptance)
            .where(RiskAcceptance.risk_id.in_(ids), RiskAcceptance.status == "active")
            .order_by(RiskAcceptance.accepted_at)
        ).all()
    }
    result = []
    for risk in risks:
        asset, department = assets[risk.asset_id]
        owner = owners.get(risk.id)
        acceptance = acceptances.get(risk.id)
        upcoming = next_review(risk, method)
        result.append(
            RiskRead(
                id=risk.id,
                title=risk.title,
                asset_id=risk.asset_id,
                asset_code=asset.code,
                asset_name=asset.name,
                department=department,
                area=risk.area,
                control_id=risk.control_id,
                source=risk.source,
                source_ref=risk.source_ref,
                assessment_id=risk.assessment_id,
                threat=risk.threat,
                vulnerability=risk.vulnerability,
                likelihood=risk.likelihood,
                impact=risk.impact,
                level=risk.level,
                treatment=risk.treatment,
                treatment_plan=risk.treatment_plan,
                owner=owner.username if owner else None,
                due_date=risk.due_date,
                status=risk.status,
                residual_likelihood=risk.residual_likelihood,
                residual_impact=risk.residual_impact,
                residual_level=risk.residual_level,
                acceptance=_acceptance_read(acceptance) if acceptance else None,
                last_reviewed_on=risk.last_reviewed_on,
                next_review_on=upcoming,
                treatment_overdue=treatment_overdue(risk, today),
                review_overdue=upcoming is not None and upcoming < today,
                created_by=risk.created_by,
                created_on=risk.created_on,
                closed_at=risk.closed_at,
                version=risk.version,
                updated_at=risk.updated_at,
            )
        )
    return result


def read_one(session: Session, risk: Risk, method: Method, today: date | None = None) -> RiskRead:
    return read_many(session, [risk], method, today)[0]


def get_risk(session: Session, risk_id: int, actor: Actor) -> Risk:
    """The risk with this id in the actor's scope (out of scope: audited, then not found)."""
    return scope.get_by_asset(session, Risk, risk_id, actor, "risk")


def review_due_clause(method: Method, today: date):
    """Risks whose next review is before today, in SQL: for each level, last reviewed (or
    registered) before today minus the level's interval."""
    conditions = []
    for level in LEVELS:
        limit = rule.add_months(today, -method.review_months[level])
        conditions.append(and_(Risk.level == level, func.coalesce(Risk.last_reviewed_on, Risk.created_on) < limit))
    return and_(Risk.status != "closed", or_(*conditions))


def _filters(session: Session, actor: Actor, query: RiskQuery, method: Method, today: date) -> list:
    where = [in_scope(Asset.department_id, actor)]
    if query.q:
        pattern = f"%{query.q.lower()}%"
        where.append(
            or_(
                func.lower(Risk.title).like(pattern),
                func.lower(Asset.code).like(pattern),
                func.lower(Asset.name).like(pattern),
            )
        )
    if query.asset_id is not None:
        where.append(Risk.asset_id == query.asset_id)
    if query.department:
        department = department_by_code(session, query.department, actor)
        where.append(Department.path.startswith(department.path))
    if query.level:
        where.append(Risk.level == query.level)
    if query.status == "live":
        where.append(Risk.status != "closed")
    elif query.status:
        where.append(Risk.status == query.status)
    for name in ("treatment", "source", "area"):
        value = getattr(query, name)
        if value:
            where.append(getattr(Risk, name) == value)
    if query.owner:
        owned = (
            select(responsibility.Responsibility.subject_id)
            .join(User, User.id == responsibility.Responsibility.user_id)
            .where(
                responsibility.Responsibility.subject_type == SUBJECT,
                responsibility.Responsibility.duty == OWNER,
                responsibility.covering(),
                func.lower(User.username) == query.owner.lower(),
            )
        )
        where.append(Risk.id.in_(owned))
    treatment_late = and_(Risk.status.in_(LIVE_STATUSES), Risk.due_date.is_not(None), Risk.due_date < today)
    if query.overdue == "treatment":
        where.append(treatment_late)
    elif query.overdue == "review":
        where.append(review_due_clause(method, today))
    elif query.overdue == "any":
        where.append(or_(treatment_late, review_due_clause(method, today)))
    return where


def _base():
    return select(Risk).join(Asset, Asset.id == Risk.asset_id).join(Department, Department.id == Asset.department_id)


def list_risks(
    session: Session, actor: Actor, query: RiskQuery, method: Method, today: date | None = None
) -> tuple[list[Risk], int]:
    today = today or today_utc()
    where = _filters(session, actor, query, method, today)
    total = session.exec(
        select(func.count(Risk.id))
        .join(Asset, Asset.id == Risk.asset_id)
        .join(Department, Department.id == Asset.department_id)
        .where(*where)
    ).one()
    rank = case({code: rank for rank, code in enumerate(LEVELS)}, value=Risk.level)
    order = {
        "level": (rank.desc(), Risk.due_date.is_(None), Risk.due_date, Risk.id),
        "due_date": (Risk.due_date.is_(None), Risk.due_date, Risk.id),
        "updated_at": (Risk.updated_at.desc(), Risk.id.desc()),
        "id": (Risk.id,),
    }[query.sort]
    rows = session.exec(
        _base().where(*where).order_by(*order).offset((query.page - 1) * query.page_size).limit(query.page_size)
    ).all()
    return list(rows), total


def export_records(session: Session, actor: Actor, query: RiskQuery, method: Method) -> Iterable[RiskRead]:
    """Every risk the query selects, for the register's export, by pages of 500."""
    page = query.model_copy(update={"page_size": 200, "page": 1})
    while True:
        rows, _total = list_risks(session, actor, page, method)
        yield from read_many(session, rows, method)
        if len(rows) < page.page_size:
            return
        page = page.model_copy(update={"page": page.page + 1})


def reviews(session: Session, risk: Risk) -> list[ReviewRead]:
    rows = session.exec(
        select(RiskReview)
        .where(RiskReview.risk_id == risk.id)
        .order_by(RiskReview.reviewed_on.desc(), RiskReview.id.desc())
    ).all()
    return [
        ReviewRead(
            id=r.id,
            risk_id=r.risk_id,
            reviewed_on=r.reviewed_on,
            reviewed_by=r.reviewed_by,
            likelihood=r.likelihood,
            impact=r.impact,
            level=r.level,
            note=r.note,
        )  # fmt: skip
        for r in rows
    ]


def acceptances(session: Session, risk: Risk) -> list[AcceptanceRead]:
    rows = session.exec(
        select(RiskAcceptance).where(RiskAcceptance.risk_id == risk.id).order_by(RiskAcceptance.accepted_at.desc())
    ).all()
    return [_acceptance_read(r) for r in rows]


# --- writing -------------------------------------------------------------------------------------


def _snapshot(risk: Risk) -> dict:
    return {
        name: getattr(risk, name)
        for name in (
            "title", "area", "control_id", "threat", "vulnerability", "likelihood", "impact", "level", "treatment",
            "treatment_plan", "due_date", "status", "residual_likelihood", "residual_impact", "residual_level",
        )
    }  # fmt: skip


def _owner(session: Session, name: str | None, asset: Asset, actor: Actor) -> User:
    """The named user (active, in scope), or the asset's owner when no name is given."""
    if name:
        user = owners_named(session, [name], actor).get(name.lower())
        if user is None:
            raise Invalid(_("Unknown or disabled user: %(name)s", name=name[:64]), field="owner")
        return user
    owner = responsibility.holders(session, "asset", [asset.id], "owner").get(asset.id)
    if owner is None or owner.disabled:
        raise Invalid(_("The asset has no active owner: name the risk's owner."), field="owner")
    return owner


def _residual(likelihood: int | None, impact: int | None, matrix: str) -> str:
    if likelihood is None or impact is None:
        return ""
    return rule.level_of(likelihood, impact, matrix)


def _check_residual(likelihood: int | None, impact: int | None) -> None:
    if (likelihood is None) != (impact is None):
        raise Invalid(
            _("Give both the residual likelihood and the residual impact, or neither."), field="residual_impact"
        )


def _check_due(due: date | None, created_on: date) -> None:
    if due is not None and due < created_on:
        raise Invalid(_("The due date cannot be before the risk was registered."), field="due_date")


@dataclass(frozen=True)
class Draft:
    """What a promoted record brings to its new risk."""

    asset_id: int
    title: str
    likelihood: int
    impact: int
    area: str = ""
    control_id: str = ""
    threat: str = ""
    vulnerability: str = ""
    assessment_id: int | None = None


def _create(
    session: Session,
    data: RiskCreate,
    actor: Actor,
    method: Method,
    today: date,
    *,
    source: str = "manual",
    source_ref: str = "",
    assessment_id: int | None = None,
) -> Risk:
    asset = scope.asset_in_scope(session, data.asset_id, actor)
    _check_due(data.due_date, today)
    _check_residual(data.residual_likelihood, data.residual_impact)
    owner = _owner(session, data.owner, asset, actor)
    risk = _row(data, actor, method, today, source=source, source_ref=source_ref, assessment_id=assessment_id)
    session.add(risk)
    session.flush()
    responsibility.assign(
        session, SUBJECT, risk.id, OWNER, owner, actor, reason="registered", department_id=asset.department_id
    )
    audit.record(
        session, actor, "risk.created", object_type="risk", object_id=risk.id, department_id=asset.department_id,
        asset=asset.code, source=source, source_ref=source_ref, after={**_snapshot(risk), "owner": owner.username},
    )  # fmt: skip
    return risk


def _row(
    data: RiskCreate,
    actor: Actor,
    method: Method,
    today: date,
    *,
    source: str = "manual",
    source_ref: str = "",
    assessment_id: int | None = None,
) -> Risk:
    """A new risk's row, its levels from the matrix in force."""
    return Risk(
        asset_id=data.asset_id,
        title=data.title,
        area=data.area,
        control_id=data.control_id,
        source=source,
        source_ref=source_ref,
        assessment_id=assessment_id,
        threat=data.threat,
        vulnerability=data.vulnerability,
        likelihood=data.likelihood,
        impact=data.impact,
        level=rule.level_of(data.likelihood, data.impact, method.matrix),
        treatment=data.treatment,
        treatment_plan=data.treatment_plan,
        due_date=data.due_date,
        status=data.status,
        residual_likelihood=data.residual_likelihood,
        residual_impact=data.residual_impact,
        residual_level=_residual(data.residual_likelihood, data.residual_impact, method.matrix),
        created_by=actor.username,
        created_on=today,
    )


def create_risk(session: Session, data: RiskCreate, actor: Actor, method: Method, today: date | None = None) -> Risk:
    """Register a risk by hand on an asset in the actor's scope; its level follows from the matrix."""
    return _create(session, data, actor, method, today or today_utc())


def create_risks(
    session: Session, items: Sequence[RiskCreate], actor: Actor, method: Method, today: date | None = None
) -> list[Risk]:
    """`create_risk` for many risks at once (an import, the demo city), all or none: the same
    checks and records, with the look-ups, the owners' terms and the audit entries by the batch
    (a few statements in all rather than a dozen per risk)."""
    today = today or today_utc()
    if not items:
        return []
    found = {
        asset_id: (department_id, path)
        for asset_id, department_id, path in session.exec(
            select(Asset.id, Asset.department_id, Department.path)
            .join(Department, Department.id == Asset.department_id)
            .where(Asset.id.in_({data.asset_id for data in items}))
        ).all()
    }
    named = owners_named(session, [data.owner for data in items if data.owner], actor)
    holders = responsibility.holders(session, "asset", list(found), "owner")
    owners: list[User] = []
    for data in items:
        if data.asset_id not in found or not path_in_scope(found[data.asset_id][1], actor):
            raise Invalid(_("Unknown asset."), field="asset_id")
        _check_due(data.due_date, today)
        _check_residual(data.residual_likelihood, data.residual_impact)
        owner = named.get(data.owner.lower()) if data.owner else holders.get(data.asset_id)
        if owner is None and data.owner:
            raise Invalid(_("Unknown or disabled user: %(name)s", name=data.owner[:64]), field="owner")
        if owner is None or owner.disabled:
            raise Invalid(_("The asset has no active owner: name the risk's owner."), field="owner")
        owners.append(owner)
    rows = [_row(data, actor, method, today) for data in items]
    session.add_all(rows)
    session.flush()
    responsibility.assign_many(
        session,
        SUBJECT,
        OWNER,
        [(risk.id, owner, found[risk.asset_id][0]) for risk, owner in zip(rows, owners, strict=True)],
        actor,
        reason="registered",
    )
    codes = dict(session.exec(select(Asset.id, Asset.code).where(Asset.id.in_(list(found)))).all())
    audit.record_many(
        session,
        actor,
        [
            audit.Event(
                "risk.created",
                "risk",
                risk.id,
                found[risk.asset_id][0],
                after={**_snapshot(risk), "owner": owner.username},
                extra={"asset": codes[risk.asset_id], "source": risk.source, "source_ref": risk.source_ref},
            )  # fmt: skip
            for risk, owner in zip(rows, owners, strict=True)
        ],
    )
    return rows


def update_risk(
    session: Session, risk: Risk, data: RiskUpdate, actor: Actor, method: Method, today: date | None = None
) -> Risk:
    """Edit a risk at the version read. A new likelihood or impact relevels it; closing it ends
    its acceptance; an accepted risk edited back to open or in treatment ends its acceptance too."""
    today = today or today_utc()
    check_version(risk, data.version)
    if risk.status == "closed" and data.status not in ("open", "in_treatment"):
        raise Conflict(_("This risk is closed: reopen it to change it."))
    before = _snapshot(risk)
    asset = session.get(Asset, risk.asset_id)
    fields = data.model_fields_set - {"version", "owner", "reason", "status"}
    for name in fields:
        value = getattr(data, name)
        if value is None and name not in ("due_date", "residual_likelihood", "residual_impact"):
            continue
        setattr(risk, name, value)
    _check_due(risk.due_date, risk.created_on)
    _check_residual(risk.residual_likelihood, risk.residual_impact)
    risk.level = rule.level_of(risk.likelihood, risk.impact, method.matrix)
    risk.residual_level = _residual(risk.residual_likelihood, risk.residual_impact, method.matrix)
    ended: list[audit.Event] = []
    if data.status is not None and data.status != risk.status:
        if risk.status == "accepted" or data.status == "closed":
            ended = _end_acceptances(session, risk, "revoked", actor)
        risk.status = data.status
        risk.closed_at = datetime.now(UTC) if data.status == "closed" else None
    if data.owner is not None:
        owner = _owner(session, data.owner, asset, actor)
        responsibility.assign(
            session, SUBJECT, risk.id, OWNER, owner, actor, reason=data.reason, department_id=asset.department_id
        )
    risk.version += 1
    risk.updated_at = datetime.now(UTC)
    session.add(risk)
    session.flush()
    after = _snapshot(risk)
    changed = {k for k in after if after[k] != before[k]}
    audit.record_many(
        session,
        actor,
        [
            audit.Event(
                "risk.updated",
                "risk",
                risk.id,
                asset.department_id,
                before={k: before[k] for k in changed},
                after={k: after[k] for k in changed},
                extra={"asset": asset.code, "reason": data.reason},
            ),  # fmt: skip
            *ended,
        ],
    )
    return risk


def _end_acceptances(session: Session, risk: Risk, status: str, actor: Actor) -> list[audit.Event]:
    events = []
    asset = session.get(Asset, risk.asset_id)
    for row in session.exec(
        select(RiskAcceptance).where(RiskAcceptance.risk_id == risk.id, RiskAcceptance.status == "active")
    ).all():
        row.status = status
        row.ended_by = actor.username
        row.ended_at = datetime.now(UTC)
        session.add(row)
        events.append(
            audit.Event(
                f"risk_acceptance.{status}",
                "risk",
                risk.id,
                asset.department_id,
                before={"status": "active"},
                after={"status": status},
                extra={"asset": asset.code, "acceptance": row.id, "expires_on": row.expires_on},
            )  # fmt: skip
        )
    return events


def accept(
    session: Session,
    risk: Risk,
    data: AcceptanceCreate,
    actor: Actor,
    roles: Collection[str],
    today: date | None = None,
) -> RiskAcceptance:
    """Accept a risk as it is until data.expires_on, saying why. A high or very-high risk is
    accepted only by a leader (refused and audited otherwise); a new acceptance replaces the one
    in force."""
    today = today or today_utc()
    if risk.status == "closed":
        raise Conflict(_("This risk is closed: there is nothing to accept."))
    if risk.level in SEVERE and not set(roles) & set(ACCEPTORS):
        refusal = Refusal(actor, "authz.denied", "risk", risk.id, {"reason": "severe_acceptance", "level": risk.level})
        raise Forbidden(_("Only a leader may accept a high or very-high risk."), refusal=refusal)
    if data.expires_on <= today:
        raise Invalid(_("The acceptance must expire after today."), field="expires_on")
    if (data.expires_on - today).days > MAX_ACCEPTANCE_DAYS:
        raise Invalid(_("An acceptance can last at most three years."), field="expires_on")
    ended = _end_acceptances(session, risk, "revoked", actor)
    before = risk.status
    row = RiskAcceptance(
        risk_id=risk.id, level=risk.level, reason=data.reason, expires_on=data.expires_on, accepted_by=actor.username
    )
    session.add(row)
    risk.status = "accepted"
    risk.treatment = "accept"
    risk.version += 1
    risk.updated_at = datetime.now(UTC)
    session.add(risk)
    session.flush()
    asset = session.get(Asset, risk.asset_id)
    audit.record_many(
        session,
        actor,
        [
            *ended,
            audit.Event(
                "risk.accepted",
                "risk",
                risk.id,
                asset.department_id,
                before={"status": before},
                after={"status": "accepted", "expires_on": row.expires_on},
                extra={"asset": asset.code, "level": risk.level, "reason": data.reason, "acceptance": row.id},
            ),  # fmt: skip
        ],
    )
    return row


def expire_acceptances(session: Session, actor: Actor, today: date | None = None) -> list[int]:
    """End every acceptance that has expired (on or before today) and reopen its risk: the daily
    job's work, audited risk by risk. Returns the risks reopened."""
    today = today or today_utc()
    rows = session.exec(
        select(RiskAcceptance, Risk)
        .join(Risk, Risk.id == RiskAcceptance.risk_id)
        .where(RiskAcceptance.status == "active", RiskAcceptance.expires_on <= today)
    ).all()
    events, reopened = [], []
    departments = (
        dict(
            session.exec(
                select(Asset.id, Asset.department_id).where(Asset.id.in_({r.asset_id for _a, r in rows}))
            ).all()
        )
        if rows
        else {}
    )
    for acceptance, risk in rows:
        acceptance.status = "expired"
        acceptance.ended_by = actor.username
        acceptance.ended_at = datetime.now(UTC)
        session.add(acceptance)
        if risk.status == "accepted":
            risk.status = "open"
            risk.version += 1
            risk.updated_at = datetime.now(UTC)
            session.add(risk)
            reopened.append(risk.id)
        events.append(
            audit.Event(
                "risk_acceptance.expired",
                "risk",
                risk.id,
                departments.get(risk.asset_id),
                before={"status": "accepted"},
                after={"status": risk.status},
                extra={"acceptance": acceptance.id, "expires_on": acceptance.expires_on},
            )  # fmt: skip
        )
    session.flush()
    audit.record_many(session, actor, events)
    return reopened


def review(
    session: Session, risk: Risk, data: ReviewCreate, actor: Actor, method: Method, today: date | None = None
) -> RiskReview:
    """Record a periodic review: the likelihood and impact as reviewed (they relevel the risk
    when they change) and a note; the next review follows from the level."""
    today = today or today_utc()
    if risk.status == "closed":
        raise Conflict(_("This risk is closed: it is no longer reviewed."))
    _check_residual(data.residual_likelihood, data.residual_impact)
    before = _snapshot(risk)
    risk.likelihood = data.likelihood or risk.likelihood
    risk.impact = data.impact or risk.impact
    risk.level = rule.level_of(risk.likelihood, risk.impact, method.matrix)
    if data.residual_likelihood is not None:
        risk.residual_likelihood, risk.residual_impact = data.residual_likelihood, data.residual_impact
        risk.residual_level = _residual(risk.residual_likelihood, risk.residual_impact, method.matrix)
    risk.last_reviewed_on = today
    risk.version += 1
    risk.updated_at = datetime.now(UTC)
    row = RiskReview(
        risk_id=risk.id, reviewed_on=today, reviewed_by=actor.username, likelihood=risk.likelihood,
        impact=risk.impact, level=risk.level, note=data.note,
    )  # fmt: skip
    session.add_all([risk, row])
    session.flush()
    after = _snapshot(risk)
    changed = {k for k in after if after[k] != before[k]}
    asset = session.get(Asset, risk.asset_id)
    audit.record(
        session, actor, "risk.reviewed", object_type="risk", object_id=risk.id, department_id=asset.department_id,
        asset=asset.code, note=data.note, before={k: before[k] for k in changed}, after={k: after[k] for k in changed},
    )  # fmt: skip
    return row


def relevel_all(session: Session, before: str, after: str, actor: Actor, _config=None) -> int:
    """The matrix changed from `before` to `after`: recompute every stored level (inherent,
    residual, reviews keep theirs), auditing each risk whose level changes. Returns how many."""
    if before == after:
        return 0
    events = []
    rows = session.exec(select(Risk, Asset.department_id).join(Asset, Asset.id == Risk.asset_id)).all()
    for risk, department_id in rows:
        level = rule.level_of(risk.likelihood, risk.impact, after)
        residual = _residual(risk.residual_likelihood, risk.residual_impact, after)
        if level == risk.level and residual == risk.residual_level:
            continue
        events.append(
            audit.Event(
                "risk.relevelled",
                "risk",
                risk.id,
                department_id,
                before={"level": risk.level, "residual_level": risk.residual_level},
                after={"level": level, "residual_level": residual},
                extra={"matrix": after},
            )  # fmt: skip
        )
        risk.level, risk.residual_level = level, residual
        risk.version += 1
        session.add(risk)
    session.flush()
    audit.record_many(session, actor, events)
    return len(events)


# --- promotion -----------------------------------------------------------------------------------

# Where risks come from, beside the hand: each source's resolver turns a record id into a Draft
# (checking the record is in the actor's scope) and its linker records the new risk on it. The
# assessment findings register here; scan findings and drill actions register theirs from their
# own packages (`SOURCES[...] = ...`) when they are built.
Resolver = Callable[[Session, int, Actor], Draft]
Linker = Callable[[Session, int, Risk], None]
SOURCES: dict[str, tuple[str, Resolver, Linker]] = {}


def register_source(code: str, risk_source: str, resolver: Resolver, linker: Linker) -> None:
    """Declare a kind of record that can be promoted (`code`, e.g. "assessment_finding") and the
    risk source its risks carry (`risk_source`, a RISK_SOURCE code)."""
    SOURCES[code] = (risk_source, resolver, linker)


def promote(session: Session, data: Promotion, actor: Actor, method: Method, today: date | None = None) -> Risk:
    """Promote a record to the risk register: one risk per record (promoting it again is a
    conflict naming the risk); the record is linked to its risk."""
    today = today or today_utc()
    if data.source not in SOURCES:
        raise Invalid(_("Records of this kind cannot be promoted yet."), field="source")
    risk_source, resolver, linker = SOURCES[data.source]
    draft = resolver(session, data.source_id, actor)
    ref = f"{data.source}:{data.source_id}"
    known = session.exec(select(Risk.id).where(Risk.source == risk_source, Risk.source_ref == ref)).first()
    if known is not None:
        raise Conflict(_("This record is already risk #%(id)d.", id=known))
    risk = _create(
        session,
        RiskCreate(
            asset_id=draft.asset_id,
            title=draft.title[:200],
            area=draft.area,
            control_id=draft.control_id[:40],
            threat=draft.threat,
            vulnerability=draft.vulnerability,
            likelihood=draft.likelihood,
            impact=draft.impact,
            treatment=data.treatment,
            owner=data.owner,
            due_date=data.due_date,
        ),  # fmt: skip
        actor,
        method,
        today,
        source=risk_source,
        source_ref=ref,
        assessment_id=draft.assessment_id,
    )
    linker(session, data.source_id, risk)
    return risk


# --- counts and the heat map ---------------------------------------------------------------------


def _scoped_live(actor: Actor, department_path: str | None = None) -> list:
    where = [Risk.status != "closed", in_scope(Asset.department_id, actor)]
    if department_path:
        where.append(Department.path.startswith(department_path))
    return where


def heat_map(session: Session, actor: Actor, method: Method, department_path: str | None = None) -> HeatMap:
    """Live risks (open, in treatment, accepted) in scope by likelihood × impact, inherent and
    residual (a risk without a residual assessment counts at its inherent cell), each cell with
    its level under the matrix in force."""
    where = _scoped_live(actor, department_path)

    def cells(lik, imp) -> dict[tuple[int, int], int]:
        rows = session.exec(
            select(lik, imp, func.count(Risk.id))
            .join(Asset, Asset.id == Risk.asset_id)
            .join(Department, Department.id == Asset.department_id)
            .where(*where)
            .group_by(lik, imp)
        ).all()
        return {(int(a), int(b)): n for a, b, n in rows}

    inherent = cells(Risk.likelihood, Risk.impact)
    res_lik = func.coalesce(Risk.residual_likelihood, Risk.likelihood)
    res_imp = func.coalesce(Risk.residual_impact, Risk.impact)
    residual = cells(res_lik, res_imp)

    def grid(counts: Mapping[tuple[int, int], int]) -> list[HeatCell]:
        return [
            HeatCell(
                likelihood=lik,
                impact=imp,
                level=rule.level_of(lik, imp, method.matrix),
                count=counts.get((lik, imp), 0),
            )
            for lik in range(5, 0, -1)
            for imp in range(1, 6)
        ]

    return HeatMap(matrix=method.matrix, inherent=grid(inherent), residual=grid(residual), total=sum(inherent.values()))


def counts(
    session: Session, actor: Actor, method: Method, today: date | None = None, department_path: str | None = None
) -> RiskCounts:
    """Open risks by level, overdue treatments and reviews, acceptances in force and expiring."""
    today = today or today_utc()
    joined = lambda q: q.join(Asset, Asset.id == Risk.asset_id).join(Department, Department.id == Asset.department_id)  # noqa: E731
    scope = [in_scope(Asset.department_id, actor)]
    if department_path:
        scope.append(Department.path.startswith(department_path))
    by_level = dict.fromkeys(LEVELS, 0)
    for level, n in session.exec(
        joined(select(Risk.level, func.count(Risk.id))).where(*scope, open_clause(today)).group_by(Risk.level)
    ).all():
        by_level[level] = n
    late = session.exec(
        joined(select(func.count(Risk.id))).where(
            *scope, Risk.status.in_(LIVE_STATUSES), Risk.due_date.is_not(None), Risk.due_date < today
        )
    ).one()
    review_late = session.exec(
        joined(select(func.count(Risk.id))).where(*scope, review_due_clause(method, today))
    ).one()
    in_force = accepted_in_force(today)
    accepted = session.exec(
        joined(select(func.count(Risk.id))).where(*scope, Risk.status == "accepted", in_force)
    ).one()
    soon = date.fromordinal(today.toordinal() + EXPIRING_DAYS)
    expiring = session.exec(
        select(func.count(RiskAcceptance.id))
        .join(Risk, Risk.id == RiskAcceptance.risk_id)
        .join(Asset, Asset.id == Risk.asset_id)
        .join(Department, Department.id == Asset.department_id)
        .where(*scope, RiskAcceptance.status == "active", RiskAcceptance.expires_on > today,
               RiskAcceptance.expires_on <= soon)
    ).one()  # fmt: skip
    return RiskCounts(
        by_level=by_level,
        treatment_overdue=late,
        review_overdue=review_late,
        accepted=accepted,
        acceptances_expiring=expiring,
    )
