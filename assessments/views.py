"""Web pages of the assessments domain. The blueprint is registered now; its pages come with its issue."""

from flask import Blueprint

bp = Blueprint("assessments", __name__, url_prefix="/assessments")
