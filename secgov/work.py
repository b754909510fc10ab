"""The frames' side of background work, shared by the pages and the API: who reads runs and
schedules, asking for a run as the signed-in user, and the schedule limits of the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from secgov import runs, schedules, snapshots
from secgov.errors import Invalid
from secgov.models import Report, Run
from secgov.reports import service as reports
from secgov.reports.jobs import CODE as REPORT_KIND
from secgov.reports.kinds import ReportKind
from secgov.reports.service import ReportCreate
from secgov.runs import JobKind
from secgov.tasks import hand_over, platform_of
from secgov.web import actor, current_user, get_session

RUN_READERS = ("admin", "officer", "auditor")
SCHEDULE_READERS = ("admin", "auditor")


def kinds() -> Mapping[str, JobKind]:
    return current_app.extensions["secgov_registry"].jobs


def kind_label(code: str) -> str:
    kind = kinds().get(code)
    return _(kind.label) if kind else code


def start_run(kind_code: str, params: Mapping[str, Any]) -> Run:
    """Ask for a run as the signed-in user: the kind must exist and the user may start it; handed
    to the queue when the request's transaction commits."""
    kind = kinds().get(kind_code)
    if kind is None:
        raise Invalid(_("No such kind of work."), field="kind")
    who = actor()
    runs.may_start(who, kind, current_user().roles)
    session = get_session()
    run = runs.enqueue(session, who, kind, params)
    hand_over(session, platform_of(current_app), [run.id])
    return run


def schedule_limits() -> dict[str, Any]:
    """The city's time zone (cron expressions) and the shortest interval allowed."""
    config = current_app.config
    return {
        "timezone": str(config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")),
        "min_seconds": int(config.get("SECGOV_SCHEDULE_MIN_SECONDS", schedules.MIN_SECONDS)),
    }


def report_kinds() -> Mapping[str, ReportKind]:
    return current_app.extensions["secgov_registry"].report_kinds


def ask_for_report(data: ReportCreate) -> Report:
    """Ask for a report (of any kind) as the signed-in user: recorded, and its run handed to the
    queue when the request's transaction commits."""
    who = actor()
    session = get_session()
    report, run = reports.queue_report(session, who, data, reports_today(), kinds()[REPORT_KIND], report_kinds())
    hand_over(session, platform_of(current_app), [run.id])
    return report


def reports_today() -> date:
    """Today in the city's time zone (a report's default period ends today)."""
    return snapshots.local_today(str(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai"))
