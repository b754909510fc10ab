"""API basics: the OpenAPI document and the caller's own identity."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from secgov.authz import authenticated, public
from secgov.directory import UserRead, user_read
from secgov.rest import operation, spec
from secgov.web import require_user

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/openapi.json")
@public
def openapi():
    """The OpenAPI 3 document, generated from the endpoints' schemas."""
    doc = current_app.extensions.get("secgov_openapi")
    if doc is None:
        spec.app = current_app._get_current_object()
        # Generated once per process: a second generation loses the nested models (spectree
        # moves their $defs out of its model table the first time), leaving dangling $refs.
        doc = spec.spec
        current_app.extensions["secgov_openapi"] = doc
    return jsonify(doc)


@bp.get("/me")
@authenticated
@operation(ok=UserRead, tags=["users"], errors=(401,))
def me():
    """The user the token belongs to."""
    return user_read(require_user())
