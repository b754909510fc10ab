"""Drills: planning (the drill team, in its scope), conducting (start, timeline, record, complete
or cancel), the after-action report (a leader approves it), comments, and the next occurrence of a
recurring drill. The views, the API, the command line and the jobs call these; each change is
audited.

Who may: the drill team and admins plan, run and record (`WRITERS`); officers and the drill team
comment (`COMMENTERS`); leaders approve after-action reports; everyone who reads drills reads them
in their scope (`READERS`). A drill's scope is its department's subtree."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, or_
from sqlmodel import Session, select

from assets.models import Asset
from drills import rule
from drills.codes import ACTION_OPEN, FINISHED
from drills.models import (
    CorrectiveAction,
    Drill,
    DrillAsset,
    DrillComment,
    DrillDepartment,
    DrillObjective,
    DrillParticipant,
    DrillRequest,
    DrillTimelineEntry,
)
from drills.schemas import (
    CommentCreate,
    CommentRead,
    DrillCancel,
    DrillComplete,
    DrillCreate,
    DrillQuery,
    DrillRead,
    DrillRecord,
    DrillStart,
    DrillSummary,
    DrillUpdate,
    External,
    MeasuredRead,
    ObjectiveRead,
    ParticipantRead,
    TimelineCreate,
    TimelineRead,
)
from secgov import audit, directory, responsibility
from secgov.authz import Actor, in_scope, path_in_scope, scoped_row
from secgov.config import ServiceConfig
from secgov.errors import Conflict, Invalid, NotFound, check_version
from secgov.models import Department, User

WRITERS = ("admin", "drill_team")
READERS = ("admin", "officer", "leader", "drill_team", "auditor")
COMMENTERS = ("admin", "officer", "drill_team")
APPROVERS = ("leader",)
# A timeline entry may be written up to this long after the drill's end (late notes), and an
# actual start given up to this long ahead of the clock (clocks differ).
CLOCK_SKEW = timedelta(minutes=5)
# The lead's responsibility for a drill (effective-dated, secgov.responsibility).
SUBJECT, LEAD = "drill", "lead"


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- look-ups ------------------------------------------------------------------------------------


def get(session: Session, actor: Actor, drill_id: int) -> Drill:
    """The drill with this id in the actor's scope; missing or out of scope: NotFound (the
    out-of-scope attempt audited), after the same one statement."""
    statement = (
        select(Drill.id, Department.path)
        .outerjoin(Department, Department.id == Drill.department_id)
        .where(Drill.id == drill_id)
    )
    scoped_row(session, statement, actor, "drill", drill_id)
    drill = session.get(Drill, drill_id)
    if drill is None:
        raise NotFound(_("Not found."))
    return drill


def _user(session: Session, username: str, actor: Actor, field: str) -> User:
    """An enabled user in the actor's scope, named by username ('Unknown user' otherwise)."""
    user = session.exec(select(User).where(func.lower(User.username) == username.strip().lower())).first()
    if user is None or user.disabled or not path_in_scope(user.department.path, actor):
        raise Invalid(_("Unknown user: %(name)s", name=username), field=field)
    return user


def _users(session: Session, usernames: Sequence[str], actor: Actor, field: str) -> list[User]:
    wanted = {name.strip().lower(): name for name in usernames}
    found = {
        user.username.lower(): user
        for user in session.exec(select(User).where(func.lower(User.username).in_(list(wanted)))).all()
    }
    result = []
    for key, name in wanted.items():
        user = found.get(key)
        if user is None or user.disabled or not path_in_scope(user.department.path, actor):
            raise Invalid(_("Unknown user: %(name)s", name=name), field=field)
        result.append(user)
    return result


def assets_by_code(session: Session, codes: Sequence[str], actor: Actor, field: str = "assets") -> list[Asset]:
    """The assets named by code, each in the actor's scope ('Unknown asset' naming the first
    that is not), in the order given, without repeats."""
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return []
    rows = session.exec(
        select(Asset, Department.path)
        .join(Department, Department.id == Asset.department_id)
        .where(Asset.code.in_(wanted))
    ).all()
    found = {asset.code: (asset, path) for asset, path in rows}
    result = []
    for code in wanted:
        if code not in found or not path_in_scope(found[code][1], actor):
            raise Invalid(_("Unknown asset: %(code)s", code=code), field=field)
        result.append(found[code][0])
    return result


