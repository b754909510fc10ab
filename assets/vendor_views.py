"""Web pages for vendors, their engagements on assets, the vendor-origin compliance view."""

from flask import Blueprint

bp = Blueprint("vendors", __name__)
