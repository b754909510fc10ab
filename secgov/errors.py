"""Service errors and their translation into clear 4xx answers (HTML pages or JSON)."""

from __future__ import annotations

import logging

from flask import Flask, flash, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("secgov")


class ServiceError(Exception):
    """A rule refused the operation; `message` is already in the user's language."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ServiceError):
    status = 422
    code = "invalid"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


def check_version(record, version: int) -> None:
    """Optimistic concurrency: the writer must have read the record's current version."""
    if version != record.version:
        raise Conflict(_("This record was changed by someone else. Reload it and try again."))


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Throttled(ServiceError):
    status = 429
    code = "too_many_attempts"


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
        field = ".".join(str(part) for part in err.get("loc", ()) if part != "__root__")
        message = messages.get(err["type"], _("Invalid value."))
        ctx = err.get("ctx") or {}
        if err["type"] == "value_error" and isinstance(ctx.get("error"), ServiceError):
            message = ctx["error"].message
        details.append({"field": field, "message": message})
    return details


def describe_validation(exc: ValidationError) -> str:
    """One line naming each wrong field."""
    return "; ".join(f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in validation_details(exc))


def _http_message(status: int) -> str:
    return {
        400: _("The request could not be understood."),
        401: _("Please sign in."),
        403: _("You are not allowed to do this."),
        404: _("Not found."),
        405: _("This method is not allowed here."),
        409: _("This record was changed by someone else. Reload it and try again."),
        413: _("The request is too large."),
        415: _("Send the body as application/json."),
        422: _("The input is not valid."),
        429: _("Too many attempts. Wait a few minutes and try again."),
        500: _("Something went wrong on our side. The error has been logged."),
    }.get(status, _("The request could not be completed."))


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_attempts",
    500: "internal_error",
}


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, code: str, message: str, details: list | None = None):
    body: dict = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    response = jsonify(body)
    response.status_code = status
    return response


def _page(status: int, message: str):
    return render_template("errors/error.html", status=status, message=message), status


def register(app: Flask) -> None:
    """Install the handlers that turn errors into clear answers, never tracebacks."""

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError):
        if is_api_request():
            details = [{"field": exc.field, "message": exc.message}] if exc.field else None
            return api_error(exc.status, exc.code, exc.message, details)
        return _page(exc.status, exc.message)

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        if is_api_request():
            return api_error(422, "invalid", _("The input is not valid."), validation_details(exc))
        return _page(422, describe_validation(exc))

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        message = _("The form has expired or was not sent from this site. Reload the page and try again.")
        if is_api_request():
            return api_error(400, "csrf", message)
        flash(message, "danger")
        return _page(400, message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = _http_message(status)
        if is_api_request():
            response = api_error(status, _HTTP_CODES.get(status, "error"), message)
        else:
            response = _page(status, message)
        if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response = app.make_response(response)
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if is_api_request():
            return api_error(500, "internal_error", _http_message(500))
        return _page(500, _http_message(500))
