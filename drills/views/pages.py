"""Web pages of drills: the list, one drill (its overview, the reporting deadline and how reporting
went, the timeline, the record, objectives with their ratings, the workflow, the improvement plan
and comments), and the plan/edit form. Corrective actions live in drills/views/actions.py, the
coverage and the leaders' requests in drills/views/planning.py; all on one blueprint."""

from __future__ import annotations

import re
from datetime import datetime

from flask import Blueprint, flash, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import select

from assets import services as asset_services
from drills import actions, requests, services
from drills.codes import REPORT_WITHIN
from drills.models import CorrectiveAction, Drill
from drills.schemas import (
    DRILL_FILTERS,
    AarApproval,
    ActionCreate,
    ActionQuery,
    CommentCreate,
    DrillCancel,
    DrillComplete,
    DrillCreate,
    DrillQuery,
    DrillRecord,
    DrillStart,
    DrillUpdate,
    TimelineCreate,
)
from drills.services import APPROVERS, COMMENTERS, READERS, WRITERS
from secgov import directory
from secgov.authz import roles
from secgov.errors import ServiceError
from secgov.localtime import local, zone
from secgov.pages import Done, Form, act, list_query
from secgov.web import actor, get_session, require_user, service_config

bp = Blueprint("drills", __name__, url_prefix="/drills")

# The plan form's lists: codes and usernames separated by commas or spaces, objectives and
# external participants one a line.
LISTED = ("assets", "departments", "participants", "external_participants", "objectives")
CREATE = Form(DrillCreate, empty_is_none=("department", "recurrence_months", "request_id"))
UPDATE = Form(DrillUpdate, empty_is_none=("recurrence_months",))
START = Form(DrillStart, empty_is_none=("version",))
COMPLETE = Form(DrillComplete, empty_is_none=("version",))
CANCEL = Form(DrillCancel, empty_is_none=("version",))
APPROVAL = Form(AarApproval, empty_is_none=("version",))
ENTRY = Form(TimelineCreate)
COMMENT = Form(CommentCreate)
ACTION = Form(ActionCreate, empty_is_none=("objective_id", "asset"))
RECORD = Form(DrillRecord, empty_is_none=("version",))
# The moments the forms take as local date and time ("2026-12-10T09:30", the city's zone).
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def prefixed(form: str, errors: dict[str, str]) -> dict[str, str]:
    """The errors of one of a page's several forms, keyed `<form>_<field>` (the page's own: "_")."""
    return {("_" if key == "_" else f"{form}_{key}"): message for key, message in errors.items()}


def args_of(query) -> dict:
    """A list's filters as query-string arguments, for the pager."""
    return {k: v for k, v in query.model_dump(exclude={"page", "page_size"}).items() if v not in (None, "")}


# --- reading the forms ---------------------------------------------------------------------------


def local_input(moment: datetime | None) -> str:
    """A moment as the value of a datetime-local input, in the city's zone."""
    if moment is None:
        return ""
    return local(moment, service_config().timezone).strftime(LOCAL_FORMAT)


def moments(*names: str) -> tuple[dict[str, datetime | None], dict[str, str]]:
    """The form's local date-and-time fields as aware moments of the city's zone; a blank one is
    None, an unreadable one becomes an error beside its field."""
    tz = zone(service_config().timezone)
    found: dict[str, datetime | None] = {}
    errors: dict[str, str] = {}
    for name in names:
        raw = request.form.get(name, "").strip()
        if not raw:
            found[name] = None
            continue
        try:
            found[name] = datetime.fromisoformat(raw.replace(" ", "T")).replace(tzinfo=tz)
        except ValueError:
            errors[name] = _("Give a date and a time, e.g. 2026-12-10 09:30.")
    return found, errors


def words(text: str) -> list[str]:
    """Codes or usernames separated by commas, semicolons or spaces."""
    return [part for part in re.split(r"[\s,;，；、]+", text or "") if part]


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def externals(text: str) -> list[dict[str, str]]:
    """External participants, one a line: "name; organisation; role"."""
    found = []
    for line in lines(text):
        parts = [p.strip() for p in re.split(r"[;；]", line)]
        found.append({"name": parts[0], "organisation": parts[1] if len(parts) > 1 else "",
                      "role": "; ".join(parts[2:])})  # fmt: skip
    return found


