"""Assets and their controls over the API; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint
from pydantic import BaseModel
from spectree import Response

from assets import controls, services
from assets.controls import AssetControlRead, AssetControlUpdate
from assets.models import Asset
from assets.services import WRITERS, AssetCreate, AssetQuery, AssetRead, AssetUpdate
from secgov.api.base import ErrorResponse, dump, json_body, page_of, query_args, spec
from secgov.authz import ALL_ROLES, require_user, roles
from secgov.db import get_session
from secgov.web import actor, current_language

bp = Blueprint("assets_api", __name__, url_prefix="/api/v1")

ERRORS = {f"HTTP_{code}": ErrorResponse for code in (400, 401, 403, 404, 409, 413, 415, 422)}


class AssetPage(BaseModel):
    items: list[AssetRead]
    total: int
    page: int
    page_size: int


class ControlList(BaseModel):
    items: list[AssetControlRead]
    total: int


def _asset(asset_id: int) -> Asset:
    return services.get_asset(get_session(), asset_id, require_user())


def _read(asset: Asset) -> dict:
    return dump(services.read_many(get_session(), [asset])[0])


@bp.get("/assets")
@roles(*ALL_ROLES)
@spec.validate(query=AssetQuery, resp=Response(HTTP_200=AssetPage, **ERRORS), tags=["assets"], skip_validation=True)
def assets_list():
    """Assets in the caller's scope: filtered, sorted and paged on the server."""
    query = query_args(AssetQuery)
    db = get_session()
    rows, total = services.list_assets(db, require_user(), query)
    return page_of([dump(r) for r in services.read_many(db, rows)], total, query.page, query.page_size)


@bp.post("/assets")
@roles(*WRITERS)
@spec.validate(json=AssetCreate, resp=Response(HTTP_201=AssetRead, **ERRORS), tags=["assets"], skip_validation=True)
def assets_create():
    """Register an asset; its level's controls are instantiated."""
    data = json_body(AssetCreate)
    db = get_session()
    asset = services.create_asset(db, data, actor(), require_user())
    db.commit()
    return _read(asset), 201


class CoverageRow(BaseModel):
    department: str
    assets: int
    required: int
    applicable: int
    implemented: int
    partial: int
    percent: float | None


class CoverageList(BaseModel):
    items: list[CoverageRow]


@bp.get("/assets/coverage")
@roles(*ALL_ROLES)
@spec.validate(resp=Response(HTTP_200=CoverageList, **ERRORS), tags=["controls"], skip_validation=True)
def assets_coverage():
    """Control coverage per department in scope, each including its sub-departments."""
    rows = controls.coverage_tree(get_session(), require_user())
    items = [
        CoverageRow(
            department=r.department, assets=r.assets, required=r.total.required, applicable=r.total.applicable,
            implemented=r.total.implemented, partial=r.total.partial, percent=r.total.percent,
        ).model_dump()
        for r in rows
    ]  # fmt: skip
    return {"items": items}


@bp.get("/assets/<int:asset_id>")
@roles(*ALL_ROLES)
@spec.validate(resp=Response(HTTP_200=AssetRead, **ERRORS), tags=["assets"], skip_validation=True)
def assets_get(asset_id: int):
    """One asset."""
    return _read(_asset(asset_id))


@bp.patch("/assets/<int:asset_id>")
@roles(*WRITERS)
@spec.validate(json=AssetUpdate, resp=Response(HTTP_200=AssetRead, **ERRORS), tags=["assets"], skip_validation=True)
def assets_update(asset_id: int):
    """Edit an asset (send the version you read); a new level regrades it."""
    asset = _asset(asset_id)
    data = json_body(AssetUpdate)
    db = get_session()
    services.update_asset(db, asset, data, actor(), require_user())
    db.commit()
    return _read(asset)


@bp.delete("/assets/<int:asset_id>")
@roles(*WRITERS)
@spec.validate(resp=Response("HTTP_204", **ERRORS), tags=["assets"], skip_validation=True)
def assets_delete(asset_id: int):
    """Remove an asset record (retiring it through `lifecycle` keeps its history instead)."""
    asset = _asset(asset_id)
    db = get_session()
    services.delete_asset(db, asset, actor())
    db.commit()
    return "", 204


@bp.get("/assets/<int:asset_id>/controls")
@roles(*ALL_ROLES)
@spec.validate(resp=Response(HTTP_200=ControlList, **ERRORS), tags=["controls"], skip_validation=True)
def controls_list(asset_id: int):
    """The controls the asset's level requires, with their status."""
    asset = _asset(asset_id)
    rows = controls.asset_controls(get_session(), asset)
    lang = current_language()
    items = [dump(controls.control_read(row, control, lang)) for row, control in rows]
    return {"items": items, "total": len(items)}


@bp.get("/assets/<int:asset_id>/controls/<control_id>")
@roles(*ALL_ROLES)
@spec.validate(resp=Response(HTTP_200=AssetControlRead, **ERRORS), tags=["controls"], skip_validation=True)
def controls_get(asset_id: int, control_id: str):
    """One control of an asset."""
    asset = _asset(asset_id)
    db = get_session()
    row = controls.get_asset_control(db, asset, control_id)
    return dump(controls.control_read(row, controls.control_by_id(db, control_id), current_language()))


@bp.patch("/assets/<int:asset_id>/controls/<control_id>")
@roles(*WRITERS)
@spec.validate(
    json=AssetControlUpdate, resp=Response(HTTP_200=AssetControlRead, **ERRORS), tags=["controls"], skip_validation=True
)
def controls_update(asset_id: int, control_id: str):
    """Record a control's status and evidence (send the version you read)."""
    asset = _asset(asset_id)
    data = json_body(AssetControlUpdate)
    db = get_session()
    row = controls.update_control(db, asset, control_id, data, actor())
    db.commit()
    return dump(controls.control_read(row, controls.control_by_id(db, control_id), current_language()))
