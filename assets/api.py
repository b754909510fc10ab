"""Assets and their controls over the API."""

from flask import Blueprint

bp = Blueprint("assets_api", __name__, url_prefix="/api/v1")
