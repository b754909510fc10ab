"""The request frame: the request's database session, who is asking and whether they may, in
which language, the actor and configuration handed to the services, and the security headers.

Only frames (this module, `secgov.pages`, `secgov.rest`, `secgov.handlers`, `secgov.files`),
views and API modules read Flask's request state; services get everything they need as arguments.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import Babel
from flask_babel import gettext as _
from flask_login import LoginManager, login_user, logout_user
from flask_login import current_user as signed_in
from flask_wtf.csrf import CSRFProtect
from markupsafe import Markup
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from werkzeug.exceptions import NotFound
from werkzeug.routing import BuildError, IntegerConverter, ValidationError

from secgov import audit, auth, codes, directory, localtime
from secgov import throttle as throttles
from secgov.authz import AUTHENTICATED, PUBLIC, Actor, allows, declaration, public
from secgov.config import LANGUAGES, ServiceConfig
from secgov.db import WRITE_METHODS, make_engine, new_session, write_session
from secgov.errors import Refusal, ServiceError
from secgov.models import User
from secgov.throttle import LoginThrottle

log = logging.getLogger("secgov")

csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# A year, subdomains included; sent only when the app is served over HTTPS (see _headers).
HSTS = "max-age=31536000; includeSubDomains"


# --- the database session of a request ----------------------------------------------------------


def get_engine(app: Flask | None = None) -> Engine:
    """The application's engine."""
    return (app or current_app).extensions["secgov_engine"]


def get_session() -> Session:
    """The request's session; write requests begin their transactions as writers."""
    if "db_session" not in g:
        write = has_request_context() and request.method in WRITE_METHODS
        g.db_session = new_session(get_engine(), write=write)
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    db = g.pop("db_session", None)
    if db is not None:
        db.close()


@contextmanager
def side_transaction() -> Iterator[Session]:
    """A short write transaction of its own, committed at the end of the block, for a request
    whose own transaction is a read (one snapshot, which SQLite cannot turn into a writer) or is
    done: what the request's session held is dropped first, the SQLite write lock with it."""
    if g.get("db_session") is not None:
        g.db_session.rollback()
    with write_session(get_engine()) as side:
        yield side


def settle(error: ServiceError) -> None:
    """After a refused operation (pages, API): roll back the request's work; count the failures
    the refusal names for the sign-in throttle, in a short transaction of their own before the
    answer; and record the refusal once the answer has been sent (`_record_after_answer`)."""
    get_session().rollback()  # on SQLite this also releases the write lock the count needs
    refusal = error.refusal
    if refusal is None:
        return
    _record_after_answer(refusal)  # first: a count that fails below must not lose the record
    try:
        throttle().count(refusal.throttle_keys)
    except SQLAlchemyError:
        # The refusal stands; a failure the throttle could not count is seen in the log.
        log.exception("sign-in failures %s could not be counted", list(refusal.throttle_keys))


def refuse(actor: Actor, action: str, **detail) -> None:
    """Record a refusal of the frame itself (a missing role, a rejected token): the request's
    work is dropped, and the record written once the answer has been sent."""
    if g.get("db_session") is not None:
        g.db_session.rollback()
    _record_after_answer(Refusal(actor, action, detail=detail))


def _record_after_answer(refusal: Refusal) -> None:
    # Written when the response is closed, after the server has sent it: a refused request (an
    # out-of-scope id above all) then answers as fast as one that found nothing to refuse.
    g.setdefault("secgov_refusals", []).append(refusal)


def _record_refusals(engine: Engine, refusals: Sequence[Refusal]) -> None:
    """Write refusals after the answer. Nobody waits for this any more, so a failure is logged
    with what the refusals were, never lost silently."""
    try:
        audit.record_refusals(engine, refusals)
    except Exception:
        described = "; ".join(
            f"{r.action} by {r.actor.username} ({r.actor.channel}, {r.actor.ip}) on {r.object_type} {r.object_id} {r.detail}"
            for r in refusals
        )
        log.exception("refusals not recorded in the audit log: %s", described)


# --- who is asking --------------------------------------------------------------------------------


def current_user() -> User | None:
    """The signed-in user of this request (web session or API token), if any."""
    return g.get("secgov_user")


