"""Web pages of the assets domain. The blueprint is registered now; its pages come with its issue."""

from flask import Blueprint

bp = Blueprint("assets", __name__, url_prefix="/assets")