def _departments(session: Session, codes: Sequence[str], actor: Actor) -> list[Department]:
    return [directory.department_by_code(session, code, actor, field="departments") for code in dict.fromkeys(codes)]


def _home(session: Session, actor: Actor, code: str | None) -> Department:
    """The drill's own department: the one named, else the actor's, else the city."""
    if code:
        return directory.department_by_code(session, code, actor)
    department = session.get(Department, actor.department_id) if actor.department_id else None
    if department is None:
        department = session.exec(select(Department).where(Department.parent_id.is_(None))).first()
    return department


# --- the reporting deadline ----------------------------------------------------------------------


def deadline_of(session: Session, drill: Drill) -> int | None:
    """The reporting deadline (minutes) for this drill: the strictest of its departments' and its
    assets' departments' operator kinds (a CII asset: a CII operator); None for grade IV."""
    asset_rows = session.exec(
        select(Asset.is_cii, Department.operator_kind)
        .join(DrillAsset, DrillAsset.asset_id == Asset.id)
        .join(Department, Department.id == Asset.department_id)
        .where(DrillAsset.drill_id == drill.id)
    ).all()
    department_kinds = session.exec(
        select(Department.operator_kind)
        .join(DrillDepartment, DrillDepartment.department_id == Department.id)
        .where(DrillDepartment.drill_id == drill.id)
    ).all()
    kinds = rule.operator_kinds(
        [*department_kinds, *(kind for _cii, kind in asset_rows)], any(c for c, _k in asset_rows)
    )
    if not kinds:  # nothing in scope yet: the drill's own department reports
        kinds = {session.get(Department, drill.department_id).operator_kind}
    return rule.deadline_minutes(kinds, drill.incident_grade)


def _measure(session: Session, drill: Drill) -> None:
    """Keep the measured minutes in step with the timeline."""
    entries = session.exec(
        select(DrillTimelineEntry.at, DrillTimelineEntry.milestone).where(
            DrillTimelineEntry.drill_id == drill.id, DrillTimelineEntry.milestone != ""
        )
    ).all()
    times = rule.measured(drill.started_at, entries)
    drill.detect_minutes = times["detected"]
    drill.report_minutes = times["reported"]
    drill.contain_minutes = times["contained"]
    drill.recover_minutes = times["recovered"]


# --- snapshots for the audit log -----------------------------------------------------------------


def _snapshot(session: Session, drill: Drill) -> dict[str, Any]:
    lead = session.get(User, drill.lead_id)
    return {
        "title": drill.title,
        "exercise_type": drill.exercise_type,
        "incident_grade": drill.incident_grade,
        "lead": lead.username if lead else "",
        "planned_start": drill.planned_start,
        "duration_minutes": drill.duration_minutes,
        "recurrence_months": drill.recurrence_months,
        "status": drill.status,
        "assets": sorted(
            session.exec(
                select(Asset.code)
                .join(DrillAsset, DrillAsset.asset_id == Asset.id)
                .where(DrillAsset.drill_id == drill.id)
            ).all()
        ),
        "departments": sorted(
            session.exec(
                select(Department.code)
                .join(DrillDepartment, DrillDepartment.department_id == Department.id)
                .where(DrillDepartment.drill_id == drill.id)
            ).all()
        ),
        "report_deadline_minutes": drill.report_deadline_minutes,
    }


def _record_snapshot(drill: Drill, ratings: dict[int, str]) -> dict[str, Any]:
    return {
        "started_at": drill.started_at,
        "ended_at": drill.ended_at,
        "strengths": drill.strengths,
        "improvements": drill.improvements,
        "ratings": {str(k): v for k, v in sorted(ratings.items())},
    }


# --- planning ------------------------------------------------------------------------------------


def _set_scope(
    session: Session,
    drill: Drill,
    assets: Iterable[Asset] | None,
    departments: Iterable[Department] | None,
) -> None:
    if assets is not None:
        for row in session.exec(select(DrillAsset).where(DrillAsset.drill_id == drill.id)).all():
            session.delete(row)
        session.flush()
        session.add_all(DrillAsset(drill_id=drill.id, asset_id=asset.id) for asset in assets)
    if departments is not None:
        for row in session.exec(select(DrillDepartment).where(DrillDepartment.drill_id == drill.id)).all():
            session.delete(row)
        session.flush()
        session.add_all(DrillDepartment(drill_id=drill.id, department_id=dept.id) for dept in departments)
    session.flush()