def _listed() -> dict:
    """The plan form's lists, read from its text fields (multi-selects send repeated values)."""

    def many(name: str) -> list[str]:
        return [w for value in request.form.getlist(name) for w in words(value)]

    return {
        "assets": many("assets"),
        "departments": many("departments"),
        "participants": many("participants"),
        "external_participants": externals(request.form.get("external_participants", "")),
        "objectives": lines(request.form.get("objectives", "")),
    }


def _echo() -> dict:
    form = dict(request.form)
    for name in ("assets", "departments"):
        form[name] = " ".join(request.form.getlist(name))
    return form


# --- the list --------------------------------------------------------------------------------------


@bp.get("")
@roles(*READERS)
def index():
    """Drills in the user's scope, the latest planned first, by status, type, department, year and
    how reporting went."""
    query, problems = list_query(DrillQuery, (*DRILL_FILTERS, "page"))
    for problem in problems:
        flash(problem, "warning")
    db = get_session()
    rows, total = services.list_drills(db, actor(), query)
    return render_template(
        "drills/index.html",
        rows=rows,
        total=total,
        query=query,
        args=args_of(query),
        departments=directory.departments_in_scope(db, actor()),
        years=_years(),
    )


def _years() -> list[int]:
    this = local(datetime.now().astimezone(), service_config().timezone).year
    return list(range(this + 1, this - 5, -1))


# --- one drill ---------------------------------------------------------------------------------------


def _drill(drill_id: int) -> Drill:
    return services.get(get_session(), actor(), drill_id)


def deadline_kind(minutes: int | None) -> str:
    """The kind of operator whose deadline this is (the strictest that applies): a code of the
    core's operator_kind list, or "" when nothing is reportable."""
    if minutes is None:
        return ""
    return next((kind for kind, within in REPORT_WITHIN.items() if within == minutes), "")


def _detail_page(drill: Drill, errors: dict[str, str] | None = None, posted: dict | None = None):
    db = get_session()
    record = services.read(db, drill)
    # The drill's whole improvement plan (part of the drill the user reads); each action opens
    # for those who see it (its owner's department in their scope, or their own).
    visible, _total = actions.list_actions(db, actor(), ActionQuery(drill_id=drill.id, page_size=200))
    rows = db.exec(
        select(CorrectiveAction)
        .where(CorrectiveAction.drill_id == drill.id)
        .order_by(CorrectiveAction.due_date, CorrectiveAction.id)
    ).all()
    plan = actions.read_many(db, list(rows))
    user = require_user()
    writer = bool(set(user.roles) & set(WRITERS))
    return render_template(
        "drills/detail.html",
        drill=drill,
        record=record,
        actions=plan,
        openable={row.id for row in visible},
        kind=deadline_kind(record.measured.report_deadline_minutes),
        recordable=record.status in ("in_progress", "completed") and record.aar_status != "approved",
        writer=writer,
        people=asset_services.eligible_owners(db, actor()) if writer else [],
        local_input=local_input,
        errors=errors or {},
        posted=posted or {},
    )


@bp.get("/<int:drill_id>")
@roles(*READERS)
def detail(drill_id: int):
    """One drill: what it exercises, who takes part, its deadline and measured times, objectives
    and ratings, timeline, record, improvement plan and comments."""
    return _detail_page(_drill(drill_id))


def _again(drill: Drill, form: str, errors: dict[str, str]):
    """The detail page again with one of its forms' errors beside its fields and what was posted
    (marked with the form's name: several forms share field names)."""
    return _detail_page(drill, prefixed(form, errors), {**request.form, "_form": form})


def _back(drill: Drill, anchor: str = "") -> str:
    return url_for("drills.detail", drill_id=drill.id) + (f"#{anchor}" if anchor else "")


def _with_moments(form: Form, prefix: str, drill: Drill, run, message: str, *names: str, anchor: str = ""):
    """One of the detail page's forms that takes local moments: read them, then the form, then
    run the service; refusals show the page again with the errors beside the fields."""
    found, bad = moments(*names)
    data, errors = form.parse(found)
    if bad or data is None:
        return _again(drill, prefix, {**errors, **bad}), 422
    return act(
        lambda: run(data),
        done=lambda _row: Done(_back(drill, anchor), message),
        again=lambda errors: _again(drill, prefix, errors),
    )


