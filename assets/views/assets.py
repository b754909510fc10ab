"""Web pages of the asset register: list, detail, registration, editing, controls, coverage."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from assets import controls, policy, services
from assets.models import Asset
from assets.schemas import FILTERS, AssetControlUpdate, AssetCreate, AssetQuery, AssetUpdate
from assets.services import WRITERS
from secgov import directory, responsibility
from secgov.authz import ALL_ROLES, roles
from secgov.codes import current_language
from secgov.errors import ServiceError
from secgov.pages import Done, Form, act, list_query
from secgov.web import actor, get_session, require_user, service_config

bp = Blueprint("assets", __name__, url_prefix="/assets")

ASSET_FORM = dict(empty_is_none=("mlps_level",), lists=("mlps_extensions",), checkboxes=("is_cii", "classified"))
CREATE = Form(AssetCreate, **ASSET_FORM)
UPDATE = Form(AssetUpdate, **ASSET_FORM)
CONTROL = Form(AssetControlUpdate, empty_is_none=("reviewed_on",))


def _asset(asset_id: int) -> Asset:
    return services.get_asset(get_session(), asset_id, actor())


def _to_asset(message: str):
    return lambda asset: Done(url_for("assets.detail", asset_id=asset.id), message)


def _form_page(asset: Asset | None, form, errors) -> str:
    db = get_session()
    return render_template(
        "assets/form.html",
        asset=asset,
        form=form,
        errors=errors,
        departments=directory.departments_in_scope(db, actor()),
        people=services.eligible_owners(db, actor()),
    )


@bp.get("")
@roles(*ALL_ROLES)
def index():
    """The asset register in the user's scope, filtered and sorted on the server."""
    query, problems = list_query(AssetQuery, (*FILTERS, "page"))
    db = get_session()
    try:
        rows, total = services.list_assets(db, actor(), query)
    except ServiceError as exc:
        problems.append(exc.message)
        query = query.model_copy(update={"department": None})
        rows, total = services.list_assets(db, actor(), query)
    for problem in problems:
        flash(problem, "warning")
    args = {k: v for k, v in query.model_dump(exclude={"page", "page_size"}).items() if v not in (None, "")}
    return render_template(
        "assets/index.html",
        items=services.read_many(db, rows),
        total=total,
        query=query,
        args=args,
        coverage=controls.coverage_by_asset(db, [r.id for r in rows]),
        departments=directory.departments_in_scope(db, actor()),
    )


@bp.get("/coverage")
@roles(*ALL_ROLES)
def coverage():
    """Control coverage by department, each with its whole subtree."""
    return render_template("assets/coverage.html", rows=controls.coverage_tree(get_session(), actor()))


@bp.route("/new", methods=["GET", "POST"])
@roles(*WRITERS)
def create():
    """Register an asset."""
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        return _form_page(None, {"owner": require_user().username}, {})
    return act(
        lambda data: services.create_asset(get_session(), data, actor(), service_config()),
        form=CREATE,
        done=lambda asset: Done(
            url_for("assets.detail", asset_id=asset.id), _("Asset %(code)s was registered.", code=asset.code)
        ),
        again=lambda errors: _form_page(None, CREATE.echo(), errors),
    )


@bp.get("/<int:asset_id>")
@roles(*ALL_ROLES)
def detail(asset_id: int):
    """Everything about one asset: facts, owner and grade history, controls, vendors."""
    db = get_session()
    asset = _asset(asset_id)
    lang = current_language()
    return render_template(
        "assets/detail.html",
        asset=asset,
        record=services.read_one(db, asset),
        controls=[
            (row, controls.control_read(row, control, lang)) for row, control in controls.asset_controls(db, asset)
        ],
        coverage=controls.coverage_by_asset(db, [asset.id])[asset.id],
        grades=services.grade_history(db, asset),
        owners=responsibility.history(db, services.SUBJECT, asset.id, services.OWNER),
        department=directory.code_map(db).get(asset.department_id, ""),
        vendor_panel=policy.engagement_panel(db, asset, service_config()),
    )


@bp.route("/<int:asset_id>/edit", methods=["GET", "POST"])
@roles(*WRITERS)
def edit(asset_id: int):
    """Edit an asset; a new level regrades it and keeps the statuses already recorded."""
    asset = _asset(asset_id)
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        record = services.read_one(get_session(), asset)
        form = record.model_dump()
        form["network_targets"] = "\n".join(record.network_targets)
        form["expected_ports"] = " ".join(record.expected_ports)
        form["owner"] = record.owner or ""
        return _form_page(asset, form, {})
    return act(
        lambda data: services.update_asset(get_session(), asset, data, actor(), service_config()),
        form=UPDATE,
        done=_to_asset(_("Asset %(code)s was saved.", code=asset.code)),
        again=lambda errors: _form_page(asset, UPDATE.echo(), errors),
    )


@bp.post("/<int:asset_id>/delete")
@roles(*WRITERS)
def delete(asset_id: int):
    """Remove an asset record."""
    asset = _asset(asset_id)
    code = asset.code
    return act(
        lambda: services.delete_asset(get_session(), asset, actor()),
        done=lambda _none: Done(url_for("assets.index"), _("Asset %(code)s was deleted.", code=code)),
    )


@bp.post("/<int:asset_id>/controls/<control_id>")
@roles(*WRITERS)
def control_update(asset_id: int, control_id: str):
    """Record one control's status and evidence."""
    asset = _asset(asset_id)
    back = url_for("assets.detail", asset_id=asset.id, _anchor="controls")
    data, errors = CONTROL.parse()
    if data is None:
        flash(_("The control was not saved: %(problems)s", problems="; ".join(errors.values())), "danger")
        return redirect(back)
    return act(
        lambda: controls.update_control(get_session(), asset, control_id, data, actor()),
        done=lambda _row: Done(back, _("Control %(code)s was saved.", code=control_id)),
        back=back,
    )
