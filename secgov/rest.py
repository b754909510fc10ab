"""The API frame: the OpenAPI spec object, body and query parsing, pages of results, and
`operation`, which declares an endpoint (with the standard error answers) and runs it the way
every endpoint runs: read the query and the body, call the view, commit once, dump the result.

Validation is ours, not spectree's (`skip_validation=True`): `json_body` and `query_args`
validate with the same schemas the declaration names, so that every error has the SPEC's format
and the user's language. Errors propagate to `secgov.handlers`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, TypeVar

from flask import abort, current_app, jsonify, request
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, create_model
from spectree import Response, SecurityScheme, SpecTree
from spectree.models import SecureType, SecuritySchemeData

from secgov.db import WRITE_METHODS
from secgov.errors import ServiceError, TooLarge, UnsupportedMediaType
from secgov.web import get_session

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
    # The views' `query` and `body` parameters are filled by `operation`, not by spectree.
    annotations=False,
)

# The error answers every operation may give (404 where a path names an object, 409 for versions).
ERRORS = (400, 401, 403, 404, 409, 413, 415, 422)


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


@cache
def page_model(item: type[BaseModel]) -> type[BaseModel]:
    """The page of a list endpoint: {"items": [item, ...], "total", "page", "page_size"}."""
    return create_model(
        item.__name__.removesuffix("Read") + "Page",
        __module__=item.__module__,
        items=(list[item], ...),
        total=(int, ...),
        page=(int, ...),
        page_size=(int, ...),
    )


def page(items: Sequence[BaseModel], total: int, query: BaseModel) -> dict[str, Any]:
    """One page of a list, dumped, with its paging fields taken from the query."""
    return {"items": [dump(item) for item in items], "total": total, "page": query.page, "page_size": query.page_size}


def dump(model: BaseModel) -> dict:
    return model.model_dump(mode="json")


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


def operation(
    *,
    tags: Sequence[str],
    ok: type[BaseModel] | None = None,
    status: int = 200,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    body_optional: bool = False,
    form: type[BaseModel] | None = None,
    answer: str | None = None,
    errors: Sequence[int] = ERRORS,
    answers: Mapping[int, type[BaseModel]] | None = None,
) -> Callable:
    """Declare an API operation for the OpenAPI document and run it in the API frame.

    The view receives `query=` (the query string read with `query`) and `body=` (the JSON body
    read with `body`; with `body_optional`, an empty body gives the schema's defaults), returns a
    model (dumped), a dict (a page), a Flask response, or None (204). Write methods commit once
    after the view returns. `ok` documents the answer's model; `answer` describes an answer that
    is not JSON (a file); `answers` documents other answers the view may give (202 and its model,
    when the work goes to the background); the standard error answers are documented for every
    operation."""
    documented: dict[str, Any] = {f"HTTP_{code}": ErrorResponse for code in errors}
    documented.update({f"HTTP_{code}": model for code, model in (answers or {}).items()})
    if status == 204:
        response = Response("HTTP_204", **documented)
    elif answer is not None:
        response = Response(**{f"HTTP_{status}": (None, answer)}, **documented)
    else:
        response = Response(**{f"HTTP_{status}": ok}, **documented)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def frame(**kwargs):
            if query is not None:
                kwargs["query"] = query_args(query)
            if body is not None:
                kwargs["body"] = body() if body_optional and not request.get_data(cache=True) else json_body(body)
            result = view(**kwargs)
            if request.method in WRITE_METHODS:
                get_session().commit()
            if result is None:
                return "", 204
            if isinstance(result, BaseModel):
                return jsonify(dump(result)), status
            if isinstance(result, dict | list):
                return jsonify(result), status
            return result

        return spec.validate(query=query, json=body, form=form, resp=response, tags=list(tags), skip_validation=True)(
            frame
        )

    return decorate
