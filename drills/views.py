"""Web pages of the drills domain. The blueprint is registered now; its pages come with its issue."""

from flask import Blueprint

bp = Blueprint("drills", __name__, url_prefix="/drills")
