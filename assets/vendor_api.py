"""Vendors, engagements, exemptions and vendor-origin compliance over the API; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint, request
from pydantic import BaseModel
from spectree import Response

from assets import services, vendors
from assets.models import Asset
from assets.services import WRITERS
from assets.vendors import (
    APPROVERS,
    ComplianceRead,
    EngagementCreate,
    EngagementRead,
    EngagementUpdate,
    ExemptionCreate,
    ExemptionDecision,
    ExemptionQuery,
    ExemptionRead,
    VendorCreate,
    VendorQuery,
    VendorRead,
    VendorUpdate,
)
from secgov.api.base import ErrorResponse, PageQuery, dump, json_body, page_of, query_args, spec
from secgov.authz import ALL_ROLES, require_user, roles
from secgov.db import get_session
from secgov.web import actor

bp = Blueprint("vendors_api", __name__, url_prefix="/api/v1")

ERRORS = {f"HTTP_{code}": ErrorResponse for code in (400, 401, 403, 404, 409, 413, 415, 422)}


class VendorPage(BaseModel):
    items: list[VendorRead]
    total: int
    page: int
    page_size: int


class EngagementPage(BaseModel):
    items: list[EngagementRead]
    total: int
    page: int
    page_size: int


class ExemptionPage(BaseModel):
    items: list[ExemptionRead]
    total: int
    page: int
    page_size: int


def _asset(asset_id: int) -> Asset:
    return services.get_asset(get_session(), asset_id, require_user())


def _engagement_read(asset: Asset, engagement_id: int) -> dict:
    reads, _findings = vendors.asset_engagements(get_session(), asset)
    return dump(next(read for read in reads if read.id == engagement_id))


# --- vendors ---------------------------------------------------------------------------------


@bp.get("/vendors")
@roles(*ALL_ROLES)
@spec.validate(query=VendorQuery, resp=Response(HTTP_200=VendorPage, **ERRORS), tags=["vendors"], skip_validation=True)
def vendors_list():
    """Vendors (city-wide), sorted by name; filter by part of the name and by origin."""
    query = query_args(VendorQuery)
    rows, total = vendors.list_vendors(get_session(), query)
    return page_of([dump(vendors.vendor_read(v)) for v in rows], total, query.page, query.page_size)


@bp.post("/vendors")
@roles(*WRITERS)
@spec.validate(json=VendorCreate, resp=Response(HTTP_201=VendorRead, **ERRORS), tags=["vendors"], skip_validation=True)
def vendors_create():
    """Register a vendor."""
    data = json_body(VendorCreate)
    db = get_session()
    vendor = vendors.create_vendor(db, data, actor())
    db.commit()
    return dump(vendors.vendor_read(vendor)), 201


@bp.get("/vendors/<int:vendor_id>")
@roles(*ALL_ROLES)
@spec.validate(resp=Response(HTTP_200=VendorRead, **ERRORS), tags=["vendors"], skip_validation=True)
def vendors_get(vendor_id: int):
    """One vendor."""
    return dump(vendors.vendor_read(vendors.get_vendor(get_session(), vendor_id)))


@bp.patch("/vendors/<int:vendor_id>")
@roles(*WRITERS)
@spec.validate(json=VendorUpdate, resp=Response(HTTP_200=VendorRead, **ERRORS), tags=["vendors"], skip_validation=True)
def vendors_update(vendor_id: int):
    """Edit a vendor (send the version you read)."""
    db = get_session()
    vendor = vendors.get_vendor(db, vendor_id)
    data = json_body(VendorUpdate)
    vendors.update_vendor(db, vendor, data, actor())
    db.commit()
    return dump(vendors.vendor_read(vendor))


@bp.delete("/vendors/<int:vendor_id>")
@roles(*WRITERS)
@spec.validate(resp=Response("HTTP_204", **ERRORS), tags=["vendors"], skip_validation=True)
def vendors_delete(vendor_id: int):
    """Remove a vendor without engagements (409 while it has any)."""
    db = get_session()
    vendors.delete_vendor(db, vendors.get_vendor(db, vendor_id), actor())
    db.commit()
    return "", 204


# --- engagements -----------------------------------------------------------------------------


@bp.get("/assets/<int:asset_id>/vendors")
@roles(*ALL_ROLES)
@spec.validate(
    query=PageQuery, resp=Response(HTTP_200=EngagementPage, **ERRORS), tags=["engagements"], skip_validation=True
)
def engagements_list(asset_id: int):
    """The asset's vendor engagements (ongoing first), each with the vendor-origin policy's outcome today."""
    args = query_args(PageQuery)
    reads, _findings = vendors.asset_engagements(get_session(), _asset(asset_id))
    start = (args.page - 1) * args.page_size
    items = [dump(read) for read in reads[start : start + args.page_size]]
    return page_of(items, len(reads), args.page, args.page_size)


@bp.post("/assets/<int:asset_id>/vendors")
@roles(*WRITERS)
@spec.validate(
    json=EngagementCreate, resp=Response(HTTP_201=EngagementRead, **ERRORS), tags=["engagements"], skip_validation=True
)
def engagements_create(asset_id: int):
    """Record a vendor's role on the asset."""
    asset = _asset(asset_id)
    data = json_body(EngagementCreate)
    db = get_session()
    engagement = vendors.add_engagement(db, asset, data, actor())
    db.commit()
    return _engagement_read(asset, engagement.id), 201


