"""Web pages for vendors, their engagements on assets, exemptions and the vendor-origin compliance view."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from assets import services, vendors
from assets.models import Asset
from assets.services import WRITERS
from assets.vendors import (
    APPROVERS,
    EngagementCreate,
    ExemptionCreate,
    ExemptionDecision,
    ExemptionQuery,
    VendorCreate,
    VendorQuery,
    VendorUpdate,
)
from secgov import catalog, settings
from secgov.authz import ALL_ROLES, require_user, roles
from secgov.db import get_session
from secgov.errors import ServiceError
from secgov.forms import error_dict, list_query, parse_form, safe_next
from secgov.web import actor, current_language

bp = Blueprint("vendors", __name__)

PAGE_SIZE = 50


def _asset(asset_id: int) -> Asset:
    return services.get_asset(get_session(), asset_id, require_user())


def _back_to_asset(asset_id: int):
    """Back to the page the form was on (the asset's page by default)."""
    return redirect(safe_next(request.form.get("next"), url_for("assets.detail", asset_id=asset_id)))


# --- vendors ---------------------------------------------------------------------------------


@bp.get("/vendors")
@roles(*ALL_ROLES)
def index():
    """Vendors, searchable by name and origin, one page at a time."""
    query, problems = list_query(VendorQuery, ("q", "origin", "page"), page_size=PAGE_SIZE)
    for problem in problems:
        flash(problem, "warning")
    rows, total = vendors.list_vendors(get_session(), query)
    return render_template(
        "vendors/index.html",
        vendors=rows,
        total=total,
        query=query,
        origins=catalog.VENDOR_ORIGINS,
        countries=dict(vendors.country_names(current_language())),
    )


def _form_page(vendor, form, errors, status=200):
    page = render_template(
        "vendors/form.html",
        vendor=vendor,
        form=form,
        errors=errors,
        origins=catalog.VENDOR_ORIGINS,
        countries=vendors.country_names(current_language()),
    )
    return page, status


@bp.route("/vendors/new", methods=["GET", "POST"])
@roles(*WRITERS)
def create():
    """Register a vendor."""
    if request.method == "GET":
        return _form_page(None, {}, {})
    db = get_session()
    data, errors = parse_form(VendorCreate, empty_is_none=("confidentiality_agreement_on",))
    if data is not None:
        try:
            vendor = vendors.create_vendor(db, data, actor())
            db.commit()
            flash(_("Vendor %(name)s was registered.", name=vendor.name), "success")
            return redirect(url_for("vendors.detail", vendor_id=vendor.id))
        except ServiceError as exc:
            db.rollback()
            errors = error_dict(exc)
    return _form_page(None, request.form, errors, 422)


@bp.get("/vendors/<int:vendor_id>")
@roles(*ALL_ROLES)
def detail(vendor_id: int):
    """One vendor and its engagements on the assets in the reader's scope."""
    db = get_session()
    vendor = vendors.get_vendor(db, vendor_id)
    return render_template(
        "vendors/detail.html",
        vendor=vendor,
        engagements=vendors.vendor_engagements(db, vendor, require_user()),
        countries=dict(vendors.country_names(current_language())),
    )


@bp.route("/vendors/<int:vendor_id>/edit", methods=["GET", "POST"])
@roles(*WRITERS)
def edit(vendor_id: int):
    """Edit a vendor."""
    db = get_session()
    vendor = vendors.get_vendor(db, vendor_id)
    if request.method == "GET":
        form = {k: "" if v is None else v for k, v in vendors.vendor_read(vendor).model_dump().items()}
        return _form_page(vendor, form, {})
    data, errors = parse_form(VendorUpdate, empty_is_none=("confidentiality_agreement_on",))
    if data is not None:
        try:
            vendors.update_vendor(db, vendor, data, actor())
            db.commit()
            flash(_("Vendor %(name)s was saved.", name=vendor.name), "success")
            return redirect(url_for("vendors.detail", vendor_id=vendor.id))
        except ServiceError as exc:
            db.rollback()
            errors = error_dict(exc)
    return _form_page(vendor, request.form, errors, 422)


@bp.post("/vendors/<int:vendor_id>/delete")
@roles(*WRITERS)
def delete(vendor_id: int):
    """Remove a vendor that has no engagements."""
    db = get_session()
    vendor = vendors.get_vendor(db, vendor_id)
    name = vendor.name
    try:
        vendors.delete_vendor(db, vendor, actor())
        db.commit()
    except ServiceError as exc:
        db.rollback()
        flash(exc.message, "danger")
        return redirect(url_for("vendors.detail", vendor_id=vendor_id))
    flash(_("Vendor %(name)s was deleted.", name=name), "success")
    return redirect(url_for("vendors.index"))


# --- engagements on an asset -----------------------------------------------------------------


@bp.post("/assets/<int:asset_id>/engagements")
@roles(*WRITERS)
def engagement_create(asset_id: int):
    """Record a vendor's role on an asset (the form is on the asset's page)."""
    db = get_session()
    asset = _asset(asset_id)
    data, errors = parse_form(EngagementCreate, empty_is_none=("ended_on",))
    if data is not None:
        try:
            vendors.add_engagement(db, asset, data, actor())
            db.commit()
            flash(_("The engagement was recorded."), "success")
            return _back_to_asset(asset.id)
        except ServiceError as exc:
            db.rollback()
            errors = error_dict(exc)
    page = render_template(
        "vendors/engagement_form.html",
        asset=asset,
        vendors=vendors.all_vendors(db),
        form=request.form,
        errors=errors,
    )
    return page, 422


@bp.post("/assets/<int:asset_id>/engagements/<int:engagement_id>/end")
@roles(*WRITERS)
def engagement_end(asset_id: int, engagement_id: int):
    """End an ongoing engagement today (or on the date given)."""
    db = get_session()
    asset, engagement = vendors.get_engagement(db, asset_id, engagement_id, require_user())
    data, errors = parse_form(vendors.EngagementUpdate, empty_is_none=("ended_on",))
    try:
        if data is None:
            raise ServiceError(next(iter(errors.values())))
        vendors.end_engagement(db, asset, engagement, actor(), data.ended_on)
        db.commit()
        flash(_("The engagement was ended."), "success")
    except ServiceError as exc:
        db.rollback()
        flash(exc.message, "danger")
    return _back_to_asset(asset.id)


@bp.post("/assets/<int:asset_id>/engagements/<int:engagement_id>/delete")
@roles(*WRITERS)
def engagement_delete(asset_id: int, engagement_id: int):
    """Delete an engagement recorded by mistake."""
    db = get_session()
    asset, engagement = vendors.get_engagement(db, asset_id, engagement_id, require_user())
    vendors.remove_engagement(db, asset, engagement, actor())
    db.commit()
    flash(_("The engagement was deleted."), "success")
    return _back_to_asset(asset.id)


# --- compliance and exemptions ---------------------------------------------------------------


@bp.get("/compliance/vendor-origin")
@roles(*ALL_ROLES)
def compliance():
    """Violations, warnings, exemptions and counts per department and sector, within scope."""
    db = get_session()
    return render_template(
        "vendors/compliance.html",
        report=vendors.compliance(db, require_user()),
        sectors=catalog.sectors(),
        restrictable_roles=catalog.restricted_roles(),
        origins=catalog.VENDOR_ORIGINS,
    )


@bp.post("/compliance/vendor-origin/policy")
@roles("admin")
def policy():
    """Configure the vendor-origin policy: on or off, which sectors, roles and origins."""
    db = get_session()
    value = {
        "enabled": "enabled" in request.form,
        "critical_sectors": request.form.getlist("critical_sectors"),
        "restricted_roles": request.form.getlist("restricted_roles"),
        "restricted_origins": request.form.getlist("restricted_origins"),
    }
    try:
        settings.set_setting(db, vendors.POLICY_SETTING, value, actor())
        db.commit()
        flash(_("The vendor-origin policy was saved."), "success")
    except ServiceError as exc:
        db.rollback()
        flash(exc.message, "danger")
    return redirect(url_for("vendors.compliance"))


def _exemptions_page(form, errors, status=200):
    db = get_session()
    viewer = require_user()
    query, problems = list_query(ExemptionQuery, ("status", "page"), page_size=PAGE_SIZE)
    for problem in problems:
        flash(problem, "warning")
    rows, total = vendors.list_exemptions(db, viewer, query)
    candidates = vendors.exemption_candidates(db, viewer) if viewer.has_role(*WRITERS) else []
    page = render_template(
        "vendors/exemptions.html",
        exemptions=rows,
        total=total,
        query=query,
        candidates=candidates,
        form=form,
        errors=errors,
    )
    return page, status


@bp.get("/vendor-exemptions")
@roles(*ALL_ROLES)
def exemptions():
    """Exemption requests and decisions in scope; officers request, leaders decide."""
    return _exemptions_page({"engagement_id": request.args.get("engagement", "")}, {})


@bp.post("/vendor-exemptions/new")
@roles(*WRITERS)
def exemption_create():
    """Ask a leader to exempt an engagement the policy warns about."""
    db = get_session()
    data, errors = parse_form(ExemptionCreate)
    if data is not None:
        try:
            vendors.request_exemption(db, data, actor(), require_user())
            db.commit()
            flash(_("The exemption was requested; a leader will decide."), "success")
            return redirect(url_for("vendors.exemptions"))
        except ServiceError as exc:
            db.rollback()
            errors = error_dict(exc)
    return _exemptions_page(request.form, errors, 422)


def _decide(exemption_id: int, approve: bool):
    db = get_session()
    exemption = vendors.get_exemption(db, exemption_id, require_user())
    data, errors = parse_form(ExemptionDecision)
    try:
        if data is None:
            raise ServiceError(next(iter(errors.values())))
        vendors.decide_exemption(db, exemption, approve, data, actor())
        db.commit()
        flash(_("The exemption was approved.") if approve else _("The exemption was rejected."), "success")
    except ServiceError as exc:
        db.rollback()
        flash(exc.message, "danger")
    return redirect(url_for("vendors.exemptions"))


@bp.post("/vendor-exemptions/<int:exemption_id>/approve")
@roles(*APPROVERS)
def exemption_approve(exemption_id: int):
    """Approve a pending exemption (not one's own)."""
    return _decide(exemption_id, approve=True)


@bp.post("/vendor-exemptions/<int:exemption_id>/reject")
@roles(*APPROVERS)
def exemption_reject(exemption_id: int):
    """Reject a pending exemption, saying why."""
    return _decide(exemption_id, approve=False)
