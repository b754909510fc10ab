"""The due list: every required assessment in scope with its due date and state, overdue first."""

from __future__ import annotations

from flask import Blueprint, flash, render_template

from assessments import rule, schedule, services
from assessments.schemas import DueQuery
from secgov import directory
from secgov.authz import ALL_ROLES, roles
from secgov.errors import ServiceError
from secgov.pages import list_query
from secgov.web import actor, get_session, service_config

bp = Blueprint("due", __name__, url_prefix="/assessments/due")

DUE_FILTERS = ("state", "kind", "department", "asset_id")


@bp.get("")
@roles(*ALL_ROLES)
def index():
    """Required assessments (overdue, due soon, on time, or all), by kind and department."""
    query, problems = list_query(DueQuery, (*DUE_FILTERS, "page"))
    db = get_session()
    method = rule.method(db, service_config())
    today = services.today_utc()
    try:
        rows, total = schedule.due_list(db, actor(), query, method, today)
        counts = schedule.state_counts(db, actor(), method, today, query.department)
    except ServiceError as exc:
        problems.append(exc.message)
        query = query.model_copy(update={"department": None})
        rows, total = schedule.due_list(db, actor(), query, method, today)
        counts = schedule.state_counts(db, actor(), method, today)
    for problem in problems:
        flash(problem, "warning")
    args = {k: v for k, v in query.model_dump(exclude={"page", "page_size"}).items() if v not in (None, "")}
    return render_template(
        "assessments/due.html",
        items=rows,
        total=total,
        query=query,
        args=args,
        counts=counts,
        today=today,
        soon_days=method.soon_days,
        departments=directory.departments_in_scope(db, actor()),
    )
