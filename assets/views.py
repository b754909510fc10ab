"""Web pages of the asset inventory: list, detail, registration, editing, controls."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from assets import controls, services
from assets.models import Asset
from assets.services import WRITERS, AssetCreate, AssetQuery, AssetUpdate
from secgov import catalog, directory, responsibility
from secgov.authz import ALL_ROLES, require_user, roles
from secgov.db import get_session
from secgov.errors import ServiceError
from secgov.forms import error_dict, list_query, parse_form
from secgov.web import actor, current_language

bp = Blueprint("assets", __name__, url_prefix="/assets")


def _asset(asset_id: int) -> Asset:
    return services.get_asset(get_session(), asset_id, require_user())


def _choices(people: bool = True):
    db = get_session()
    viewer = require_user()
    people = services.eligible_owners(db, viewer) if people else []
    return {
        "sectors": catalog.sectors(),
        "departments": directory.departments_in_scope(db, viewer),
        "people": people,
        "data_levels": catalog.DATA_LEVELS,
        "lifecycles": catalog.LIFECYCLES,
        "extensions": catalog.MLPS_EXTENSIONS,
        "levels": catalog.MLPS_LEVELS,
    }


@bp.get("")
@roles(*ALL_ROLES)
def index():
    """The asset register in the user's scope, filtered and sorted on the server."""
    query, problems = list_query(AssetQuery, (*services.FILTERS, "page"))
    db = get_session()
    try:
        rows, total = services.list_assets(db, require_user(), query)
    except ServiceError as exc:
        problems.append(exc.message)
        query = query.model_copy(update={"department": None})
        rows, total = services.list_assets(db, require_user(), query)
    for problem in problems:
        flash(problem, "warning")
    items = services.read_many(db, rows)
    coverage = controls.coverage_by_asset(db, [r.id for r in rows])
    args = {k: v for k, v in query.model_dump(exclude={"page", "page_size"}).items() if v not in (None, "")}
    return render_template(
        "assets/index.html",
        items=items,
        total=total,
        query=query,
        args=args,
        coverage=coverage,
        **_choices(people=False),
    )


@bp.get("/coverage")
@roles(*ALL_ROLES)
def coverage():
    """Control coverage by department, each with its whole subtree."""
    return render_template("assets/coverage.html", rows=controls.coverage_tree(get_session(), require_user()))


@bp.route("/new", methods=["GET", "POST"])
@roles(*WRITERS)
def create():
    """Register an asset."""
    if request.method == "GET":
        return render_template(
            "assets/form.html", asset=None, form={"owner": require_user().username}, errors={}, **_choices()
        )
    data, errors = parse_form(
        AssetCreate, empty_is_none=("mlps_level",), lists=("mlps_extensions",), checkboxes=("is_cii", "classified")
    )
    if data is not None:
        db = get_session()
        try:
            asset = services.create_asset(db, data, actor(), require_user())
            db.commit()
            flash(_("Asset %(code)s was registered.", code=asset.code), "success")
            return redirect(url_for("assets.detail", asset_id=asset.id))
        except ServiceError as exc:
            db.rollback()
            errors = error_dict(exc)
    return render_template("assets/form.html", asset=None, form=_echo(), errors=errors, **_choices()), 422


def _echo() -> dict:
    form = dict(request.form)
    form["mlps_extensions"] = request.form.getlist("mlps_extensions")
    form["is_cii"] = "is_cii" in request.form
    form["classified"] = "classified" in request.form
    return form


@bp.get("/<int:asset_id>")
@roles(*ALL_ROLES)
def detail(asset_id: int):
    """Everything about one asset: facts, owner and grade history, controls, vendors."""
    db = get_session()
    asset = _asset(asset_id)
    record = services.read_many(db, [asset])[0]
    lang = current_language()
    return render_template(
        "assets/detail.html",
        asset=asset,
        record=record,
        controls=[
            (row, controls.control_read(row, control, lang)) for row, control in controls.asset_controls(db, asset)
        ],
        coverage=controls.coverage_by_asset(db, [asset.id])[asset.id],
        grades=services.grade_history(db, asset),
        owners=responsibility.history(db, "asset", asset.id, services.OWNER),
        department=directory.code_map(db).get(asset.department_id, ""),
        statuses=catalog.CONTROL_STATUSES,
        vendor_panel=_vendor_panel(asset),
    )


def _vendor_panel(asset: Asset) -> dict | None:
    """The engagements panel's data when the vendor pages provide it."""
    try:
        from assets import vendors
    except ImportError:  # pragma: no cover - the vendor module is always present in a release
        return None
    panel = getattr(vendors, "engagement_panel", None)
    return panel(get_session(), asset) if panel else None


@bp.route("/<int:asset_id>/edit", methods=["GET", "POST"])
@roles(*WRITERS)
def edit(asset_id: int):
    """Edit an asset; a new level regrades it and keeps the statuses already recorded."""
    db = get_session()
    asset = _asset(asset_id)
    record = services.read_many(db, [asset])[0]
    if request.method == "GET":
        form = record.model_dump()
        form["network_targets"] = "\n".join(record.network_targets)
        form["expected_ports"] = " ".join(record.expected_ports)
        form["owner"] = record.owner or ""
        return render_template("assets/form.html", asset=asset, form=form, errors={}, **_choices())
    data, errors = parse_form(
        AssetUpdate, empty_is_none=("mlps_level",), lists=("mlps_extensions",), checkboxes=("is_cii", "classified")
    )
    if data is not None:
        try:
            services.update_asset(db, asset, data, actor(), require_user())
            db.commit()
            flash(_("Asset %(code)s was saved.", code=asset.code), "success")
            return redirect(url_for("assets.detail", asset_id=asset.id))
        except ServiceError as exc:
            db.rollback()
            errors = error_dict(exc)
    return render_template("assets/form.html", asset=asset, form=_echo(), errors=errors, **_choices()), 422


@bp.post("/<int:asset_id>/delete")
@roles(*WRITERS)
def delete(asset_id: int):
    """Remove an asset record."""
    db = get_session()
    asset = _asset(asset_id)
    code = asset.code
    services.delete_asset(db, asset, actor())
    db.commit()
    flash(_("Asset %(code)s was deleted.", code=code), "success")
    return redirect(url_for("assets.index"))


@bp.post("/<int:asset_id>/controls/<control_id>")
@roles(*WRITERS)
def control_update(asset_id: int, control_id: str):
    """Record one control's status and evidence."""
    db = get_session()
    asset = _asset(asset_id)
    data, errors = parse_form(controls.AssetControlUpdate, empty_is_none=("reviewed_on",))
    if data is None:
        flash(_("The control was not saved: %(problems)s", problems="; ".join(errors.values())), "danger")
        return redirect(url_for("assets.detail", asset_id=asset.id, _anchor="controls"))
    try:
        controls.update_control(db, asset, control_id, data, actor())
        db.commit()
        flash(_("Control %(code)s was saved.", code=control_id), "success")
    except ServiceError as exc:
        db.rollback()
        flash(exc.message, "danger")
    return redirect(url_for("assets.detail", asset_id=asset.id, _anchor="controls"))
