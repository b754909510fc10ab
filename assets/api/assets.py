"""Assets and their controls over the API; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint

from assets import controls, services
from assets.models import Asset
from assets.schemas import (
    AssetControlRead,
    AssetControlsUpdate,
    AssetControlUpdate,
    AssetCreate,
    AssetQuery,
    AssetRead,
    AssetUpdate,
    ControlList,
    CoverageList,
    CoverageRow,
)
from assets.services import WRITERS
from secgov.authz import ALL_ROLES, roles
from secgov.codes import current_language
from secgov.rest import operation, page, page_model
from secgov.web import actor, get_session, service_config

bp = Blueprint("assets_api", __name__, url_prefix="/api/v1")


def _asset(asset_id: int) -> Asset:
    return services.get_asset(get_session(), asset_id, actor())


@bp.get("/assets")
@roles(*ALL_ROLES)
@operation(query=AssetQuery, ok=page_model(AssetRead), tags=["assets"])
def assets_list(query: AssetQuery):
    """Assets in the caller's scope: filtered, sorted and paged on the server."""
    db = get_session()
    rows, total = services.list_assets(db, actor(), query)
    return page(services.read_many(db, rows), total, query)


@bp.post("/assets")
@roles(*WRITERS)
@operation(body=AssetCreate, ok=AssetRead, status=201, tags=["assets"])
def assets_create(body: AssetCreate):
    """Register an asset; its level's controls are instantiated."""
    db = get_session()
    return services.read_one(db, services.create_asset(db, body, actor(), service_config()))


@bp.get("/assets/coverage")
@roles(*ALL_ROLES)
@operation(ok=CoverageList, tags=["controls"])
def assets_coverage():
    """Control coverage per department in scope, each including its sub-departments."""
    rows = controls.coverage_tree(get_session(), actor())
    items = [
        CoverageRow(
            department=r.department, assets=r.assets, required=r.total.required, applicable=r.total.applicable,
            implemented=r.total.implemented, partial=r.total.partial, percent=r.total.percent,
        )
        for r in rows
    ]  # fmt: skip
    return CoverageList(items=items)


@bp.get("/assets/<int:asset_id>")
@roles(*ALL_ROLES)
@operation(ok=AssetRead, tags=["assets"])
def assets_get(asset_id: int):
    """One asset."""
    return services.read_one(get_session(), _asset(asset_id))


@bp.patch("/assets/<int:asset_id>")
@roles(*WRITERS)
@operation(body=AssetUpdate, ok=AssetRead, tags=["assets"])
def assets_update(asset_id: int, body: AssetUpdate):
    """Edit an asset (send the version you read); a new level regrades it."""
    db = get_session()
    return services.read_one(db, services.update_asset(db, _asset(asset_id), body, actor(), service_config()))


@bp.delete("/assets/<int:asset_id>")
@roles(*WRITERS)
@operation(status=204, tags=["assets"])
def assets_delete(asset_id: int):
    """Remove an asset record (retiring it through `lifecycle` keeps its history instead)."""
    services.delete_asset(get_session(), _asset(asset_id), actor())


@bp.get("/assets/<int:asset_id>/controls")
@roles(*ALL_ROLES)
@operation(ok=ControlList, tags=["controls"])
def controls_list(asset_id: int):
    """The controls the asset's level requires, with their status."""
    rows = controls.asset_controls(get_session(), _asset(asset_id))
    lang = current_language()
    items = [controls.control_read(row, control, lang) for row, control in rows]
    return ControlList(items=items, total=len(items))


@bp.patch("/assets/<int:asset_id>/controls")
@roles(*WRITERS)
@operation(body=AssetControlsUpdate, ok=ControlList, tags=["controls"])
def controls_update_many(asset_id: int, body: AssetControlsUpdate):
    """Record several controls of the asset at once, all or nothing (each with the version you
    read; one stale version refuses the lot). A control sent back unchanged is left as it is.
    Answers the controls sent, as they are now."""
    rows = controls.update_controls(get_session(), _asset(asset_id), body, actor())
    lang = current_language()
    items = [controls.control_read(row, control, lang) for row, control in rows]
    return ControlList(items=items, total=len(items))


def _control_read(row, control_id: str) -> AssetControlRead:
    return controls.control_read(row, controls.control_by_id(get_session(), control_id), current_language())


@bp.get("/assets/<int:asset_id>/controls/<control_id>")
@roles(*ALL_ROLES)
@operation(ok=AssetControlRead, tags=["controls"])
def controls_get(asset_id: int, control_id: str):
    """One control of an asset."""
    return _control_read(controls.get_asset_control(get_session(), _asset(asset_id), control_id), control_id)


@bp.patch("/assets/<int:asset_id>/controls/<control_id>")
@roles(*WRITERS)
@operation(body=AssetControlUpdate, ok=AssetControlRead, tags=["controls"])
def controls_update(asset_id: int, control_id: str, body: AssetControlUpdate):
    """Record a control's status and evidence (send the version you read)."""
    row = controls.update_control(get_session(), _asset(asset_id), control_id, body, actor())
    return _control_read(row, control_id)
