"""What every API module shares: the OpenAPI spec object, body and query parsing, pages."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort, current_app, jsonify, request
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field
from spectree import SecurityScheme, SpecTree
from spectree.models import SecureType, SecuritySchemeData

from secgov.errors import ServiceError

M = TypeVar("M", bound=BaseModel)

spec = SpecTree(
    "flask",
    mode="strict",
    title="SecGov API",
    version="1",
    # Spectree serves nothing itself (its pages load scripts from a CDN); this path only
    # keeps its route finder from skipping /api/v1, where secgov.api.core serves the document.
    path="_spectree_unused",
    security_schemes=[SecurityScheme(name="bearer", data=SecuritySchemeData(type=SecureType.HTTP, scheme="bearer"))],
    security={"bearer": []},
)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    """Every 4xx answer: {"error": {"code": ..., "message": ...}}."""

    error: ErrorBody


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=50, ge=1, le=200)


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class TooLarge(ServiceError):
    status = 413
    code = "too_large"


def json_body(schema: type[M]) -> M:
    """The request body validated by schema; clear 4xx answers for every kind of bad body."""
    if not request.is_json:
        raise UnsupportedMediaType(_("Send the body as application/json."))
    limit = current_app.config["MAX_JSON_BYTES"]
    # Content-Length first (cheap); then the real size, which a chunked body does not declare.
    if (request.content_length or 0) > limit or len(request.get_data(cache=True)) > limit:
        raise TooLarge(_("The request is too large."))
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested too deeply for the parser: not a body any client sends
        data = None
    if data is None:
        raise ServiceError(_("The body is not valid JSON."))
    if not isinstance(data, dict):
        raise ServiceError(_("The body must be a JSON object."))
    if _has_nul(data):
        # Like NUL bytes in forms (secgov.web): never valid, and PostgreSQL cannot store them.
        abort(400)
    return schema.model_validate(data)


def _has_nul(data: Any) -> bool:
    """Whether any key or string anywhere in parsed JSON holds a NUL byte (no recursion)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return False


def query_args(schema: type[M]) -> M:
    """The query string validated by schema (unknown parameters are refused). A blank value is
    no value, as on the pages: `?is_cii=` means "CII or not", not an error."""
    data: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if key in schema.model_fields:
            values = [v for v in values if v.strip()]
            if not values:
                continue
        data[key] = values if len(values) > 1 else values[0]
    return schema.model_validate(data)


def page_of(items: list, total: int, page: int, page_size: int):
    return jsonify(items=items, total=total, page=page, page_size=page_size)


def dump(model: BaseModel) -> dict:
    return model.model_dump(mode="json")
