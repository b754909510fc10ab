"""The page frame: posted forms read into the same input schemas the API uses, list filters read
from the query string, and `act`, which runs one operation the way every page does.

`act` calls the service, commits once, flashes and redirects; or, when the service refuses, rolls
back (recording the refusal) and re-renders the form with its errors, or flashes the reason and
goes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import flash, redirect, request
from pydantic import BaseModel, ValidationError

from secgov.errors import Forbidden, ServiceError, Throttled, field_errors, validation_details
from secgov.web import get_session, settle

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class Form:
    """How a posted form maps onto an input schema: which fields are lists (repeated inputs),
    checkboxes (present or not), or absent when left blank."""

    schema: type[BaseModel]
    lists: tuple[str, ...] = ()
    checkboxes: tuple[str, ...] = ()
    empty_is_none: tuple[str, ...] = ()

    def parse(self, extra: dict | None = None) -> tuple[Any, dict[str, str]]:
        """The posted form validated by the schema; on failure, the errors by field name."""
        data: dict = {}
        for name in self.schema.model_fields:
            if name in self.lists:
                data[name] = request.form.getlist(name)
            elif name in self.checkboxes:
                data[name] = name in request.form
            elif name in request.form:
                value = request.form[name]
                data[name] = None if (name in self.empty_is_none and not value.strip()) else value
        data.update(extra or {})
        try:
            return self.schema.model_validate(data), {}
        except ValidationError as exc:
            errors: dict[str, str] = {}
            for detail in validation_details(exc):
                errors.setdefault(detail["field"].split(".")[0] or "_", detail["message"])
            return None, errors

    def echo(self) -> dict[str, Any]:
        """What was posted, to show the form again as the user filled it in."""
        form: dict[str, Any] = dict(request.form)
        for name in self.lists:
            form[name] = request.form.getlist(name)
        for name in self.checkboxes:
            form[name] = name in request.form
        return form


@dataclass(frozen=True)
class Done:
    """Where a successful operation leads, and what the user is told (nothing when `message` is
    empty: the page it leads to shows the change)."""

    url: str
    message: str
    category: str = "success"


def act(
    run: Callable[..., T],
    *,
    done: Callable[[T], Done],
    form: Form | None = None,
    again: Callable[[dict[str, str]], str] | None = None,
    back: str | None = None,
):
    """Run one operation of a page: read `form` (when given, `run` receives its data), call `run`,
    commit once, flash `done`'s message and redirect.

    Refused: the work is rolled back and the refusal recorded; then `again(errors)` re-renders the
    form with the errors by field (422: the input cannot be processed as it is; a throttled attempt
    keeps its 429, a forbidden one its 403), or the reason is flashed and the browser sent to `back`. With neither, the
    refusal becomes the error page (404 for an out-of-scope object, ...)."""
    data = None
    if form is not None:
        data, errors = form.parse()
        if data is None:
            return _refused(errors, again, back, 422)
    try:
        result = run(data) if form is not None else run()
    except ServiceError as exc:
        if again is None and back is None:
            raise
        settle(exc)
        return _refused(field_errors(exc), again, back, exc.status if isinstance(exc, Throttled | Forbidden) else 422)
    get_session().commit()
    outcome = done(result)
    if outcome.message:
        flash(outcome.message, outcome.category)
    return redirect(outcome.url)


def _refused(errors: dict[str, str], again, back, status: int):
    if again is not None:
        return again(errors), status
    for message in dict.fromkeys(errors.values()):
        flash(message, "danger")
    return redirect(back or request.path)


# --- query strings and redirects --------------------------------------------------------------


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