@bp.post("/<int:drill_id>/start")
@roles(*WRITERS)
def start(drill_id: int):
    """Begin a planned drill now, or at the local time given."""
    drill = _drill(drill_id)
    return _with_moments(
        START, "start", drill,
        lambda data: services.start(get_session(), actor(), drill.id, data),
        _("The drill has started."), "started_at",
    )  # fmt: skip


@bp.post("/<int:drill_id>/complete")
@roles(*WRITERS)
def complete(drill_id: int):
    """End a drill in progress now, or at the local time given."""
    drill = _drill(drill_id)
    return _with_moments(
        COMPLETE, "complete", drill,
        lambda data: services.complete(get_session(), actor(), drill.id, data, service_config()),
        _("The drill was completed."), "ended_at",
    )  # fmt: skip


@bp.post("/<int:drill_id>/cancel")
@roles(*WRITERS)
def cancel(drill_id: int):
    """Cancel a planned drill or one in progress, saying why."""
    drill = _drill(drill_id)
    return act(
        lambda data: services.cancel(get_session(), actor(), drill.id, data, service_config()),
        form=CANCEL,
        done=lambda _row: Done(_back(drill), _("The drill was cancelled.")),
        again=lambda errors: _again(drill, "cancel", errors),
    )


@bp.post("/<int:drill_id>/approve")
@roles(*APPROVERS)
def approve(drill_id: int):
    """A leader approves the completed drill's after-action report: its record is then final."""
    drill = _drill(drill_id)
    return act(
        lambda data: services.approve_report(get_session(), actor(), drill.id, data.version),
        form=APPROVAL,
        done=lambda _row: Done(_back(drill), _("The after-action report was approved.")),
        back=_back(drill),
    )


@bp.post("/<int:drill_id>/timeline")
@roles(*WRITERS)
def entry_add(drill_id: int):
    """Add a timestamped entry (who did what, and the milestone it marks) to the timeline."""
    drill = _drill(drill_id)
    return _with_moments(
        ENTRY, "entry", drill,
        lambda data: services.add_entry(get_session(), actor(), drill.id, data),
        _("The entry was added to the timeline."), "at", anchor="timeline",
    )  # fmt: skip


@bp.post("/<int:drill_id>/timeline/<int:entry_id>/remove")
@roles(*WRITERS)
def entry_remove(drill_id: int, entry_id: int):
    """Remove a timeline entry written in error."""
    drill = _drill(drill_id)
    return act(
        lambda: services.remove_entry(get_session(), actor(), drill.id, entry_id),
        done=lambda _row: Done(_back(drill, "timeline"), _("The entry was removed from the timeline.")),
        back=_back(drill, "timeline"),
    )


@bp.post("/<int:drill_id>/record")
@roles(*WRITERS)
def record(drill_id: int):
    """Record the conducted drill: its actual start and end, a rating per objective, strengths and
    areas for improvement."""
    drill = _drill(drill_id)
    ratings = []
    for key in request.form:
        found = re.fullmatch(r"rating_(\d{1,9})", key)
        if found and request.form[key]:
            ratings.append({"id": found[1], "rating": request.form[key],
                            "note": request.form.get(f"note_{found[1]}", "")})  # fmt: skip
    return _record_with(drill, ratings)


def _record_with(drill: Drill, ratings: list[dict]):
    # A time left as the form showed it (to the minute) keeps the recorded one (to the second).
    shown = {"started_at": local_input(drill.started_at), "ended_at": local_input(drill.ended_at)}
    names = [n for n in shown if request.form.get(n, "").strip().replace(" ", "T") != shown[n]]
    found, bad = moments(*names)
    found.update({n: None for n in shown if n not in names})
    data, errors = RECORD.parse({**found, "ratings": ratings})
    if bad or data is None:
        return _again(drill, "record", {**errors, **bad}), 422
    return act(
        lambda: services.save_record(get_session(), actor(), drill.id, data),
        done=lambda _row: Done(_back(drill, "record"), _("The record was saved.")),
        again=lambda errors: _again(drill, "record", errors),
    )


@bp.post("/<int:drill_id>/comments")
@roles(*COMMENTERS)
def comment(drill_id: int):
    """Comment on a drill (officers and the drill team)."""
    drill = _drill(drill_id)
    return act(
        lambda data: services.comment(get_session(), actor(), drill.id, data),
        form=COMMENT,
        done=lambda _row: Done(_back(drill, "comments"), _("Your comment was added.")),
        again=lambda errors: _again(drill, "comment", errors),
    )


