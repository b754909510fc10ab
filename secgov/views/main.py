"""The home page, the department tree and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy import text

from secgov import dashboard, directory, snapshots
from secgov.authz import READERS, public, roles
from secgov.web import actor, get_session, require_user, service_config

bp = Blueprint("main", __name__)


@bp.get("/")
@roles(*READERS)
def index():
    """The user's start page, the dashboard: the figures of their scope, each linking to the
    records behind it, with their trends; and what waits for them."""
    db = get_session()
    registry = current_app.extensions["secgov_registry"]
    config = service_config()
    today = snapshots.local_today(config.timezone)
    tiles = dashboard.overview(db, actor(), config, registry.tiles, registry.figures, today)
    root = snapshots.scope_root(db, actor())
    return render_template("main/index.html", user=require_user(), tiles=tiles, scope=root, today=today)


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
