"""Import and export of the asset and vendor registers (CSV, XLSX)."""

from flask import Blueprint

bp = Blueprint("assets_io", __name__, url_prefix="/registers")
