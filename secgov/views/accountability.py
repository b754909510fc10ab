"""The accountability page (SPEC §5): the city's chief and the department heads in the reader's
scope, the gaps, the reader's own duties, the history of terms, and the forms that assign a duty
(through the one service, `secgov.accountability.assignments.assign`, which decides who may
assign which duty). The duties come from the registry only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import Session

from secgov import directory, snapshots
from secgov.accountability import appraisal, assignments, reading
from secgov.accountability.assignments import AssignmentIn
from secgov.accountability.duties import Duty
from secgov.accountability.reading import GapRead, TermQuery
from secgov.authz import Actor, authenticated, roles
from secgov.errors import ServiceError
from secgov.pages import Done, Form, act, int_arg, list_query
from secgov.rest import PageQuery
from secgov.web import actor, can, get_session, page_of, require_user, service_config

bp = Blueprint("accountability", __name__)


class RecordQuery(appraisal.RecordFilters, PageQuery):
    pass


# Who may post an assignment: the service refuses a duty the user's roles may not assign.
ASSIGNERS = ("admin", "leader", "officer", "drill_team")
ASSIGNMENT = Form(AssignmentIn, checkboxes=("correction",), empty_is_none=("valid_from", "valid_to"))
MOMENTS = ("valid_from", "valid_to")
FORMS = ("leadership", "sub_item")
HISTORY_PAGE = 25
FOLDED = 20  # the rows of one's duties and of the gaps shown before "show all"


def _duties() -> Mapping[str, Duty]:
    return current_app.extensions["secgov_registry"].duties


def _moment(value: str) -> str:
    """A datetime-local field's value (no zone) read in the city's time zone; what cannot be read
    is left for the schema to refuse with its message."""
    if not value.strip():
        return value
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(service_config().timezone))
    return moment.isoformat()


def _links(session: Session, reader: Actor, gaps: Sequence[GapRead]) -> dict[tuple[str, int], str]:
    """(subject type, id) -> the page of the subject, for the subjects the reader may open (the
    audit vocabulary says which page shows which kind of object)."""
    objects = current_app.extensions["secgov_registry"].audit_vocabulary.objects
    wanted: dict[str, set[str]] = {}
    for gap in gaps:
        wanted.setdefault(gap.subject_type, set()).add(str(gap.subject_id))
    links = {}
    for subject_type, ids in wanted.items():
        kind = objects.get(subject_type)
        if kind is None or not kind.endpoint or not can(kind.endpoint):
            continue
        located = kind.locate(session, reader, sorted(ids)) if kind.locate else {i: i for i in ids}
        for object_id, argument in located.items():
            arguments = {kind.argument: argument} if kind.argument else {}
            links[(subject_type, int(object_id))] = url_for(kind.endpoint, **arguments)
    return links


def _counts(terms) -> list[tuple[str, int]]:
    """How many of each duty, in the order the duties first appear."""
    counts: dict[str, int] = {}
    for term in terms:
        counts[term.duty_label] = counts.get(term.duty_label, 0) + 1
    return list(counts.items())


def _page(errors: dict[str, str] | None = None, posted: dict | None = None, which: str = ""):
    db, who, duties = get_session(), actor(), _duties()
    user = require_user()
    departments = directory.departments_in_scope(db, who)
    leaders, _total = reading.list_terms(
        db, who, duties, TermQuery(current=True, page_size=200), levels=("chief", "head")
    )
    # The chief first, then the heads in the order of the department tree.
    order = {d.id: place for place, d in enumerate(departments)}
    leaders.sort(key=lambda t: (t.subject_type != "city", order.get(t.subject_id, len(order))))
    page = int_arg("page", 1)
    duty = request.args.get("duty", "")
    duty = duty if duty in duties else None
    history, total = reading.list_terms(db, who, duties, TermQuery(duty=duty, page=page, page_size=HISTORY_PAGE))
    gaps = reading.gap_list(db, who, duties)
    mine = reading.my_terms(db, user, duties)
    assignable = [d for d in reading.duty_list(duties) if set(user.roles) & set(d.assigners)]
    return render_template(
        "accountability/index.html",
        leaders=leaders,
        gaps=gaps,
        links=_links(db, who, gaps),
        mine=mine,
        mine_counts=_counts(mine),
        all_mine=request.args.get("all_mine") == "1",
        all_gaps=request.args.get("all_gaps") == "1",
        folded=FOLDED,
        history=history,
        total=total,
        page=page,
        page_size=HISTORY_PAGE,
        leadership=[d for d in assignable if d.level in ("chief", "head")],
        sub_items=[d for d in assignable if d.level == "sub_item"],
        departments=departments,
        duties=reading.duty_list(duties),
        duty=duty or "",
        people=directory.active_users_in_scope(db, who),
        errors=errors or {},
        posted=posted or {},
        which=which,
    )


@bp.get("/accountability")
@authenticated
def index():
    """Who is accountable: the chief and the heads, the gaps, your duties, the history of terms."""
    return _page()


@bp.post("/accountability/assignments")
@roles(*ASSIGNERS)
def assign():
    """Assign a duty (the chief or a head, or a sub-item duty) from either form of the page."""
    which = request.form.get("form", "")
    which = which if which in FORMS else FORMS[1]
    moments = {name: _moment(request.form[name]) for name in MOMENTS if request.form.get(name, "").strip()}
    posted = {**ASSIGNMENT.echo(), "form": which}

    def run(data: AssignmentIn):
        return assignments.assign(get_session(), actor(), require_user().roles, data, _duties())

    data, errors = ASSIGNMENT.parse(moments)
    if data is None:
        return _page(errors, posted, which), 422
    return act(
        lambda: run(data),
        done=lambda term: Done(
            url_for("accountability.index"),
            _("%(name)s now holds the duty from %(start)s.", name=data.user, start=_when(term.valid_from)),
        ),
        again=lambda errors: _page(errors, posted, which),
    )


def _when(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(service_config().timezone)).strftime("%Y-%m-%d %H:%M")


# --- the appraisal ------------------------------------------------------------------------


def _appraisal(code: str | None) -> tuple[appraisal.Appraisal | None, str, list[str]]:
    """The appraisal of the asked period (this quarter by default), its code, and the problems of
    an unreadable period (the page then shows this quarter)."""
    config = service_config()
    today = snapshots.local_today(config.timezone)
    measures = current_app.extensions["secgov_registry"].measures
    problems = []
    chosen = code or appraisal.quarter_of(today)
    try:
        found = appraisal.appraise(get_session(), actor(), require_user().roles, measures, chosen, config)
    except ServiceError as exc:
        problems.append(exc.message)
        chosen = appraisal.quarter_of(today)
        found = appraisal.appraise(get_session(), actor(), require_user().roles, measures, chosen, config)
    return found, found.period.code, problems


@bp.get("/accountability/appraisal")
@authenticated
def appraisal_page():
    """A period's appraisal: the measures and their weights, the ranking of people and of
    departments with each figure linking to its records, and closing the period."""
    query, problems = list_query(appraisal.AppraisalQuery, ("period",))
    return _appraisal_view(query.period, problems)


def _appraisal_view(period: str | None, problems: list[str]):
    found, code, more = _appraisal(period)
    for problem in problems + more:
        flash(problem, "warning")
    config = service_config()
    today = snapshots.local_today(config.timezone)
    db = get_session()
    closable = (
        found.closed is None
        and found.period.ends_on < today
        and bool(appraisal.CLOSERS & set(require_user().roles))
        and actor().city_wide
    )
    return render_template(
        "accountability/appraisal.html",
        found=found,
        code=code,
        periods=appraisal.offered(today, appraisal.closed_codes(db)),
        today=today,
        closable=closable,
        ended=found.period.ends_on < today,
    )


@bp.get("/accountability/appraisal/records")
@authenticated
def appraisal_records():
    """The records behind a figure of the appraisal: filtered by measure, person, department and
    result, each with the moment that counted, who held the duty then, and its page."""
    query, problems = list_query(RecordQuery, ("period", "measure", "user", "department", "good", "page"))
    found, code, more = _appraisal(query.period)
    for problem in problems + more:
        flash(problem, "warning")
    rows = appraisal.records(found, query.measure, query.user, query.department, query.good)
    start = (query.page - 1) * query.page_size
    shown = rows[start : start + query.page_size]
    infos = {m.code: m for m in found.measures}
    links = {}
    for row in shown:
        info = infos.get(row["measure"])
        links[(row["record_type"], row["record_id"])] = page_of(
            info.links.get(row["record_type"]) if info else None, row["record_id"]
        )
    args = {
        k: v
        for k, v in query.model_dump(include={"measure", "user", "department", "good"}).items()
        if v is not None and v != ""
    }
    return render_template(
        "accountability/appraisal_records.html",
        found=found,
        code=code,
        rows=shown,
        total=len(rows),
        query=query,
        args=args,
        infos=infos,
        links=links,
    )


@bp.post("/accountability/appraisal/close")
@roles(*appraisal.CLOSERS)
def appraisal_close():
    """Close a period that has ended (the city's leadership): it is stored as it stands."""
    code = request.form.get("period", "")
    measures = current_app.extensions["secgov_registry"].measures
    return act(
        lambda: appraisal.close(get_session(), actor(), require_user().roles, measures, code, service_config()),
        done=lambda row: Done(
            url_for("accountability.appraisal_page", period=row.code),
            _("The period %(period)s is closed: its figures will no longer change.", period=row.code),
        ),
        again=lambda errors: _appraisal_view(code, list(dict.fromkeys(errors.values()))),
    )
