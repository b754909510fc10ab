"""Service errors: what a rule refused, in the user's language, with the refusals to audit.

Pure: the frames (`secgov.handlers` for pages and the API, `secgov.commands` for the command
line) turn these into answers; services only raise them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from pydantic import ValidationError


@dataclass(frozen=True)
class Refusal:
    """A refused attempt that the audit log must keep although the refused work is rolled back
    (a wrong password, an out-of-scope id, a decision on one's own request). `actor` is the
    `secgov.authz.Actor` who tried; the frame records it after the rollback.

    `throttle_keys` are the sign-in throttle's counters this failure adds to
    (`secgov.throttle.LoginThrottle.failures`): the request frame counts them after the rollback,
    before it answers, so that the count outlives the refused work."""

    actor: Any
    action: str
    object_type: str = ""
    object_id: Any = ""
    detail: dict[str, Any] = field(default_factory=dict)
    throttle_keys: tuple[str, ...] = ()


class ServiceError(Exception):
    """A rule refused the operation; `message` is already in the user's language."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, refusal: Refusal | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.refusal = refusal


class Invalid(ServiceError):
    status = 422
    code = "invalid"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Throttled(ServiceError):
    status = 429
    code = "too_many_attempts"


class TooLarge(ServiceError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class BadValue(Invalid, ValueError):
    """Raised inside a pydantic validator: reported as a value error with this message."""


def check_version(record, version: int) -> None:
    """Optimistic concurrency: the writer must have read the record's current version."""
    if version != record.version:
        raise Conflict(_("This record was changed by someone else. Reload it and try again."))


def not_found() -> NotFound:
    return NotFound(_("Not found."))


def _messages() -> dict[str, str]:
    return {
        "missing": _("This field is required."),
        "extra_forbidden": _("Unknown field."),
        "string_too_short": _("Too short."),
        "string_too_long": _("Too long."),
        "string_type": _("Must be text."),
        "int_type": _("Must be a whole number."),
        "int_parsing": _("Must be a whole number."),
        "int_from_float": _("Must be a whole number."),
        "bool_type": _("Must be true or false."),
        "bool_parsing": _("Must be true or false."),
        "list_type": _("Must be a list."),
        "dict_type": _("Must be an object."),
        "model_type": _("Must be an object."),
        "model_attributes_type": _("Must be an object."),
        "literal_error": _("Not one of the allowed values."),
        "enum": _("Not one of the allowed values."),
        "greater_than_equal": _("Too small."),
        "less_than_equal": _("Too large."),
        "greater_than": _("Too small."),
        "less_than": _("Too large."),
        "string_pattern_mismatch": _("Not in the expected format."),
        "too_long": _("Too many items."),
        "too_short": _("Too few items."),
        "date_parsing": _("Not a valid date (YYYY-MM-DD)."),
        "date_from_datetime_parsing": _("Not a valid date (YYYY-MM-DD)."),
        "datetime_parsing": _("Not a valid date and time."),
        "datetime_from_date_parsing": _("Not a valid date and time."),
        "json_invalid": _("The body is not valid JSON."),
        "value_error": _("Invalid value."),
    }


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """Each pydantic error as {field, message} in the user's language."""
    messages = _messages()
    details = []
    for err in exc.errors(include_url=False):
        field_name = ".".join(str(part) for part in err.get("loc", ()) if part != "__root__")
        message = messages.get(err["type"], _("Invalid value."))
        ctx = err.get("ctx") or {}
        if err["type"] == "value_error" and isinstance(ctx.get("error"), ServiceError):
            message = ctx["error"].message
        details.append({"field": field_name, "message": message})
    return details


def describe_validation(exc: ValidationError) -> str:
    """One line naming each wrong field."""
    return "; ".join(f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in validation_details(exc))


def field_errors(exc: ServiceError) -> dict[str, str]:
    """A service error as a form's errors by field ("_" for the form as a whole)."""
    return {exc.field or "_": exc.message}