@bp.patch("/assets/<int:asset_id>/vendors/<int:engagement_id>")
@roles(*WRITERS)
@spec.validate(
    json=EngagementUpdate, resp=Response(HTTP_200=EngagementRead, **ERRORS), tags=["engagements"], skip_validation=True
)
def engagements_update(asset_id: int, engagement_id: int):
    """End an engagement (`ended_on`) or edit its note."""
    db = get_session()
    asset, engagement = vendors.get_engagement(db, asset_id, engagement_id, require_user())
    data = json_body(EngagementUpdate)
    vendors.update_engagement(db, asset, engagement, data, actor())
    db.commit()
    return _engagement_read(asset, engagement.id)


@bp.delete("/assets/<int:asset_id>/vendors/<int:engagement_id>")
@roles(*WRITERS)
@spec.validate(resp=Response("HTTP_204", **ERRORS), tags=["engagements"], skip_validation=True)
def engagements_delete(asset_id: int, engagement_id: int):
    """Delete an engagement recorded by mistake, with its exemptions (end it instead to keep the history)."""
    db = get_session()
    asset, engagement = vendors.get_engagement(db, asset_id, engagement_id, require_user())
    vendors.remove_engagement(db, asset, engagement, actor())
    db.commit()
    return "", 204


# --- compliance and exemptions ---------------------------------------------------------------


@bp.get("/compliance/vendor-origin")
@roles(*ALL_ROLES)
@spec.validate(resp=Response(HTTP_200=ComplianceRead, **ERRORS), tags=["compliance"], skip_validation=True)
def compliance():
    """Violations, warnings, exempted engagements, pending and expiring exemptions, counts per department and sector."""
    return dump(vendors.compliance(get_session(), require_user()))


@bp.get("/vendor-exemptions")
@roles(*ALL_ROLES)
@spec.validate(
    query=ExemptionQuery, resp=Response(HTTP_200=ExemptionPage, **ERRORS), tags=["compliance"], skip_validation=True
)
def exemptions_list():
    """Exemptions on assets in the caller's scope, newest request first; filter by status."""
    query = query_args(ExemptionQuery)
    rows, total = vendors.list_exemptions(get_session(), require_user(), query)
    return page_of([dump(r) for r in rows], total, query.page, query.page_size)


@bp.post("/vendor-exemptions")
@roles(*WRITERS)
@spec.validate(
    json=ExemptionCreate, resp=Response(HTTP_201=ExemptionRead, **ERRORS), tags=["compliance"], skip_validation=True
)
def exemptions_create():
    """Request an exemption for an engagement the policy warns about; a leader decides."""
    data = json_body(ExemptionCreate)
    db = get_session()
    exemption = vendors.request_exemption(db, data, actor(), require_user())
    db.commit()
    return dump(vendors.read_exemption(db, exemption)), 201


def _decide(exemption_id: int, approve: bool):
    db = get_session()
    exemption = vendors.get_exemption(db, exemption_id, require_user())
    # An approval needs no note: an empty body will do.
    data = json_body(ExemptionDecision) if request.get_data(cache=True) else ExemptionDecision()
    vendors.decide_exemption(db, exemption, approve, data, actor())
    db.commit()
    return dump(vendors.read_exemption(db, exemption))


@bp.post("/vendor-exemptions/<int:exemption_id>/approve")
@roles(*APPROVERS)
@spec.validate(
    json=ExemptionDecision, resp=Response(HTTP_200=ExemptionRead, **ERRORS), tags=["compliance"], skip_validation=True
)
def exemptions_approve(exemption_id: int):
    """Approve a pending request (not your own); it clears the warning until it expires."""
    return _decide(exemption_id, approve=True)


@bp.post("/vendor-exemptions/<int:exemption_id>/reject")
@roles(*APPROVERS)
@spec.validate(
    json=ExemptionDecision, resp=Response(HTTP_200=ExemptionRead, **ERRORS), tags=["compliance"], skip_validation=True
)
def exemptions_reject(exemption_id: int):
    """Reject a pending request (not your own), saying why in `note`."""
    return _decide(exemption_id, approve=False)
