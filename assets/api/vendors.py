"""Vendors and their engagements on assets over the API; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint

from assets import policy, services, vendors
from assets.models import Asset
from assets.schemas import (
    EngagementCreate,
    EngagementRead,
    EngagementUpdate,
    VendorCreate,
    VendorQuery,
    VendorRead,
    VendorUpdate,
)
from assets.services import WRITERS
from secgov.authz import ALL_ROLES, roles
from secgov.errors import not_found
from secgov.rest import PageQuery, operation, page, page_model
from secgov.web import actor, get_session, service_config

bp = Blueprint("vendors_api", __name__, url_prefix="/api/v1")


def _asset(asset_id: int) -> Asset:
    return services.get_asset(get_session(), asset_id, actor())


def _engagement_read(asset: Asset, engagement_id: int) -> EngagementRead:
    reads, _findings = policy.asset_engagements(get_session(), asset, service_config())
    found = next((read for read in reads if read.id == engagement_id), None)
    if found is None:
        raise not_found()
    return found


# --- vendors ---------------------------------------------------------------------------------


@bp.get("/vendors")
@roles(*ALL_ROLES)
@operation(query=VendorQuery, ok=page_model(VendorRead), tags=["vendors"])
def vendors_list(query: VendorQuery):
    """Vendors (city-wide), sorted by name; filter by part of the name and by origin."""
    rows, total = vendors.list_vendors(get_session(), query)
    return page(rows, total, query)


@bp.post("/vendors")
@roles(*WRITERS)
@operation(body=VendorCreate, ok=VendorRead, status=201, tags=["vendors"])
def vendors_create(body: VendorCreate):
    """Register a vendor; it belongs to your department unless you name another in your scope."""
    db = get_session()
    return vendors.read_vendor(db, vendors.create_vendor(db, body, actor()))


@bp.get("/vendors/<int:vendor_id>")
@roles(*ALL_ROLES)
@operation(ok=VendorRead, tags=["vendors"])
def vendors_get(vendor_id: int):
    """One vendor."""
    db = get_session()
    return vendors.read_vendor(db, vendors.get_vendor(db, vendor_id))


@bp.patch("/vendors/<int:vendor_id>")
@roles(*WRITERS)
@operation(body=VendorUpdate, ok=VendorRead, tags=["vendors"])
def vendors_update(vendor_id: int, body: VendorUpdate):
    """Edit a vendor (send the version you read): its department's subtree and the city only (403 otherwise)."""
    db = get_session()
    vendor = vendors.update_vendor(db, vendors.get_vendor(db, vendor_id), body, actor(), service_config())
    return vendors.read_vendor(db, vendor)


@bp.delete("/vendors/<int:vendor_id>")
@roles(*WRITERS)
@operation(status=204, tags=["vendors"])
def vendors_delete(vendor_id: int):
    """Remove a vendor without engagements (409 while it has any): its department's subtree and the city only."""
    db = get_session()
    vendors.delete_vendor(db, vendors.get_vendor(db, vendor_id), actor())


# --- engagements -----------------------------------------------------------------------------


@bp.get("/assets/<int:asset_id>/vendors")
@roles(*ALL_ROLES)
@operation(query=PageQuery, ok=page_model(EngagementRead), tags=["engagements"])
def engagements_list(asset_id: int, query: PageQuery):
    """The asset's vendor engagements (ongoing first), each with the vendor-origin policy's outcome today."""
    reads, _findings = policy.asset_engagements(get_session(), _asset(asset_id), service_config())
    start = (query.page - 1) * query.page_size
    return page(reads[start : start + query.page_size], len(reads), query)


@bp.post("/assets/<int:asset_id>/vendors")
@roles(*WRITERS)
@operation(body=EngagementCreate, ok=EngagementRead, status=201, tags=["engagements"])
def engagements_create(asset_id: int, body: EngagementCreate):
    """Record a vendor's role on the asset."""
    asset = _asset(asset_id)
    engagement = vendors.add_engagement(get_session(), asset, body, actor())
    return _engagement_read(asset, engagement.id)


@bp.patch("/assets/<int:asset_id>/vendors/<int:engagement_id>")
@roles(*WRITERS)
@operation(body=EngagementUpdate, ok=EngagementRead, tags=["engagements"])
def engagements_update(asset_id: int, engagement_id: int, body: EngagementUpdate):
    """End an engagement (`ended_on`) or edit its note."""
    db = get_session()
    asset, engagement = vendors.get_engagement(db, asset_id, engagement_id, actor())
    vendors.update_engagement(db, asset, engagement, body, actor())
    return _engagement_read(asset, engagement.id)


@bp.delete("/assets/<int:asset_id>/vendors/<int:engagement_id>")
@roles(*WRITERS)
@operation(status=204, tags=["engagements"])
def engagements_delete(asset_id: int, engagement_id: int):
    """Delete an engagement recorded by mistake, with its exemptions (end it instead to keep the history)."""
    db = get_session()
    asset, engagement = vendors.get_engagement(db, asset_id, engagement_id, actor())
    vendors.remove_engagement(db, asset, engagement, actor())
