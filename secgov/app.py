"""The Flask application: configuration, the request frame, the blueprints of the core and of the
domain registry (the WSGI entry point is `secgov.server`, the command line's is `secgov.cli`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from secgov import api, domains, handlers, mail, views, web
from secgov import config as configuration
from secgov.config import INSTANCE, ROOT, default_database_url, from_environment, load_secret_key
from secgov.datakeys import DataKeys


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application. No tables, migrations, scheduler or network are touched here."""
    app = Flask(
        "secgov",
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
    configuration.check(app.config)
    mail.check(app.config)
    # The keys of the encrypted columns: SECGOV_DATA_KEYS is checked now; the key file (made by
    # `db upgrade`) is read when a secret is first encrypted or decrypted.
    app.extensions["secgov_data_keys"] = DataKeys.configured(app.config.get("SECGOV_DATA_KEYS"), INSTANCE)
    if app.config["SECGOV_TRUSTED_PROXIES"]:
        n = app.config["SECGOV_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    registry = domains.registry()
    app.extensions["secgov_registry"] = registry
    web.init(app)
    handlers.register(app)
    for blueprint in (*views.blueprints(registry), *registry.blueprints):
        app.register_blueprint(blueprint)
    for blueprint in (*api.blueprints(registry), *registry.api_blueprints):
        _check_api_prefix(blueprint)
        app.register_blueprint(blueprint)
        # The API authenticates with bearer tokens only, never cookies: no CSRF to forge.
        web.csrf.exempt(blueprint)
    return app


def _check_api_prefix(blueprint: Blueprint) -> None:
    """API blueprints are exempt from CSRF (bearer tokens only): each must live under /api/, where
    the request frame never accepts a session cookie, or a cookie-authenticated form could post
    to it unprotected."""
    prefix = blueprint.url_prefix or ""
    if not prefix.startswith("/api/"):
        raise RuntimeError(f"API blueprint {blueprint.name!r} must have a url_prefix under /api/, not {prefix!r}")