def _set_people(
    session: Session, drill: Drill, users: Sequence[User] | None, externals: Sequence[External] | None
) -> None:
    if users is None and externals is None:
        return
    old = session.exec(select(DrillParticipant).where(DrillParticipant.drill_id == drill.id)).all()
    for row in old:
        if (users is not None and row.user_id is not None) or (externals is not None and row.user_id is None):
            session.delete(row)
    session.flush()
    if users is not None:
        session.add_all(DrillParticipant(drill_id=drill.id, user_id=user.id) for user in users)
    if externals is not None:
        session.add_all(
            DrillParticipant(drill_id=drill.id, name=e.name, organisation=e.organisation, role=e.role)
            for e in externals
        )
    session.flush()


def _set_objectives(session: Session, drill: Drill, texts: Sequence[str] | None) -> None:
    """Replace the objectives' texts: kept in place where the text is unchanged (their ratings
    with them), added or removed otherwise."""
    if texts is None:
        return
    old = {row.text: row for row in session.exec(select(DrillObjective).where(DrillObjective.drill_id == drill.id))}
    for position, text in enumerate(dict.fromkeys(texts)):
        row = old.pop(text, None) or DrillObjective(drill_id=drill.id, text=text)
        row.position = position
        session.add(row)
    for row in old.values():
        session.delete(row)
    session.flush()


def _set_lead(session: Session, drill: Drill, lead: User, actor: Actor) -> None:
    drill.lead_id = lead.id
    responsibility.assign(session, SUBJECT, drill.id, LEAD, lead, actor, department_id=drill.department_id)


def create(session: Session, actor: Actor, data: DrillCreate) -> Drill:
    """Plan a drill (status planned). A drill that answers a leader's request marks it scheduled."""
    home = _home(session, actor, data.department)
    lead = _user(session, data.lead, actor, "lead")
    assets = assets_by_code(session, data.assets, actor)
    departments = _departments(session, data.departments, actor)
    users = _users(session, data.participants, actor, "participants")
    request = None
    if data.request_id is not None:
        request = _open_request(session, actor, data.request_id)
    drill = Drill(
        department_id=home.id,
        title=data.title,
        scenario=data.scenario,
        exercise_type=data.exercise_type,
        incident_grade=data.incident_grade,
        lead_id=lead.id,
        planned_start=data.planned_start.astimezone(UTC),
        duration_minutes=data.duration_minutes,
        recurrence_months=data.recurrence_months,
        request_id=request.id if request else None,
        created_by=actor.username,
    )
    session.add(drill)
    session.flush()
    _set_scope(session, drill, assets, departments)
    _set_people(session, drill, users, data.external_participants)
    _set_objectives(session, drill, data.objectives)
    _set_lead(session, drill, lead, actor)
    drill.report_deadline_minutes = deadline_of(session, drill)
    session.add(drill)
    session.flush()
    audit.record(
        session, actor, "drill.created", object_type="drill", object_id=drill.id,
        department_id=drill.department_id, after=_snapshot(session, drill),
    )  # fmt: skip
    if request is not None:
        _schedule_request(session, actor, request, drill)
    return drill


def _open_request(session: Session, actor: Actor, request_id: int) -> DrillRequest:
    statement = (
        select(DrillRequest.id, Department.path)
        .outerjoin(Department, Department.id == DrillRequest.department_id)
        .where(DrillRequest.id == request_id)
    )
    row = session.execute(statement).first()
    if row is None or row[0] is None or not path_in_scope(row[1], actor):
        raise Invalid(_("Unknown request for a drill."), field="request_id")
    request = session.get(DrillRequest, request_id)
    if request.status != "open":
        raise Conflict(_("This request has been answered already."))
    return request


def _schedule_request(session: Session, actor: Actor, request: DrillRequest, drill: Drill) -> None:
    request.status = "scheduled"
    request.decided_by = actor.username
    request.decided_at = now_utc()
    request.version += 1
    session.add(request)
    session.flush()
    audit.record(
        session, actor, "drill_request.scheduled", object_type="drill_request", object_id=request.id,
        department_id=request.department_id, drill_id=drill.id,
    )  # fmt: skip


def _editable(drill: Drill) -> None:
    if drill.status != "planned":
        raise Conflict(_("Only a planned drill can be changed: this one has started or is over."))


