"""Web pages of the asset register: list, detail, registration, editing, controls, coverage."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from pydantic import ValidationError

from assets import controls, policy, services
from assets.codes import CONTROL_STATUS
from assets.models import Asset
from assets.schemas import FILTERS, AssetControlsUpdate, AssetCreate, AssetQuery, AssetUpdate, ControlOverview
from assets.services import WRITERS
from secgov import directory, responsibility
from secgov.authz import ALL_ROLES, roles
from secgov.codes import current_language
from secgov.errors import ServiceError, validation_details
from secgov.pages import Done, Form, act, list_query
from secgov.web import actor, get_session, require_user, service_config

bp = Blueprint("assets", __name__, url_prefix="/assets")

ASSET_FORM = dict(empty_is_none=("mlps_level",), lists=("mlps_extensions",), checkboxes=("is_cii", "classified"))
CREATE = Form(AssetCreate, **ASSET_FORM)
UPDATE = Form(AssetUpdate, **ASSET_FORM)


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


def _status_filter(warn: bool = True) -> list[str]:
    """The statuses chosen in the query string (`status`, repeated); an unknown one is dropped
    (with a warning on the page that shows the filter)."""
    chosen = request.args.getlist("status")
    if warn and any(status not in CONTROL_STATUS for status in chosen):
        flash(_("An unknown control status in the filter was left out."), "warning")
    return [status for status in CONTROL_STATUS if status in chosen]


def _open_areas(overview: ControlOverview, marked: set[str]) -> set[str]:
    """The areas shown open: those holding a control the user must look at again (an error, a
    conflict); with a filter, those with a control shown; without, those that need attention."""
    return {
        group.area
        for group in overview.areas
        if any(item.control_id in marked for item in group.items)
        or (group.items if overview.statuses else group.needs_attention)
    }


def _detail_page(asset: Asset, posted: dict[str, dict] | None = None, errors: dict[str, str] | None = None) -> str:
    """The asset's page; after a refused save of controls, with what was posted and why."""
    db = get_session()
    overview = controls.control_overview(db, asset, current_language(), _status_filter())
    posted, errors = posted or {}, errors or {}
    # A control posted at an older version was changed meanwhile: it shows the current record.
    current = {item.control_id: item.version for group in overview.areas for item in group.items}
    stale = {cid for cid, values in posted.items() if cid in current and values.get("version") != str(current[cid])}
    return render_template(
        "assets/detail.html",
        asset=asset,
        record=services.read_one(db, asset),
        overview=overview,
        open_areas=_open_areas(overview, set(errors) | stale),
        posted={cid: values for cid, values in posted.items() if cid not in stale},
        stale=stale,
        errors=errors,
        grades=services.grade_history(db, asset),
        owners=responsibility.history(db, services.SUBJECT, asset.id, services.OWNER),
        department=asset.department_id,
        vendor_panel=policy.engagement_panel(db, asset, service_config()),
        sections=_sections(asset),
    )


def _sections(asset: Asset) -> list[tuple[str, dict]]:
    """The other domains' sections of the asset's page (secgov.registry.AssetSection), each
    (template, context); a section whose build gives None is left out."""
    db, who, config = get_session(), actor(), service_config()
    found = []
    for section in current_app.extensions["secgov_registry"].asset_sections:
        context = section.build(db, who, config, asset)
        if context is not None:
            found.append((section.template, context))
    return found


@bp.get("/<int:asset_id>")
@roles(*ALL_ROLES)
def detail(asset_id: int):
    """Everything about one asset: facts, owner and grade history, controls by area, vendors."""
    return _detail_page(_asset(asset_id))


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


def _posted_controls() -> tuple[dict[str, dict], AssetControlsUpdate | None, dict[str, str]]:
    """The controls form: `status:<control>`, `evidence:<control>` and `version:<control>` for
    each control it shows. Returns what was posted by control, the schema (None when invalid)
    and the errors by control ("_" for the form as a whole)."""
    posted: dict[str, dict] = {}
    for key in request.form:
        kind, colon, control_id = key.partition(":")
        if kind == "version" and colon:
            values = {"control_id": control_id, "version": request.form[key]}
            for name in ("status", "evidence"):
                if f"{name}:{control_id}" in request.form:
                    values[name] = request.form[f"{name}:{control_id}"]
            posted[control_id] = values
    try:
        return posted, AssetControlsUpdate.model_validate({"items": list(posted.values())}), {}
    except ValidationError as exc:
        ids = list(posted)
        errors: dict[str, str] = {}
        for detail in validation_details(exc):
            parts = detail["field"].split(".")
            where = ids[int(parts[1])] if len(parts) > 2 and parts[1].isdigit() else "_"
            errors.setdefault(where, detail["message"])
        return posted, None, errors


@bp.post("/<int:asset_id>/controls")
@roles(*WRITERS)
def controls_update(asset_id: int):
    """Record the status and evidence of several controls in one save, all or nothing."""
    asset = _asset(asset_id)
    back = url_for("assets.detail", asset_id=asset.id, status=_status_filter(warn=False), _anchor="controls")
    posted, data, errors = _posted_controls()

    def again(errors: dict[str, str]) -> str:
        flash(
            errors.get("_") or errors.get("items") or _("Nothing was saved: correct the controls marked below."),
            "danger",
        )
        return _detail_page(asset, posted, errors)

    if data is None:
        return again(errors), 422

    def saved(rows) -> Done:
        # A recorded control has a new version; one sent back unchanged keeps the one it was read at.
        changed = sum(row.version != item.version for (row, _c), item in zip(rows, data.items, strict=True))
        if not changed:
            return Done(back, _("No control was changed."))
        return Done(back, ngettext("%(num)d control was saved.", "%(num)d controls were saved.", changed))

    return act(lambda: controls.update_controls(get_session(), asset, data, actor()), done=saved, again=again)