def require_user() -> User:
    user = current_user()
    if user is None:  # pragma: no cover - guarded by the access check
        raise RuntimeError("no user in a view that declares roles")
    return user


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, code: str, message: str, details: list | None = None):
    """An API error answer in the SPEC's format: {"error": {"code", "message"[, "details"]}}."""
    body: dict = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    response = jsonify(body)
    response.status_code = status
    return response


def client_ip() -> str:
    return request.remote_addr or ""


def actor() -> Actor:
    """The Actor of the current request: its user (or anonymous), channel and address."""
    user = current_user()
    channel = "api" if is_api_request() else "web"
    if user is None:
        return Actor.anonymous(channel, client_ip())
    return Actor.of(user, channel, client_ip())


def service_config() -> ServiceConfig:
    """The limits and defaults the services obey, from the app's configuration."""
    return ServiceConfig.from_mapping(current_app.config)


def throttle() -> LoginThrottle:
    """The sign-in throttle shared by the app's requests."""
    return current_app.extensions["secgov_throttle"]


def names() -> directory.NameBook:
    """The departments' and users' names for this request's pages, read once when first asked."""
    if "secgov_names" not in g:
        g.secgov_names = directory.name_book(get_session())
    return g.secgov_names


def select_locale() -> str:
    """The user's pick, else their stored preference, else the browser's, else the default.

    Never fails: error pages ask for it too, and the error may have left the request's session
    unusable (a refused flush, a lost connection). A user who cannot be read counts as a user
    with no stored preference."""
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if not has_request_context():
        return default
    try:
        lang = session.get("lang") if not is_api_request() else None
        if lang in LANGUAGES:
            return lang
        stored = _stored_language()
        if stored in LANGUAGES:
            return stored
        return request.accept_languages.best_match(LANGUAGES) or default
    except Exception:
        log.exception("the language of %s could not be chosen; using %s", request.path, default)
        return default


def _stored_language() -> str | None:
    user = g.get("secgov_user")
    if user is None:
        return None
    try:
        return user.language
    except SQLAlchemyError as exc:
        log.warning("the user's language could not be read (%s); using the browser's", type(exc).__name__)
        return None


def can(endpoint: str) -> bool:
    """Whether the signed-in user may use a route, by the route's own declaration (templates ask
    this instead of naming roles)."""
    user = current_user()
    access = declaration(current_app.view_functions.get(endpoint))
    if user is None:
        return access == PUBLIC
    return allows(access, user.roles)


def page_of(target: tuple[str, str] | None, object_id: object) -> str | None:
    """The page of a record, given as (endpoint, name of its id argument), when the signed-in
    user may open it; None when there is none, or it is not theirs to open."""
    if target is None or not can(target[0]):
        return None
    try:
        return url_for(target[0], **{target[1]: object_id})
    except BuildError:
        return None


def localtime_filter(value: datetime | str | None, seconds: bool = False) -> Markup | str:
    """The templates' one way to show a time (`{{ x.created_at|localtime }}`): the local time of
    the city's zone (`SECGOV_TIMEZONE`) with the zone named, in a <time> element carrying the
    moment in UTC."""
    if value is None or value == "":
        return ""
    moment = localtime.instant(value)
    return Markup('<time datetime="{}">{}</time>').format(
        localtime.utc_text(moment),
        localtime.shown(moment, current_app.config["BABEL_DEFAULT_TIMEZONE"], seconds=seconds),
    )


# --- web sessions ---------------------------------------------------------------------------------


def start_session(user: User) -> None:
    """Make user the signed-in user of this browser, with fresh timeouts; the language is the
    user's stored one, else the one this browser picked before signing in."""
    picked = session.get("lang")
    session.clear()
    login_user(user, remember=False)
    session.permanent = True
    now = int(time.time())
    session["auth_at"] = now
    session["seen_at"] = now
    if user.language or picked:
        session["lang"] = user.language or picked


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


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return auth.load_session_user(get_session(), user_id)


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
    if not signed_in.is_authenticated:
        return None
    if _session_expired(app):
        end_session()
        flash(_("Your session has expired. Please sign in again."), "warning")
        return None
    session["seen_at"] = int(time.time())
    return signed_in._get_current_object()