def update(session: Session, actor: Actor, drill_id: int, data: DrillUpdate) -> Drill:
    """Change a planned drill."""
    drill = get(session, actor, drill_id)
    check_version(drill, data.version)
    _editable(drill)
    before = _snapshot(session, drill)
    given = data.model_fields_set
    lead = _user(session, data.lead, actor, "lead") if data.lead else None
    assets = assets_by_code(session, data.assets, actor) if data.assets is not None else None
    departments = _departments(session, data.departments, actor) if data.departments is not None else None
    users = _users(session, data.participants, actor, "participants") if data.participants is not None else None
    for name in ("title", "scenario", "exercise_type", "incident_grade", "duration_minutes"):
        value = getattr(data, name)
        if value is not None:
            setattr(drill, name, value)
    if data.planned_start is not None:
        drill.planned_start = data.planned_start.astimezone(UTC)
    if "recurrence_months" in given:
        drill.recurrence_months = data.recurrence_months
    _set_scope(session, drill, assets, departments)
    _set_people(session, drill, users, data.external_participants)
    _set_objectives(session, drill, data.objectives)
    if lead is not None and lead.id != drill.lead_id:
        _set_lead(session, drill, lead, actor)
    drill.report_deadline_minutes = deadline_of(session, drill)
    drill.updated_at = now_utc()
    drill.version += 1
    session.add(drill)
    session.flush()
    after = _snapshot(session, drill)
    audit.record(
        session, actor, "drill.updated", object_type="drill", object_id=drill.id,
        department_id=drill.department_id, before=before, after=after,
    )  # fmt: skip
    return drill


# --- conducting ----------------------------------------------------------------------------------


def start(session: Session, actor: Actor, drill_id: int, data: DrillStart) -> Drill:
    """Begin a planned drill (now, or at the time given, not ahead of the clock)."""
    drill = get(session, actor, drill_id)
    if data.version is not None:
        check_version(drill, data.version)
    if drill.status != "planned":
        raise Conflict(_("Only a planned drill can start."))
    started = (data.started_at or now_utc()).astimezone(UTC)
    if started > now_utc() + CLOCK_SKEW:
        raise Invalid(_("A drill cannot start in the future."), field="started_at")
    drill.status = "in_progress"
    drill.started_at = started
    drill.report_deadline_minutes = deadline_of(session, drill)
    _measure(session, drill)
    drill.updated_at = now_utc()
    drill.version += 1
    session.add(drill)
    session.flush()
    audit.record(
        session, actor, "drill.started", object_type="drill", object_id=drill.id,
        department_id=drill.department_id, after={"status": drill.status, "started_at": drill.started_at},
    )  # fmt: skip
    return drill


def _recordable(drill: Drill) -> None:
    if drill.status not in ("in_progress", "completed"):
        raise Conflict(_("A drill is recorded once it has started, and until it is cancelled."))
    if drill.aar_status == "approved":
        raise Conflict(_("The after-action report has been approved: the record is final."))


def _within(drill: Drill, at: datetime, started: datetime | None, ended: datetime | None) -> bool:
    if started is None or at < started:
        return False
    end = ended or now_utc() + CLOCK_SKEW
    return at <= end


def add_entry(session: Session, actor: Actor, drill_id: int, data: TimelineCreate) -> DrillTimelineEntry:
    """Add a timestamped entry to a drill's timeline (between its start and its end, or now)."""
    drill = get(session, actor, drill_id)
    _recordable(drill)
    at = data.at.astimezone(UTC)
    if not _within(drill, at, drill.started_at, drill.ended_at):
        raise Invalid(_("A timeline entry lies between the drill's start and its end."), field="at")
    entry = DrillTimelineEntry(
        drill_id=drill.id, at=at, who=data.who, text=data.text, milestone=data.milestone, created_by=actor.username
    )
    session.add(entry)
    _measure(session, drill)
    drill.updated_at = now_utc()
    drill.version += 1
    session.add(drill)
    session.flush()
    audit.record(
        session, actor, "drill.entry_added", object_type="drill", object_id=drill.id,
        department_id=drill.department_id, after={"at": at, "who": data.who, "text": data.text, "milestone": data.milestone},
    )  # fmt: skip
    return entry


