"""Background work pages: the runs in the reader's scope, one run (progress, result or reason), the
work an admin may start by hand, and the schedules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError

from secgov import runs, schedules
from secgov.authz import roles
from secgov.codes import current_language
from secgov.errors import validation_details
from secgov.pages import Done, act, int_arg
from secgov.runs import STATUSES, JobKind, RunFilter
from secgov.schedules import ScheduleIn, ScheduleUpdate
from secgov.web import actor, current_user, get_session
from secgov.work import RUN_READERS, SCHEDULE_READERS, kinds, schedule_limits, start_run

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

PAGE_SIZE = 50


@dataclass(frozen=True)
class ParamField:
    """One parameter of a kind, as a form field."""

    name: str
    label: str
    type: str  # an <input> type, or "select"
    required: bool
    default: str
    choices: tuple[tuple[str, str], ...] = ()  # (value, label) of a select


LANGUAGE_NAMES = {"zh": "中文", "en": "English"}


def param_fields(kind: JobKind, values: dict[str, Any] | None = None) -> list[ParamField]:
    """The form fields of a kind's parameters, from its schema (types and descriptions), filled with
    `values` (a schedule's) or the defaults; a language parameter starts at the page's language, a
    list (of codes) is one text of comma-separated items."""
    fields = []
    for name, info in kind.params.model_fields.items():
        annotation = str(info.annotation)
        choices = tuple((str(v), LANGUAGE_NAMES.get(str(v), str(v))) for v in get_args(info.annotation))
        if choices and "Literal" in annotation:
            kind_of = "select"
        elif get_origin(info.annotation) in (list, tuple):
            choices, kind_of = (), "text"  # items separated by commas
        else:
            choices = ()
            kind_of = "number" if "int" in annotation else "date" if "date" in annotation else "text"
        if name == "to":
            kind_of = "email"
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if name == "lang":
            default = current_language()
        if values is not None and name in values:
            default = values[name]
        if isinstance(default, list | tuple):
            default = ", ".join(str(item) for item in default)
        fields.append(
            ParamField(
                name=name,
                label=_(info.description) if info.description else name,
                type=kind_of,
                required=info.is_required(),
                default="" if default is None else str(default),
                choices=choices,
            )
        )
    return fields


def params_shown(kind: JobKind | None, params: dict[str, Any]) -> list[tuple[str, str]]:
    """A schedule's parameters as the page shows them: label and value, in the reader's language."""
    if kind is None:
        return [(name, str(value)) for name, value in params.items()]
    fields = {f.name: f for f in param_fields(kind, params)}
    shown = []
    for name in params:
        field = fields.get(name)
        if field is None or field.default == "":
            continue
        value = dict(field.choices).get(field.default, field.default)
        shown.append((field.label, value))
    return shown


def startable() -> list[JobKind]:
    """The kinds the signed-in user may start by hand."""
    user = current_user()
    who = actor()
    return [kind for kind in kinds().values() if kind.roles & user.roles and (who.city_wide or not kind.city_wide)]


def read_params(form, kind: str = "") -> dict[str, Any]:
    """The posted `param.<name>` fields as parameters (blank ones left out: the defaults apply).
    A form holding the fields of several kinds (a new schedule's) names them `<kind>:param.<name>`:
    those of `kind` are read, the others' are not."""
    own = f"{kind}:param." if kind else None
    params = {}
    for key, value in form.items():
        if own and key.startswith(own):
            name = key.removeprefix(own)
        elif key.startswith("param."):
            name = key.removeprefix("param.")
        else:
            continue
        if value.strip():
            params[name] = value.strip()
    return params


@bp.get("")
@roles(*RUN_READERS)
def index():
    """Runs in scope, newest first, with filters; admins start work here."""
    filters = RunFilter.model_validate(
        {k: v for k, v in request.args.items() if k in ("kind", "status") and v and v in (*kinds(), *STATUSES)}
    )
    page = int_arg("page", 1)
    rows, total = runs.list_runs(get_session(), actor(), filters, page=page, page_size=PAGE_SIZE)
    return render_template(
        "jobs/index.html",
        rows=rows,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        filters=filters,
        kinds=kinds(),
        statuses=STATUSES,
        startable=[(kind, param_fields(kind)) for kind in startable()],
        reason_text=lambda run: runs.reason_text(run.reason, kinds(), run.kind),
    )


@bp.post("/start")
@roles("admin")
def start():
    """Ask for a run of a kind (the admin may start it): queued, then done by a worker."""
    kind = request.form.get("kind", "")
    back = request.form.get("back") or url_for("jobs.index")
    if not back.startswith("/") or back.startswith("//"):
        back = url_for("jobs.index")
    return act(
        lambda: start_run(kind, read_params(request.form)),
        done=lambda run: Done(url_for("jobs.detail", run_id=run.id), _("The work is queued.")),
        back=back,
    )


@bp.get("/<int:run_id>")
@roles(*RUN_READERS)
def detail(run_id: int):
    """One run: who asked, when, its progress, then its result or the reason it failed."""
    run = runs.get_run(get_session(), actor(), run_id)
    kind = kinds().get(run.kind)
    result = runs.loads(run.result) if run.result else {}
    percent = None
    if run.progress_total:
        percent = min(100, round(100 * (run.progress_done or 0) / run.progress_total))
    return render_template(
        "jobs/detail.html",
        run=run,
        kind=kind,
        kind_label=_(kind.label) if kind else run.kind,
        params=runs.loads(run.params),
        result=result,
        result_template=kind.result_template if kind else None,
        param_labels={f.name: f.label for f in param_fields(kind)} if kind else {},
        result_labels={key: _(label) for key, label in (kind.result_labels if kind else {}).items()},
        reason=runs.reason_text(run.reason, kinds(), run.kind) if run.reason else "",
        percent=percent,
        ended=run.status in runs.ENDED,
        statuses=STATUSES,
    )


# --- schedules -----------------------------------------------------------------------------------


def _schedules_page(errors: dict[str, str] | None = None, form: dict[str, str] | None = None, editing: int = 0):
    rows = schedules.list_all(get_session())
    schedulable = [kind for kind in kinds().values() if kind.schedulable and not kind.owned_schedules]
    return render_template(
        "jobs/schedules.html",
        rows=rows,
        kinds=kinds(),
        schedulable=schedulable,
        errors=errors or {},
        form=form or {},
        editing=editing,
        may_change=actor().city_wide and "admin" in current_user().roles,
        min_seconds=schedule_limits()["min_seconds"],
        timezone=schedule_limits()["timezone"],
        param_fields=lambda kind, row=None: param_fields(kind, json.loads(row.params or "{}") if row else None),
        params_shown=lambda row: params_shown(kinds().get(row.kind), json.loads(row.params or "{}")),
    )


@bp.get("/schedules")
@roles(*SCHEDULE_READERS)
def schedules_page():
    """Every schedule (city-wide), with when it last fired; root admins change them here."""
    return _schedules_page()


def _schedule_form(model: type[BaseModel]) -> tuple[BaseModel | None, dict[str, str]]:
    form = request.form
    every = form.get("interval_seconds", "").strip()
    data: dict[str, Any] = {
        "kind": form.get("kind", ""),
        "name": form.get("name", ""),
        "cron": form.get("cron", "").strip() if form.get("when") != "interval" else "",
        "interval_seconds": (every or None) if form.get("when") == "interval" else None,
        "params": read_params(form, form.get("kind", "")),
        "enabled": form.get("enabled") == "on",
    }
    if model is ScheduleUpdate:
        data["version"] = form.get("version", "")
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        return None, {d["field"].split(".")[0] or "_": d["message"] for d in validation_details(exc)}


@bp.post("/schedules")
@roles("admin")
def schedules_create():
    data, errors = _schedule_form(ScheduleIn)
    if data is None:
        return _schedules_page(errors, dict(request.form)), 422
    return act(
        lambda: schedules.create(get_session(), actor(), data, kinds(), **schedule_limits()),
        done=lambda _row: Done(url_for("jobs.schedules_page"), _("Schedule created.")),
        again=lambda errs: _schedules_page(errs, dict(request.form)),
    )


@bp.post("/schedules/<int:schedule_id>")
@roles("admin")
def schedules_update(schedule_id: int):
    schedules.get(get_session(), schedule_id)  # a missing schedule is a missing page
    data, errors = _schedule_form(ScheduleUpdate)
    if data is None:
        return _schedules_page(errors, dict(request.form), editing=schedule_id), 422
    return act(
        lambda: schedules.update(get_session(), actor(), schedule_id, data, kinds(), **schedule_limits()),
        done=lambda _row: Done(url_for("jobs.schedules_page"), _("Schedule changed.")),
        again=lambda errs: _schedules_page(errs, dict(request.form), editing=schedule_id),
    )


@bp.post("/schedules/<int:schedule_id>/delete")
@roles("admin")
def schedules_delete(schedule_id: int):
    schedules.get(get_session(), schedule_id)
    return act(
        lambda: schedules.delete(get_session(), actor(), schedule_id, kinds()),
        done=lambda _row: Done(url_for("jobs.schedules_page"), _("Schedule deleted.")),
        again=lambda errs: _schedules_page(errs),
    )
