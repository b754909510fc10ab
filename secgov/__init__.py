"""SecGov: the cybersecurity governance and risk register of a smart city."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request, session
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from secgov.config import INSTANCE, LANGUAGES, ROOT, default_database_url, from_environment, load_secret_key

csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()


def select_locale() -> str:
    """The user's pick, else their stored preference, else the browser's, else the default."""
    from flask import current_app, has_request_context

    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    lang = session.get("lang") if not request.path.startswith("/api/") else None
    if lang in LANGUAGES:
        return lang
    user = g.get("secgov_user")
    if user is not None and user.language in LANGUAGES:
        return user.language
    return request.accept_languages.best_match(LANGUAGES) or current_app.config["BABEL_DEFAULT_LOCALE"]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application. No tables, migrations, scheduler or network are touched here."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        instance_path=str(INSTANCE),
    )
    app.config.update(from_environment())
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(INSTANCE)
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = default_database_url(INSTANCE)
    if app.config["SECGOV_TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["SECGOV_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    from secgov import db, errors, throttle, web

    db.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    app.extensions["secgov_throttle"] = throttle.build(app.config)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    errors.register(app)
    web.register(app)

    import assessments.views
    import assets.api
    import assets.exchange_api
    import assets.io_views
    import assets.vendor_api
    import assets.vendor_views
    import assets.views
    import drills.views
    from secgov import api
    from secgov.views import account, admin, audit_log, auth_views, main

    for blueprint in (
        main.bp,
        auth_views.bp,
        account.bp,
        admin.bp,
        audit_log.bp,
        assets.views.bp,
        assets.vendor_views.bp,
        assets.io_views.bp,
        assessments.views.bp,
        drills.views.bp,
        *api.blueprints,
        assets.api.bp,
        assets.exchange_api.bp,
        assets.vendor_api.bp,
    ):
        app.register_blueprint(blueprint)
    for blueprint in (*api.blueprints, assets.api.bp, assets.exchange_api.bp, assets.vendor_api.bp):
        # The API authenticates with bearer tokens only, never cookies: no CSRF to forge.
        csrf.exempt(blueprint)
    return app


@login_manager.user_loader
def _load_user(user_id: str):
    from secgov.auth import load_session_user
    from secgov.db import get_session

    return load_session_user(get_session(), user_id)