def remove_entry(session: Session, actor: Actor, drill_id: int, entry_id: int) -> None:
    """Remove a timeline entry written in error. A missing entry and one of a drill out of scope
    cost the same one look-up (the latter audited)."""
    statement = (
        select(DrillTimelineEntry.id, Department.path)
        .join(Drill, Drill.id == DrillTimelineEntry.drill_id)
        .outerjoin(Department, Department.id == Drill.department_id)
        .where(DrillTimelineEntry.id == entry_id, DrillTimelineEntry.drill_id == drill_id)
    )
    scoped_row(session, statement, actor, "drill", drill_id)
    drill = session.get(Drill, drill_id)
    entry = session.get(DrillTimelineEntry, entry_id)
    if drill is None or entry is None:  # removed since the look-up
        raise NotFound(_("Not found."))
    _recordable(drill)
    before = {"at": entry.at, "who": entry.who, "text": entry.text, "milestone": entry.milestone}
    session.delete(entry)
    session.flush()
    _measure(session, drill)
    drill.updated_at = now_utc()
    drill.version += 1
    session.add(drill)
    session.flush()
    audit.record(
        session, actor, "drill.entry_removed", object_type="drill", object_id=drill.id,
        department_id=drill.department_id, before=before,
    )  # fmt: skip


def _ratings(session: Session, drill: Drill) -> dict[int, str]:
    return dict(
        session.exec(select(DrillObjective.id, DrillObjective.rating).where(DrillObjective.drill_id == drill.id)).all()
    )


def save_record(session: Session, actor: Actor, drill_id: int, data: DrillRecord) -> Drill:
    """Record a conducted drill: actual times, objective ratings, strengths and areas for
    improvement. The end comes after the start, and every timeline entry stays inside them."""
    drill = get(session, actor, drill_id)
    if data.version is not None:
        check_version(drill, data.version)
    _recordable(drill)
    objectives = {
        row.id: row for row in session.exec(select(DrillObjective).where(DrillObjective.drill_id == drill.id))
    }
    for item in data.ratings:
        if item.id not in objectives:
            raise Invalid(_("Objective #%(id)d is not one of this drill's.", id=item.id), field="ratings")
    started = data.started_at.astimezone(UTC) if data.started_at else drill.started_at
    ended = data.ended_at.astimezone(UTC) if data.ended_at else drill.ended_at
    if data.started_at and started > now_utc() + CLOCK_SKEW:
        raise Invalid(_("A drill cannot start in the future."), field="started_at")
    if ended is not None and drill.status != "completed" and data.ended_at and ended > now_utc() + CLOCK_SKEW:
        raise Invalid(_("A drill cannot end in the future."), field="ended_at")
    if ended is not None and started is not None and ended <= started:
        raise Invalid(_("The end must come after the start."), field="ended_at")
    outside = session.exec(
        select(func.count())
        .select_from(DrillTimelineEntry)
        .where(
            DrillTimelineEntry.drill_id == drill.id,
            or_(DrillTimelineEntry.at < started, DrillTimelineEntry.at > (ended or datetime.max.replace(tzinfo=UTC))),
        )
    ).one()
    if outside:
        raise Invalid(
            _("%(num)d timeline entries would lie outside the drill: change them first.", num=outside),
            field="started_at" if data.started_at else "ended_at",
        )
    before = _record_snapshot(drill, _ratings(session, drill))
    drill.started_at, drill.ended_at = started, ended
    for item in data.ratings:
        objective = objectives[item.id]
        objective.rating, objective.note = item.rating, item.note
        session.add(objective)
    if data.strengths is not None:
        drill.strengths = data.strengths
    if data.improvements is not None:
        drill.improvements = data.improvements
    _measure(session, drill)
    drill.updated_at = now_utc()
    drill.version += 1
    session.add(drill)
    session.flush()
    audit.record(
        session, actor, "drill.recorded", object_type="drill", object_id=drill.id, department_id=drill.department_id,
        before=before, after=_record_snapshot(drill, _ratings(session, drill)),
    )  # fmt: skip
    return drill


