"""The home page, the department tree and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text
from sqlmodel import func, select

from secgov import directory
from secgov.authz import READERS, public, roles
from secgov.models import User
from secgov.web import actor, get_session, require_user

bp = Blueprint("main", __name__)


@bp.get("/")
@roles(*READERS)
def index():
    """The user's start page: who they are and what their scope holds."""
    db = get_session()
    departments = directory.departments_in_scope(db, actor())
    ids = [d.id for d in departments]
    user_count = db.exec(select(func.count()).select_from(User).where(User.department_id.in_(ids))).one()
    return render_template("main/index.html", user=require_user(), departments=departments, user_count=user_count)


@bp.get("/departments")
@roles(*READERS)
def departments():
    """The department tree within the user's scope."""
    db = get_session()
    user = require_user()
    rows = directory.departments_in_scope(db, actor())
    base_depth = user.department.path.count("/")
    return render_template(
        "main/departments.html", departments=rows, base_depth=base_depth, codes_by_id=directory.code_map(db)
    )


@bp.get("/healthz")
@public
def healthz():
    """Liveness and database reachability, for load balancers."""
    try:
        get_session().execute(text("SELECT 1"))
        return jsonify(status="ok", database="ok")
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        return jsonify(status="error", database="unreachable"), 503