def _must_enrol(user: User) -> bool:
    return not user.mfa_enabled and auth.mfa_required(get_session(), user, service_config())


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


def _refusals_after_answer(response):
    """Have the refusals of the request recorded once the response is closed (after the server
    has sent it); the request's session is closed by then, so the record goes through the
    engine."""
    refusals = g.pop("secgov_refusals", None)
    if not refusals:
        return response
    if response.direct_passthrough:
        # A file answer is handed to the server as it is: its close reaches no callbacks. Record
        # now, the request's transaction (and the SQLite write lock) dropped first.
        if g.get("db_session") is not None:
            g.db_session.rollback()
        _record_refusals(get_engine(), refusals)
    else:
        response.call_on_close(functools.partial(_record_refusals, get_engine(), tuple(refusals)))
    return response


# --- installing the frame -------------------------------------------------------------------------


def init(app: Flask) -> None:
    """Install the engine, the extensions, the access check, the language choice and the headers.

    Called by create_app before any blueprint is registered. No connection is made here."""
    app.extensions["secgov_engine"] = make_engine(
        app.config["DATABASE_URL"],
        echo=app.config.get("SECGOV_SQL_ECHO", False),
        data_keys=app.extensions["secgov_data_keys"],
    )
    app.extensions["secgov_throttle"] = throttles.build(app.config, app.extensions["secgov_engine"])
    # Before the extensions add theirs, so that it runs after every other after-request function:
    # an error in one of them turns the answer into a 500, which still passes through it.
    app.after_request(_refusals_after_answer)
    app.teardown_appcontext(_close_session)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.url_map.converters["int"] = RowIdConverter
    _install_hooks(app)


def _install_hooks(app: Flask) -> None:
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
        try:
            return _check_access(app)
        finally:
            if g.get("db_session") is not None and request.method in WRITE_METHODS:
                # End the writer's transaction that identified the user: the view's work gets one
                # of its own, so that a long view (an import parsing its file) holds no write lock
                # meanwhile. Reads keep theirs (one snapshot for the whole answer).
                g.db_session.commit()

    # Globals, so that imported macros see them too: the code lists, the menu, the access question.
    registry = app.extensions["secgov_registry"]
    app.jinja_env.globals.update(
        codes=registry.codes,
        menu=registry.menu,
        can=can,
        current_language=codes.current_language,
        department_name=lambda key: names().department(key),
        department_label=directory.department_label,
        department_label_of=directory.label_of,
        person_name=lambda username: names().person(username),
        reason_label=codes.reason_label,
    )
    app.jinja_env.filters["localtime"] = localtime_filter

    @app.context_processor
    def _template_globals():
        return {"current_locale": codes.current_language()}

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.is_secure or app.config.get("SESSION_COOKIE_SECURE"):
            # Served over HTTPS: directly, through the trusted proxy (ProxyFix sets the scheme), or
            # behind a proxy that is not declared but which the deployment says is HTTPS (its
            # cookies are Secure). Plain-HTTP development (SECGOV_COOKIE_SECURE=0) gets none.
            headers.setdefault("Strict-Transport-Security", HSTS)
        token_id = g.pop("secgov_token_to_note", None)
        if token_id is not None:
            # The view has committed or failed by now: what is left of its transaction goes.
            try:
                with side_transaction() as side:
                    auth.note_token_use(side, token_id)
            except SQLAlchemyError:
                # Bookkeeping only: the answer stands (it may be the error page of this very fault).
                log.exception("the use of API token %s could not be noted", token_id)
        if request.endpoint != "static":
            # Pages and API answers carry data about the city's systems: never cache them.
            headers["Cache-Control"] = "no-store"
        return response


def _check_access(app: Flask):
    """Identify the user and apply the view's declaration (see `init`)."""
    g.secgov_user = None
    view = app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is None:
        return None  # routing will answer 404 or 405
    access = declaration(view)
    api = is_api_request()
    if api:
        user, sent = _bearer_user()
        if sent and user is None and access != PUBLIC:
            refuse(Actor.anonymous("api", client_ip()), "auth.token_rejected", path=request.path)
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
    refuse(actor(), "authz.denied", endpoint=request.endpoint, method=request.method, path=request.path)
    abort(403)
