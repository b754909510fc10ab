"""The request frame: who is asking, may they, in which language; security headers."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime

from flask import Flask, abort, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, ValidationError

from secgov import auth
from secgov.audit import Actor
from secgov.authz import AUTHENTICATED, PUBLIC, declaration, public
from secgov.db import get_session
from secgov.errors import api_error, is_api_request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def client_ip() -> str:
    return request.remote_addr or ""


def actor() -> Actor:
    """The Actor for the current request's user."""
    user = g.get("secgov_user")
    channel = "api" if is_api_request() else "web"
    if user is None:
        return Actor(username="anonymous", channel=channel, ip=client_ip())
    return Actor.of(user, channel, client_ip())


def start_session(user) -> None:
    """Make user the signed-in user of this browser, with fresh timeouts."""
    from flask_login import login_user

    session.clear()
    login_user(user, remember=False)
    session.permanent = True
    now = int(time.time())
    session["auth_at"] = now
    session["seen_at"] = now
    if user.language:
        session["lang"] = user.language


def end_session() -> None:
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang


def _session_expired(app: Flask) -> bool:
    now = time.time()
    auth_at = session.get("auth_at", 0)
    seen_at = session.get("seen_at", 0)
    return (
        now - auth_at > app.config["SECGOV_SESSION_ABSOLUTE_MINUTES"] * 60
        or now - seen_at > app.config["SECGOV_SESSION_IDLE_MINUTES"] * 60
    )


def current_language() -> str:
    """The language of this request's answer: "zh" or "en"."""
    from flask_babel import get_locale

    locale = get_locale()
    return locale.language if locale else "zh"


def _bearer_user():
    header = request.headers.get("Authorization", "")
    if not header:
        return None, False
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None, True
    found = auth.token_owner(get_session(), token.strip())
    if found is None:
        return None, True
    user, api_token = found
    if api_token.last_used_at is None or datetime.now(UTC) - api_token.last_used_at > auth.TOKEN_USE_RESOLUTION:
        g.secgov_token_to_note = api_token.id
    return user, True


def _web_user(app: Flask):
    if not current_user.is_authenticated:
        return None
    if _session_expired(app):
        end_session()
        flash(_("Your session has expired. Please sign in again."), "warning")
        return None
    session["seen_at"] = int(time.time())
    return current_user._get_current_object()


def _must_enrol(user) -> bool:
    return not user.mfa_enabled and auth.mfa_required(get_session(), user)


class RowIdConverter(IntegerConverter):
    """<int:...> in routes. A number beyond the databases' INTEGER columns names no row: 404.

    (PostgreSQL refuses such a number in a query: a 500. A ValidationError here would make
    Werkzeug answer 405 where other methods share the path: hence NotFound.)
    """

    def to_python(self, value: str) -> int:
        try:
            number = super().to_python(value)
        except ValidationError:
            raise NotFound() from None
        if number > 2**31 - 1:
            raise NotFound()
        return number


def register(app: Flask) -> None:
    """Install the access check, the language choice and the headers on app."""

    # Before any blueprint's routes are added.
    app.url_map.converters["int"] = RowIdConverter

    static_view = app.view_functions["static"]

    @public
    @functools.wraps(static_view)
    def static(filename):
        return static_view(filename=filename)

    app.view_functions["static"] = static

    @app.before_request
    def _refuse_nul_bytes():
        # No input may carry NUL bytes: nobody types them, and PostgreSQL cannot store them.
        values = [request.path]
        for source in (request.args, request.form):
            for key, items in source.lists():
                values += [key, *items]
        if any("\x00" in value for value in values if value):  # a multipart field may have no name
            abort(400)

    @app.before_request
    def _access_check():
        g.secgov_user = None
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        if view is None:
            return None  # routing will answer 404 or 405
        access = declaration(view)
        api = is_api_request()
        if api:
            user, sent = _bearer_user()
            if sent and user is None and access != PUBLIC:
                auth.audit_denial(
                    Actor(username="anonymous", channel="api", ip=client_ip()), "auth.token_rejected", path=request.path
                )
                return api_error(401, "unauthorized", _("The API token is missing, wrong or revoked."))
        else:
            user = _web_user(app)
        g.secgov_user = user
        if access is None:
            # Deny by default: a route without a declaration is a bug, never an open door.
            app.logger.error("route %s has no access declaration", request.endpoint)
            abort(403)
        if access == PUBLIC:
            return None
        if user is None:
            if api:
                return api_error(401, "unauthorized", _("Send an API token: Authorization: Bearer <token>."))
            return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
        if not api and _must_enrol(user) and not getattr(view, "secgov_mfa_setup", False):
            flash(_("Your role requires two-factor authentication. Set it up to continue."), "warning")
            return redirect(url_for("account.mfa"))
        if access == AUTHENTICATED or user.roles & access:
            return None
        auth.audit_denial(actor(), "authz.denied", endpoint=request.endpoint, method=request.method, path=request.path)
        abort(403)

    @app.context_processor
    def _template_globals():
        from secgov import catalog

        lang = current_language()
        return {
            "current_locale": lang,
            "catalog_label": lambda kind, code: catalog.label(kind, code, lang),
            "catalog_labels": lambda kind: catalog.labels(kind, lang),
        }

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        token_id = g.pop("secgov_token_to_note", None)
        if token_id is not None:
            # The view has committed or failed by now; drop what is left of its transaction
            # (and the SQLite write lock with it) before the small write of its own.
            if g.get("db_session") is not None:
                g.db_session.rollback()
            auth.note_token_use(token_id)
        if request.endpoint != "static":
            # Pages and API answers carry data about the city's systems: never cache them.
            headers["Cache-Control"] = "no-store"
        return response
