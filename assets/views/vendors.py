"""Web pages for vendors and their engagements on assets."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from assets import policy, services, vendors
from assets.codes import country_choices
from assets.models import Asset
from assets.schemas import EngagementCreate, EngagementUpdate, VendorCreate, VendorQuery, VendorUpdate
from assets.services import WRITERS
from secgov import directory
from secgov.authz import ALL_ROLES, roles
from secgov.pages import Done, Form, act, list_query, safe_next
from secgov.web import actor, can, get_session, service_config

bp = Blueprint("vendors", __name__)

PAGE_SIZE = 50
CREATE = Form(VendorCreate, empty_is_none=("confidentiality_agreement_on", "department"))
UPDATE = Form(VendorUpdate, empty_is_none=("confidentiality_agreement_on", "department"))
ENGAGEMENT = Form(EngagementCreate, empty_is_none=("ended_on",))
ENGAGEMENT_END = Form(EngagementUpdate, empty_is_none=("ended_on",))


def _asset(asset_id: int) -> Asset:
    return services.get_asset(get_session(), asset_id, actor())


def _back_to_asset(asset_id: int) -> str:
    """The page the form was on (the asset's page by default)."""
    return safe_next(request.form.get("next"), url_for("assets.detail", asset_id=asset_id))


# --- vendors ---------------------------------------------------------------------------------


@bp.get("/vendors")
@roles(*ALL_ROLES)
def index():
    """Vendors, searchable by name and origin, one page at a time."""
    query, problems = list_query(VendorQuery, ("q", "origin", "page"), page_size=PAGE_SIZE)
    for problem in problems:
        flash(problem, "warning")
    rows, total = vendors.list_vendors(get_session(), query)
    return render_template("vendors/index.html", vendors=rows, total=total, query=query)


def _form_page(vendor, form, errors) -> str:
    return render_template(
        "vendors/form.html",
        vendor=vendor,
        form=form,
        errors=errors,
        countries=country_choices(),
        departments=directory.departments_in_scope(get_session(), actor()),
    )


def _to_vendor(message):
    return lambda vendor: Done(url_for("vendors.detail", vendor_id=vendor.id), message(vendor))


@bp.route("/vendors/new", methods=["GET", "POST"])
@roles(*WRITERS)
def create():
    """Register a vendor."""
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        return _form_page(None, {}, {})
    return act(
        lambda data: vendors.create_vendor(get_session(), data, actor()),
        form=CREATE,
        done=_to_vendor(lambda vendor: _("Vendor %(name)s was registered.", name=vendor.name)),
        again=lambda errors: _form_page(None, request.form, errors),
    )


@bp.get("/vendors/<int:vendor_id>")
@roles(*ALL_ROLES)
def detail(vendor_id: int):
    """One vendor and its engagements on the assets in the reader's scope."""
    db = get_session()
    vendor = vendors.get_vendor(db, vendor_id)
    engagements = policy.vendor_engagements(db, vendor, actor(), service_config())
    return render_template(
        "vendors/detail.html",
        vendor=vendor,
        engagements=engagements,
        department=vendors.owner(db, vendor),
        may_change=can("vendors.edit") and vendors.may_change(db, vendor, actor()),
    )


@bp.route("/vendors/<int:vendor_id>/edit", methods=["GET", "POST"])
@roles(*WRITERS)
def edit(vendor_id: int):
    """Edit a vendor."""
    db = get_session()
    vendor = vendors.get_vendor(db, vendor_id)
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        if not vendors.may_change(db, vendor, actor()):
            flash(_("This vendor belongs to another department: you can read it, not change it."), "warning")
            return redirect(url_for("vendors.detail", vendor_id=vendor.id))
        form = {k: "" if v is None else v for k, v in vendors.read_vendor(db, vendor).model_dump().items()}
        return _form_page(vendor, form, {})
    return act(
        lambda data: vendors.update_vendor(get_session(), vendor, data, actor(), service_config()),
        form=UPDATE,
        done=_to_vendor(lambda saved: _("Vendor %(name)s was saved.", name=saved.name)),
        again=lambda errors: _form_page(vendor, request.form, errors),
    )


@bp.post("/vendors/<int:vendor_id>/delete")
@roles(*WRITERS)
def delete(vendor_id: int):
    """Remove a vendor that has no engagements."""
    vendor = vendors.get_vendor(get_session(), vendor_id)
    name = vendor.name
    return act(
        lambda: vendors.delete_vendor(get_session(), vendor, actor()),
        done=lambda _none: Done(url_for("vendors.index"), _("Vendor %(name)s was deleted.", name=name)),
        back=url_for("vendors.detail", vendor_id=vendor_id),
    )


# --- engagements on an asset -----------------------------------------------------------------


@bp.post("/assets/<int:asset_id>/engagements")
@roles(*WRITERS)
def engagement_create(asset_id: int):
    """Record a vendor's role on an asset (the form is on the asset's page)."""
    asset = _asset(asset_id)

    def again(errors) -> str:
        return render_template(
            "vendors/engagement_form.html",
            asset=asset,
            vendors=vendors.all_vendors(get_session()),
            form=request.form,
            errors=errors,
        )

    return act(
        lambda data: vendors.add_engagement(get_session(), asset, data, actor()),
        form=ENGAGEMENT,
        done=lambda _e: Done(_back_to_asset(asset.id), _("The engagement was recorded.")),
        again=again,
    )


@bp.post("/assets/<int:asset_id>/engagements/<int:engagement_id>/end")
@roles(*WRITERS)
def engagement_end(asset_id: int, engagement_id: int):
    """End an ongoing engagement today (or on the date given)."""
    asset, engagement = vendors.get_engagement(get_session(), asset_id, engagement_id, actor())
    return act(
        lambda data: vendors.end_engagement(get_session(), asset, engagement, actor(), data.ended_on),
        form=ENGAGEMENT_END,
        done=lambda _e: Done(_back_to_asset(asset.id), _("The engagement was ended.")),
        back=_back_to_asset(asset.id),
    )


@bp.post("/assets/<int:asset_id>/engagements/<int:engagement_id>/delete")
@roles(*WRITERS)
def engagement_delete(asset_id: int, engagement_id: int):
    """Delete an engagement recorded by mistake."""
    asset, engagement = vendors.get_engagement(get_session(), asset_id, engagement_id, actor())
    return act(
        lambda: vendors.remove_engagement(get_session(), asset, engagement, actor()),
        done=lambda _none: Done(_back_to_asset(asset.id), _("The engagement was deleted.")),
    )
