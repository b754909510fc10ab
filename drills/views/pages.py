"""Pages of drills (built by issue 14)."""

from flask import Blueprint

bp = Blueprint("drills", __name__, url_prefix="/drills")
