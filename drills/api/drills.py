"""Drills over the API: planning, conducting (start, timeline, record, complete or cancel), the
after-action report (a leader approves it), comments, a drill's improvement plan, and the required
coverage; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint

from drills import actions, coverage, services
from drills.schemas import (
    AarApproval,
    ActionCreate,
    ActionQuery,
    ActionRead,
    CommentCreate,
    CommentRead,
    CoverageRead,
    DrillCancel,
    DrillComplete,
    DrillCreate,
    DrillQuery,
    DrillRead,
    DrillRecord,
    DrillStart,
    DrillSummary,
    DrillUpdate,
    TimelineCreate,
    TimelineRead,
)
from drills.services import APPROVERS, COMMENTERS, READERS, WRITERS
from secgov.authz import roles
from secgov.rest import PageQuery, operation, page, page_model
from secgov.web import actor, get_session, service_config

bp = Blueprint("drills_api", __name__, url_prefix="/api/v1")
TAGS = ["drills"]


def _read(drill_id: int) -> DrillRead:
    db = get_session()
    return services.read(db, services.get(db, actor(), drill_id))


@bp.get("/drills")
@roles(*READERS)
@operation(query=DrillQuery, ok=page_model(DrillSummary), tags=TAGS)
def drills_list(query: DrillQuery):
    """Drills in the caller's scope, the latest planned first; filtered (text, status, exercise
    type, department and its subtree, asset, year, reporting against the deadline) and paged."""
    rows, total = services.list_drills(get_session(), actor(), query)
    return page(rows, total, query)


@bp.post("/drills")
@roles(*WRITERS)
@operation(body=DrillCreate, ok=DrillRead, status=201, tags=TAGS)
def drills_create(body: DrillCreate):
    """Plan a drill in your scope (its reporting deadline follows from its assets and
    departments); naming a leader's open request schedules that request."""
    db = get_session()
    return services.read(db, services.create(db, actor(), body))


@bp.get("/drills/coverage")
@roles(*READERS)
@operation(ok=CoverageRead, tags=TAGS)
def drills_coverage():
    """The required coverage in the caller's scope: every CII asset and every department holding
    an operational system drilled within the period, and the gaps with the last and next drill."""
    return coverage.coverage(get_session(), actor(), service_config())


@bp.get("/drills/<int:drill_id>")
@roles(*READERS)
@operation(ok=DrillRead, tags=TAGS)
def drills_get(drill_id: int):
    """One drill whole: scope, people, objectives with their ratings, timeline, measured times
    against the reporting deadline, comments."""
    return _read(drill_id)


@bp.patch("/drills/<int:drill_id>")
@roles(*WRITERS)
@operation(body=DrillUpdate, ok=DrillRead, tags=TAGS)
def drills_update(drill_id: int, body: DrillUpdate):
    """Change a planned drill (send the version you read; lists given replace the old ones)."""
    services.update(get_session(), actor(), drill_id, body)
    return _read(drill_id)


@bp.post("/drills/<int:drill_id>/start")
@roles(*WRITERS)
@operation(body=DrillStart, body_optional=True, ok=DrillRead, tags=TAGS)
def drills_start(drill_id: int, body: DrillStart):
    """Begin a planned drill, now or at `started_at` (not ahead of the clock)."""
    services.start(get_session(), actor(), drill_id, body)
    return _read(drill_id)


@bp.post("/drills/<int:drill_id>/record")
@roles(*WRITERS)
@operation(body=DrillRecord, ok=DrillRead, tags=TAGS)
def drills_record(drill_id: int, body: DrillRecord):
    """Record a drill that has started: its actual times (the end after the start, the timeline
    inside them), P/S/M/U ratings of its objectives, strengths and areas for improvement."""
    services.save_record(get_session(), actor(), drill_id, body)
    return _read(drill_id)


@bp.post("/drills/<int:drill_id>/complete")
@roles(*WRITERS)
@operation(body=DrillComplete, body_optional=True, ok=DrillRead, tags=TAGS)
def drills_complete(drill_id: int, body: DrillComplete):
    """End a drill in progress, now or at `ended_at`; a recurring drill gets its next occurrence."""
    services.complete(get_session(), actor(), drill_id, body, service_config())
    return _read(drill_id)


@bp.post("/drills/<int:drill_id>/cancel")
@roles(*WRITERS)
@operation(body=DrillCancel, ok=DrillRead, tags=TAGS)
def drills_cancel(drill_id: int, body: DrillCancel):
    """Cancel a planned drill or one in progress, saying why; a recurring drill gets its next occurrence."""
    services.cancel(get_session(), actor(), drill_id, body, service_config())
    return _read(drill_id)


@bp.post("/drills/<int:drill_id>/approve")
@roles(*APPROVERS)
@operation(body=AarApproval, body_optional=True, ok=DrillRead, tags=TAGS)
def drills_approve(drill_id: int, body: AarApproval):
    """A leader approves a completed drill's after-action report; its record is then final."""
    services.approve_report(get_session(), actor(), drill_id, body.version)
    return _read(drill_id)


@bp.post("/drills/<int:drill_id>/timeline")
@roles(*WRITERS)
@operation(body=TimelineCreate, ok=TimelineRead, status=201, tags=TAGS)
def drills_timeline_add(drill_id: int, body: TimelineCreate):
    """Add a timestamped entry (who did what; a milestone sets a measured time) between the
    drill's start and its end."""
    entry = services.add_entry(get_session(), actor(), drill_id, body)
    return TimelineRead(
        id=entry.id, at=entry.at, who=entry.who, text=entry.text, milestone=entry.milestone, created_by=entry.created_by
    )


@bp.delete("/drills/<int:drill_id>/timeline/<int:entry_id>")
@roles(*WRITERS)
@operation(status=204, tags=TAGS)
def drills_timeline_remove(drill_id: int, entry_id: int):
    """Remove a timeline entry written in error (the measured times follow)."""
    services.remove_entry(get_session(), actor(), drill_id, entry_id)


@bp.post("/drills/<int:drill_id>/comments")
@roles(*COMMENTERS)
@operation(body=CommentCreate, ok=CommentRead, status=201, tags=TAGS)
def drills_comment(drill_id: int, body: CommentCreate):
    """Comment on a drill."""
    row = services.comment(get_session(), actor(), drill_id, body)
    return CommentRead(id=row.id, author=row.author, text=row.text, created_at=row.created_at)


@bp.get("/drills/<int:drill_id>/actions")
@roles(*READERS)
@operation(query=PageQuery, ok=page_model(ActionRead), tags=TAGS + ["corrective-actions"])
def drills_actions(drill_id: int, query: PageQuery):
    """The drill's improvement plan: its corrective actions, the earliest due first."""
    db = get_session()
    drill = services.get(db, actor(), drill_id)
    wanted = ActionQuery(drill_id=drill.id, page=query.page, page_size=query.page_size)
    rows, total = actions.list_actions(db, actor(), wanted)
    return page(rows, total, query)


@bp.post("/drills/<int:drill_id>/actions")
@roles(*WRITERS)
@operation(body=ActionCreate, ok=ActionRead, status=201, tags=TAGS + ["corrective-actions"])
def drills_actions_create(drill_id: int, body: ActionCreate):
    """Add a corrective action to the drill's improvement plan: an owner in your scope (the action
    then belongs to the owner's department), a due date not in the past."""
    db = get_session()
    return actions.read(db, actions.create(db, actor(), drill_id, body))