def complete(session: Session, actor: Actor, drill_id: int, data: DrillComplete, config: ServiceConfig) -> Drill:
    """End a drill in progress (now or at the time given, after its start and after its timeline);
    a recurring drill gets its next occurrence."""
    drill = get(session, actor, drill_id)
    if data.version is not None:
        check_version(drill, data.version)
    if drill.status != "in_progress":
        raise Conflict(_("Only a drill in progress can be completed."))
    ended = (data.ended_at or now_utc()).astimezone(UTC)
    if ended > now_utc() + CLOCK_SKEW:
        raise Invalid(_("A drill cannot end in the future."), field="ended_at")
    if ended <= drill.started_at:
        raise Invalid(_("The end must come after the start."), field="ended_at")
    last = session.exec(select(func.max(DrillTimelineEntry.at)).where(DrillTimelineEntry.drill_id == drill.id)).one()
    if last is not None and last.replace(tzinfo=last.tzinfo or UTC) > ended:
        raise Invalid(_("The timeline has entries after this end."), field="ended_at")
    drill.status = "completed"
    drill.ended_at = ended
    drill.completed_at = now_utc()
    drill.updated_at = now_utc()
    drill.version += 1
    session.add(drill)
    session.flush()
    audit.record(
        session, actor, "drill.completed", object_type="drill", object_id=drill.id, department_id=drill.department_id,
        after={"status": drill.status, "ended_at": ended, "report_minutes": drill.report_minutes,
               "report_deadline_minutes": drill.report_deadline_minutes},
    )  # fmt: skip
    plan_next(session, actor, drill, config)
    return drill


def cancel(session: Session, actor: Actor, drill_id: int, data: DrillCancel, config: ServiceConfig) -> Drill:
    """Cancel a planned drill or one in progress, with a reason; a recurring drill gets its next
    occurrence."""
    drill = get(session, actor, drill_id)
    if data.version is not None:
        check_version(drill, data.version)
    if drill.status in FINISHED:
        raise Conflict(_("This drill is over already."))
    before = drill.status
    drill.status = "cancelled"
    drill.cancel_reason = data.reason
    drill.updated_at = now_utc()
    drill.version += 1
    session.add(drill)
    session.flush()
    audit.record(
        session, actor, "drill.cancelled", object_type="drill", object_id=drill.id, department_id=drill.department_id,
        before={"status": before}, after={"status": drill.status}, reason=data.reason,
    )  # fmt: skip
    plan_next(session, actor, drill, config)
    return drill


def plan_next(session: Session, actor: Actor, drill: Drill, config: ServiceConfig) -> Drill | None:
    """The next occurrence of a recurring drill that is over: the same drill, `recurrence_months`
    after its planned start (at the same local time), planned. Once per drill."""
    if not drill.recurrence_months or drill.status not in FINISHED:
        return None
    if session.exec(select(Drill.id).where(Drill.previous_id == drill.id)).first() is not None:
        return None
    start = rule.next_start(drill.planned_start, drill.recurrence_months, config.timezone)
    while start <= now_utc():  # a long-overdue occurrence: the next one still ahead
        start = rule.next_start(start, drill.recurrence_months, config.timezone)
    following = Drill(
        department_id=drill.department_id,
        title=drill.title,
        scenario=drill.scenario,
        exercise_type=drill.exercise_type,
        incident_grade=drill.incident_grade,
        lead_id=drill.lead_id,
        planned_start=start,
        duration_minutes=drill.duration_minutes,
        recurrence_months=drill.recurrence_months,
        previous_id=drill.id,
        report_deadline_minutes=drill.report_deadline_minutes,
        created_by=actor.username,
    )
    session.add(following)
    session.flush()
    session.add_all(
        DrillAsset(drill_id=following.id, asset_id=row.asset_id)
        for row in session.exec(select(DrillAsset).where(DrillAsset.drill_id == drill.id))
    )
    session.add_all(
        DrillDepartment(drill_id=following.id, department_id=row.department_id)
        for row in session.exec(select(DrillDepartment).where(DrillDepartment.drill_id == drill.id))
    )
    session.add_all(
        DrillParticipant(
            drill_id=following.id, user_id=row.user_id, name=row.name, organisation=row.organisation, role=row.role
        )
        for row in session.exec(select(DrillParticipant).where(DrillParticipant.drill_id == drill.id))
    )
    session.add_all(
        DrillObjective(drill_id=following.id, position=row.position, text=row.text)
        for row in session.exec(select(DrillObjective).where(DrillObjective.drill_id == drill.id))
    )
    session.flush()
    lead = session.get(User, drill.lead_id)
    responsibility.assign(session, SUBJECT, following.id, LEAD, lead, actor, department_id=following.department_id)
    audit.record(
        session, actor, "drill.created", object_type="drill", object_id=following.id,
        department_id=following.department_id, after=_snapshot(session, following), previous_id=drill.id,
    )  # fmt: skip
    return following


