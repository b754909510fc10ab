"""API basics: the OpenAPI document and the caller's own identity."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from spectree import Response

from secgov.api.base import ErrorResponse, dump, spec
from secgov.authz import authenticated, public, require_user
from secgov.directory import UserRead, user_read

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
@spec.validate(resp=Response(HTTP_200=UserRead, HTTP_401=ErrorResponse), tags=["users"], skip_validation=True)
def me():
    """The user the token belongs to."""
    return dump(user_read(require_user()))
