"""Reading HTML form posts into the same input schemas that the API uses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar
from urllib.parse import urlsplit

from flask import request
from pydantic import BaseModel, ValidationError

from secgov.errors import ServiceError, validation_details

M = TypeVar("M", bound=BaseModel)


def parse_form(
    schema: type[M],
    *,
    lists: tuple[str, ...] = (),
    checkboxes: tuple[str, ...] = (),
    empty_is_none: tuple[str, ...] = (),
    extra: dict | None = None,
) -> tuple[M | None, dict[str, str]]:
    """Validate the posted form with schema; on failure, the errors by field name."""
    data: dict = {}
    for name in schema.model_fields:
        if name in lists:
            data[name] = request.form.getlist(name)
        elif name in checkboxes:
            data[name] = name in request.form
        elif name in request.form:
            value = request.form[name]
            data[name] = None if (name in empty_is_none and not value.strip()) else value
    data.update(extra or {})
    try:
        return schema.model_validate(data), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for detail in validation_details(exc):
            errors.setdefault(detail["field"].split(".")[0] or "_", detail["message"])
        return None, errors


def error_dict(exc: ServiceError) -> dict[str, str]:
    return {exc.field or "_": exc.message}


def safe_next(target: str | None, default: str) -> str:
    """A redirect target on this host only: a path, never a scheme, a host or '//'."""
    if not target or not target.isprintable():  # control characters: header injection, or 500
        return default
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. an unclosed IPv6 host: "//["
        return default
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def filled_args(names: Iterable[str]) -> dict[str, str]:
    """The named query-string arguments that are not blank: an untouched select of a filter
    form sends an empty value, which means "any"."""
    return {name: request.args[name] for name in names if request.args.get(name, "").strip()}


def list_query(schema: type[M], names: Iterable[str], **fixed) -> tuple[M, list[str]]:
    """A list page's filters from the query string, leniently: an unreadable filter is dropped
    (the page still shows) and its problem returned, translated, for a flash message."""
    data = {**filled_args(names), **fixed}
    try:
        return schema.model_validate(data), []
    except ValidationError as exc:
        details = validation_details(exc)
        bad = {d["field"].split(".")[0] for d in details}
        return schema.model_validate({k: v for k, v in data.items() if k not in bad}), [d["message"] for d in details]


def int_arg(name: str, default: int, lo: int = 1, hi: int = 10_000) -> int:
    """A bounded integer query argument; junk falls back to the default."""
    try:
        value = int(request.args.get(name, default))
    except (TypeError, ValueError):
        return default
    return min(max(value, lo), hi)
