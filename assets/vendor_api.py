"""Vendors, engagements, exemptions and vendor-origin compliance over the API."""

from flask import Blueprint

bp = Blueprint("vendors_api", __name__, url_prefix="/api/v1")