def approve_report(session: Session, actor: Actor, drill_id: int, version: int | None = None) -> Drill:
    """A leader approves a completed drill's after-action report: its record is then final."""
    drill = get(session, actor, drill_id)
    if version is not None:
        check_version(drill, version)
    if drill.status != "completed":
        raise Conflict(_("Only a completed drill's after-action report can be approved."))
    if drill.aar_status == "approved":
        raise Conflict(_("The after-action report has been approved already."))
    drill.aar_status = "approved"
    drill.aar_approved_by = actor.username
    drill.aar_approved_at = now_utc()
    drill.version += 1
    session.add(drill)
    session.flush()
    audit.record(
        session, actor, "drill.report_approved", object_type="drill", object_id=drill.id,
        department_id=drill.department_id, after={"aar_status": "approved"},
    )  # fmt: skip
    return drill


def comment(session: Session, actor: Actor, drill_id: int, data: CommentCreate) -> DrillComment:
    drill = get(session, actor, drill_id)
    row = DrillComment(drill_id=drill.id, author=actor.username, text=data.text)
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "drill.commented", object_type="drill", object_id=drill.id,
        department_id=drill.department_id, after={"text": data.text},
    )  # fmt: skip
    return row


# --- reading -------------------------------------------------------------------------------------


def _filtered(statement, actor: Actor, query: DrillQuery):
    statement = statement.where(in_scope(Drill.department_id, actor))
    if query.q:
        like = f"%{query.q}%"
        statement = statement.where(or_(Drill.title.ilike(like), Drill.scenario.ilike(like)))
    if query.status:
        statement = statement.where(Drill.status == query.status)
    if query.exercise_type:
        statement = statement.where(Drill.exercise_type == query.exercise_type)
    if query.department:
        statement = statement.where(Drill.department_id.in_(subtree(query.department)))
    if query.asset:
        statement = statement.where(
            Drill.id.in_(
                select(DrillAsset.drill_id)
                .join(Asset, Asset.id == DrillAsset.asset_id)
                .where(Asset.code == query.asset)
            )
        )
    if query.year:
        statement = statement.where(
            Drill.planned_start >= datetime(query.year, 1, 1, tzinfo=UTC),
            Drill.planned_start < datetime(query.year + 1, 1, 1, tzinfo=UTC),
        )
    if query.reporting:
        statement = _reporting_filter(statement, query.reporting)
    return statement


def subtree(code: str):
    """The ids of a department's subtree, named by its code (a SELECT for IN)."""
    path = select(Department.path).where(Department.code == code).scalar_subquery()
    return select(Department.id).where(Department.path.startswith(path))


def _reporting_filter(statement, state: str):
    has_deadline = Drill.report_deadline_minutes.is_not(None)
    if state == "not_reportable":
        return statement.where(or_(Drill.report_deadline_minutes.is_(None), Drill.status == "cancelled"))
    statement = statement.where(Drill.status != "cancelled")
    if state == "on_time":
        return statement.where(has_deadline, Drill.report_minutes <= Drill.report_deadline_minutes)
    if state == "late":
        return statement.where(has_deadline, Drill.report_minutes > Drill.report_deadline_minutes)
    if state == "missing":
        return statement.where(has_deadline, Drill.report_minutes.is_(None), Drill.status == "completed")
    return statement.where(has_deadline, Drill.report_minutes.is_(None), Drill.status.in_(("planned", "in_progress")))


