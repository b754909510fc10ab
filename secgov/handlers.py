"""Errors turned into clear answers, HTML pages or JSON, never tracebacks. A refused operation is
rolled back and the sign-in failures it names counted before the answer is made; its refusal is
recorded once the answer has been sent (`secgov.web.settle`).

An error may leave the request's database session unusable (a flush the database refused, a
connection lost), and the answer reads the database again (the user's language, the menu): every
handler rolls the session back first (`discard_work`), the language choice cannot fail
(`secgov.web.select_locale`), and when the error page itself cannot be made, a plain page (or
plain JSON) is the answer, both errors logged.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from html import escape

from flask import Flask, Response, flash, g, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from secgov.errors import ServiceError, describe_validation, validation_details
from secgov.web import api_error, is_api_request, settle

log = logging.getLogger("secgov")

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

# The last resort, when not even a message could be translated: both languages, no template.
_PLAIN_MESSAGE = "请求未能完成，错误已记录。 The request could not be completed; the error has been logged."


def http_message(status: int) -> str:
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


def discard_work() -> None:
    """Roll the request's session back, so that the answer can read the database again. A session
    that cannot even roll back (the connection lost) is closed and dropped: `get_session` makes a
    new one if the answer needs it."""
    db = g.get("db_session")
    if db is None:
        return
    try:
        db.rollback()
    except Exception:
        log.exception("the request's session could not be rolled back; dropping it")
        g.pop("db_session", None)
        try:
            db.close()
        except Exception:
            log.exception("the request's session could not be closed")


def plain_answer(status: int, message: str = _PLAIN_MESSAGE) -> Response:
    """An answer made without templates or the database: the SPEC's JSON on the API, a minimal
    page elsewhere."""
    if is_api_request():
        body = json.dumps({"error": {"code": _HTTP_CODES.get(status, "error"), "message": message}})
        return Response(body, status=status, mimetype="application/json")
    page = (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{status}</title></head>'
        f"<body><h1>{status}</h1><p>{escape(message)}</p></body></html>\n"
    )
    return Response(page, status=status, mimetype="text/html")


def error_page(status: int, message: str):
    """The app's error page; a plain one when the page itself cannot be rendered."""
    try:
        return render_template("errors/error.html", status=status, message=message), status
    except Exception:
        log.exception("the error page (%s) could not be rendered; answering a plain page", status)
        discard_work()
        return plain_answer(status, message)


def _status_of(exc: BaseException) -> int:
    if isinstance(exc, ServiceError):
        return exc.status
    if isinstance(exc, HTTPException):
        return exc.code or 500
    if isinstance(exc, ValidationError):
        return 422
    if isinstance(exc, CSRFError):
        return 400
    return 500


def _guarded(handler: Callable) -> Callable:
    """A handler that always answers: if making its answer fails, the failure is logged and a
    plain answer with the same status is given (never a traceback, never the server's own page)."""

    @functools.wraps(handler)
    def answer(exc: BaseException):
        try:
            return handler(exc)
        except Exception:
            log.exception("answering %s on %s %s failed", type(exc).__name__, request.method, request.path)
            discard_work()
            return plain_answer(_status_of(exc))

    return answer


def service_error(exc: ServiceError):
    """The answer to a refused operation, after its rollback (its refusal is recorded after the
    answer)."""
    try:
        settle(exc)
    except Exception:
        # The refusal is still the answer; that its record is missing must be seen in the log.
        log.exception("the refusal of %s %s could not be settled (%r)", request.method, request.path, exc.refusal)
        discard_work()
    if is_api_request():
        details = [{"field": exc.field, "message": exc.message}] if exc.field else None
        return api_error(exc.status, exc.code, exc.message, details)
    return error_page(exc.status, exc.message)


def register(app: Flask) -> None:
    """Install the handlers that turn errors into clear answers, never tracebacks."""
    app.register_error_handler(ServiceError, _guarded(service_error))

    @app.errorhandler(ValidationError)
    @_guarded
    def _validation_error(exc: ValidationError):
        discard_work()
        if is_api_request():
            return api_error(422, "invalid", _("The input is not valid."), validation_details(exc))
        return error_page(422, describe_validation(exc))

    @app.errorhandler(CSRFError)
    @_guarded
    def _csrf_error(exc: CSRFError):
        discard_work()
        message = _("The form has expired or was not sent from this site. Reload the page and try again.")
        if is_api_request():
            return api_error(400, "csrf", message)
        flash(message, "danger")
        return error_page(400, message)

    @app.errorhandler(HTTPException)
    @_guarded
    def _http_error(exc: HTTPException):
        discard_work()
        status = exc.code or 500
        message = http_message(status)
        if is_api_request():
            response = api_error(status, _HTTP_CODES.get(status, "error"), message)
        else:
            response = error_page(status, message)
        if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response = app.make_response(response)
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    @_guarded
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        discard_work()
        if is_api_request():
            return api_error(500, "internal_error", http_message(500))
        return error_page(500, http_message(500))
