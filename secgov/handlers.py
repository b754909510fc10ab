"""Errors turned into clear answers, HTML pages or JSON, never tracebacks. A refused operation is
rolled back and the sign-in failures it names counted before the answer is made; its refusal is
recorded once the answer has been sent (`secgov.web.settle`)."""

from __future__ import annotations

import logging

from flask import Flask, flash, render_template, request
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


def error_page(status: int, message: str):
    return render_template("errors/error.html", status=status, message=message), status


def service_error(exc: ServiceError):
    """The answer to a refused operation, after its rollback (its refusal is recorded after the
    answer)."""
    settle(exc)
    if is_api_request():
        details = [{"field": exc.field, "message": exc.message}] if exc.field else None
        return api_error(exc.status, exc.code, exc.message, details)
    return error_page(exc.status, exc.message)


def register(app: Flask) -> None:
    """Install the handlers that turn errors into clear answers, never tracebacks."""
    app.register_error_handler(ServiceError, service_error)

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        if is_api_request():
            return api_error(422, "invalid", _("The input is not valid."), validation_details(exc))
        return error_page(422, describe_validation(exc))

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        message = _("The form has expired or was not sent from this site. Reload the page and try again.")
        if is_api_request():
            return api_error(400, "csrf", message)
        flash(message, "danger")
        return error_page(400, message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
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
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if is_api_request():
            return api_error(500, "internal_error", http_message(500))
        return error_page(500, http_message(500))