def list_drills(session: Session, actor: Actor, query: DrillQuery) -> tuple[list[DrillSummary], int]:
    """A page of drills in the actor's scope, the latest planned first, and how many in all."""
    total = session.exec(_filtered(select(func.count()).select_from(Drill), actor, query)).one()
    rows = session.exec(
        _filtered(select(Drill), actor, query)
        .order_by(Drill.planned_start.desc(), Drill.id.desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return summaries(session, list(rows)), total


def _names(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    ids = list(set(user_ids))
    if not ids:
        return {}
    return dict(session.exec(select(User.id, User.username).where(User.id.in_(ids))).all())


def summaries(session: Session, drills: list[Drill]) -> list[DrillSummary]:
    """Drills as list items: a fixed number of statements whatever the page's length."""
    if not drills:
        return []
    ids = [d.id for d in drills]
    names = _names(session, [d.lead_id for d in drills])
    codes = directory.code_map(session)
    open_actions: dict[int, int] = defaultdict(int)
    for drill_id, count in session.exec(
        select(CorrectiveAction.drill_id, func.count())
        .where(CorrectiveAction.drill_id.in_(ids), CorrectiveAction.status.in_(ACTION_OPEN))
        .group_by(CorrectiveAction.drill_id)
    ).all():
        open_actions[drill_id] = count
    return [
        DrillSummary(
            id=d.id,
            title=d.title,
            scenario=d.scenario,
            exercise_type=d.exercise_type,
            incident_grade=d.incident_grade,
            planned_start=d.planned_start,
            duration_minutes=d.duration_minutes,
            lead=names.get(d.lead_id, ""),
            status=d.status,
            department=codes.get(d.department_id, ""),
            recurrence_months=d.recurrence_months,
            started_at=d.started_at,
            ended_at=d.ended_at,
            report_minutes=d.report_minutes,
            report_deadline_minutes=d.report_deadline_minutes,
            reporting=rule.reporting(d.report_minutes, d.report_deadline_minutes, d.status),
            aar_status=d.aar_status,
            open_actions=open_actions[d.id],
            version=d.version,
        )
        for d in drills
    ]


def read(session: Session, drill: Drill) -> DrillRead:
    """A drill whole: its scope, people, objectives, timeline, comments and measured times."""
    summary = summaries(session, [drill])[0]
    assets = session.exec(
        select(Asset.code).join(DrillAsset, DrillAsset.asset_id == Asset.id).where(DrillAsset.drill_id == drill.id)
        .order_by(Asset.code)
    ).all()  # fmt: skip
    departments = session.exec(
        select(Department.code)
        .join(DrillDepartment, DrillDepartment.department_id == Department.id)
        .where(DrillDepartment.drill_id == drill.id)
        .order_by(Department.code)
    ).all()
    people = session.exec(
        select(DrillParticipant, User)
        .outerjoin(User, User.id == DrillParticipant.user_id)
        .where(DrillParticipant.drill_id == drill.id)
        .order_by(DrillParticipant.id)
    ).all()
    participants = [
        ParticipantRead(
            username=user.username if user else "",
            name=(user.display_name or user.username) if user else row.name,
            organisation=row.organisation if user is None else "",
            role=row.role,
        )
        for row, user in people
    ]
    objectives = [
        ObjectiveRead(id=o.id, position=o.position, text=o.text, rating=o.rating, note=o.note)
        for o in session.exec(
            select(DrillObjective).where(DrillObjective.drill_id == drill.id).order_by(DrillObjective.position)
        )
    ]
    timeline = [
        TimelineRead(id=e.id, at=e.at, who=e.who, text=e.text, milestone=e.milestone, created_by=e.created_by)
        for e in session.exec(
            select(DrillTimelineEntry)
            .where(DrillTimelineEntry.drill_id == drill.id)
            .order_by(DrillTimelineEntry.at, DrillTimelineEntry.id)
        )
    ]
    comments = [
        CommentRead(id=c.id, author=c.author, text=c.text, created_at=c.created_at)
        for c in session.exec(select(DrillComment).where(DrillComment.drill_id == drill.id).order_by(DrillComment.id))
    ]
    following = session.exec(select(Drill.id).where(Drill.previous_id == drill.id)).first()
    return DrillRead(
        **summary.model_dump(),
        assets=list(assets),
        departments=list(departments),
        participants=participants,
        objectives=objectives,
        timeline=timeline,
        comments=comments,
        measured=MeasuredRead(
            detect_minutes=drill.detect_minutes,
            report_minutes=drill.report_minutes,
            contain_minutes=drill.contain_minutes,
            recover_minutes=drill.recover_minutes,
            report_deadline_minutes=drill.report_deadline_minutes,
            reporting=summary.reporting,
        ),
        strengths=drill.strengths,
        improvements=drill.improvements,
        aar_approved_by=drill.aar_approved_by,
        aar_approved_at=drill.aar_approved_at,
        cancel_reason=drill.cancel_reason,
        previous_id=drill.previous_id,
        next_id=following,
        request_id=drill.request_id,
        created_by=drill.created_by,
        created_at=drill.created_at,
        completed_at=drill.completed_at,
    )


def refresh_deadlines(session: Session) -> int:
    """Recompute the reporting deadline of drills not yet completed (after a department's
    operator kind or an asset's CII flag changed); how many changed."""
    statement = select(Drill).where(Drill.status.in_(("planned", "in_progress")))
    changed = 0
    for drill in session.exec(statement).all():
        deadline = deadline_of(session, drill)
        if deadline != drill.report_deadline_minutes:
            drill.report_deadline_minutes = deadline
            session.add(drill)
            changed += 1
    session.flush()
    return changed
