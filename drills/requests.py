"""Leaders' requests for a drill: a leader asks (what it should cover, by when, why); the drill
team answers by planning a drill that names the request (drills.services.create with
`request_id`), or declines with a reason."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_babel import gettext as _
from sqlalchemy import func
from sqlmodel import Session, select

from assets.models import Asset
from assets.rule import today_utc
from drills.models import Drill, DrillRequest
from drills.schemas import RequestCreate, RequestDecline, RequestQuery, RequestRead
from drills.services import _home, assets_by_code
from secgov import audit, directory
from secgov.authz import Actor, in_scope, scoped_row
from secgov.errors import Conflict, Invalid, NotFound, check_version
from secgov.models import Department


def ask(session: Session, actor: Actor, data: RequestCreate) -> DrillRequest:
    """A leader asks for a drill."""
    if data.due_by < today_utc():
        raise Invalid(_("The date by which the drill is wanted cannot lie in the past."), field="due_by")
    home = _home(session, actor, data.department)
    assets = assets_by_code(session, data.assets, actor)
    row = DrillRequest(
        department_id=home.id,
        title=data.title,
        reason=data.reason,
        exercise_type=data.exercise_type,
        asset_ids=[asset.id for asset in assets],
        due_by=data.due_by,
        requested_by=actor.username,
    )
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "drill_request.created", object_type="drill_request", object_id=row.id,
        department_id=row.department_id,
        after={"title": row.title, "due_by": row.due_by, "assets": [a.code for a in assets],
               "exercise_type": row.exercise_type},
    )  # fmt: skip
    return row


def get(session: Session, actor: Actor, request_id: int) -> DrillRequest:
    statement = (
        select(DrillRequest.id, Department.path)
        .outerjoin(Department, Department.id == DrillRequest.department_id)
        .where(DrillRequest.id == request_id)
    )
    scoped_row(session, statement, actor, "drill_request", request_id)
    row = session.get(DrillRequest, request_id)
    if row is None:
        raise NotFound(_("Not found."))
    return row


def decline(session: Session, actor: Actor, request_id: int, data: RequestDecline) -> DrillRequest:
    """The drill team declines a request, saying why."""
    row = get(session, actor, request_id)
    if data.version is not None:
        check_version(row, data.version)
    if row.status != "open":
        raise Conflict(_("This request has been answered already."))
    row.status = "declined"
    row.decided_by = actor.username
    row.decided_at = datetime.now(UTC).replace(microsecond=0)
    row.decision_reason = data.reason
    row.version += 1
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "drill_request.declined", object_type="drill_request", object_id=row.id,
        department_id=row.department_id, reason=data.reason,
    )  # fmt: skip
    return row


def list_requests(session: Session, actor: Actor, query: RequestQuery) -> tuple[list[RequestRead], int]:
    """A page of requests in the actor's scope, open ones first, then the newest."""
    where = [in_scope(DrillRequest.department_id, actor)]
    if query.status:
        where.append(DrillRequest.status == query.status)
    total = session.exec(select(func.count()).select_from(DrillRequest).where(*where)).one()
    rows = session.exec(
        select(DrillRequest)
        .where(*where)
        .order_by((DrillRequest.status != "open"), DrillRequest.due_by, DrillRequest.id.desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return read_many(session, list(rows)), total


def read_many(session: Session, rows: list[DrillRequest]) -> list[RequestRead]:
    if not rows:
        return []
    asset_ids = {asset_id for row in rows for asset_id in row.asset_ids}
    assets = dict(session.exec(select(Asset.id, Asset.code).where(Asset.id.in_(asset_ids))).all()) if asset_ids else {}
    drills = dict(
        session.exec(select(Drill.request_id, Drill.id).where(Drill.request_id.in_([row.id for row in rows]))).all()
    )
    codes = directory.code_map(session)
    return [
        RequestRead(
            id=row.id,
            title=row.title,
            reason=row.reason,
            exercise_type=row.exercise_type,
            assets=[assets[a] for a in row.asset_ids if a in assets],
            department=codes.get(row.department_id, ""),
            due_by=row.due_by,
            status=row.status,
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            drill_id=drills.get(row.id),
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            decision_reason=row.decision_reason,
            version=row.version,
        )
        for row in rows
    ]


def read(session: Session, row: DrillRequest) -> RequestRead:
    return read_many(session, [row])[0]