@bp.post("/<int:drill_id>/actions")
@roles(*WRITERS)
def action_add(drill_id: int):
    """Add a corrective action to the drill's improvement plan."""
    drill = _drill(drill_id)
    return act(
        lambda data: actions.create(get_session(), actor(), drill.id, data),
        form=ACTION,
        done=lambda row: Done(
            url_for("drills.action", action_id=row.id), _("Corrective action #%(id)d was added.", id=row.id)
        ),
        again=lambda errors: _again(drill, "action", errors),
    )


# --- the plan form -----------------------------------------------------------------------------------


def _form_page(drill: Drill | None, form: dict, errors: dict[str, str]):
    db = get_session()
    return render_template(
        "drills/form.html",
        drill=drill,
        form=form,
        errors=errors,
        departments=directory.departments_in_scope(db, actor()),
        people=asset_services.eligible_owners(db, actor()),
        timezone=service_config().timezone,
    )


def _from_request(form: dict) -> dict:
    """The plan form filled from a leader's request (?request_id=), when it is open and in scope."""
    raw = request.args.get("request_id", "")
    if not raw.isdigit() or len(raw) > 9:
        return form
    try:
        asked = requests.read(get_session(), requests.get(get_session(), actor(), int(raw)))
    except ServiceError as exc:
        flash(exc.message, "warning")
        return form
    if asked.status != "open":
        flash(_("This request has been answered already."), "warning")
        return form
    return {
        **form,
        "request_id": str(asked.id),
        "title": asked.title,
        "scenario": asked.reason,
        "exercise_type": asked.exercise_type or form["exercise_type"],
        "assets": " ".join(asked.assets),
        "department": asked.department,
    }


@bp.route("/new", methods=["GET", "POST"])
@roles(*WRITERS)
def new():
    """Plan a drill (or answer a leader's request with one)."""
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        form = {
            "exercise_type": "tabletop",
            "incident_grade": "II",
            "duration_minutes": "120",
            "lead": require_user().username,
        }
        return _form_page(None, _from_request(form), {})
    found, bad = moments("planned_start")
    data, errors = CREATE.parse({**_listed(), **found})
    if bad or data is None:
        return _form_page(None, _echo(), {**errors, **bad}), 422
    return act(
        lambda: services.create(get_session(), actor(), data),
        done=lambda row: Done(url_for("drills.detail", drill_id=row.id), _("Drill #%(id)d was planned.", id=row.id)),
        again=lambda errors: _form_page(None, _echo(), errors),
    )


def _filled(drill: Drill) -> dict:
    record = services.read(get_session(), drill)
    return {
        "version": str(record.version),
        "title": record.title,
        "scenario": record.scenario,
        "exercise_type": record.exercise_type,
        "incident_grade": record.incident_grade,
        "lead": record.lead,
        "planned_start": local_input(record.planned_start),
        "duration_minutes": str(record.duration_minutes),
        "recurrence_months": "" if record.recurrence_months is None else str(record.recurrence_months),
        "assets": " ".join(record.assets),
        "departments": " ".join(record.departments),
        "participants": " ".join(p.username for p in record.participants if p.username),
        "external_participants": "\n".join(
            "; ".join(x for x in (p.name, p.organisation, p.role)) for p in record.participants if not p.username
        ),
        "objectives": "\n".join(o.text for o in record.objectives),
    }


@bp.route("/<int:drill_id>/edit", methods=["GET", "POST"])
@roles(*WRITERS)
def edit(drill_id: int):
    """Change a planned drill at the version read (its lists are replaced as given)."""
    drill = _drill(drill_id)
    if request.method != "POST":  # GET, and HEAD
        if drill.status != "planned":
            flash(_("Only a planned drill can be changed: this one has started or is over."), "warning")
        return _form_page(drill, _filled(drill), {})
    found, bad = moments("planned_start")
    data, errors = UPDATE.parse({**_listed(), **found})
    if bad or data is None:
        return _form_page(drill, _echo(), {**errors, **bad}), 422
    return act(
        lambda: services.update(get_session(), actor(), drill.id, data),
        done=lambda row: Done(url_for("drills.detail", drill_id=row.id), _("Drill #%(id)d was saved.", id=row.id)),
        again=lambda errors: _form_page(drill, _echo(), errors),
    )
