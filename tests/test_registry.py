"""The domain registry: what a domain package declares reaches the app without any change to the
core: its pages and API, menu entries, settings, code lists, catalogs and registers."""

from __future__ import annotations

import click
import pytest
from flask import Blueprint
from helpers import DATA_KEY, login
from sqlmodel import Session

from secgov import auth, domains
from secgov.app import create_app
from secgov.authz import Actor, roles
from secgov.codes import N_, CodeList
from secgov.registry import Domain, MenuItem, Registry
from secgov.settings import Setting


def test_every_domain_package_is_registered_by_its_own_declaration(app):
    registry = domains.registry()
    assert [domain.name for domain in registry.domains] == ["assets", "assessments", "scans", "drills"]
    assert {"assessments", "drills", "assets", "vendors", "policy"} <= set(app.blueprints)
    assert {register.name for register in registry.registers} == {
        "assets",
        "vendors",
        "risks",
        "assessments",
        "scan_findings",
        "scans",
        "drills",
        "corrective_actions",
        "accountability_matrix",  # the core's, from the domains' rows and columns
        "appraisal",  # the core's appraisal: its ranking and its records, from the domains' measures
        "appraisal_records",
    }
    assert "vendor_origin_policy" in {setting.key for setting in registry.settings}
    assert registry.catalogs, "the asset domain syncs the control catalog"
    assert registry.register("assets").object_type == "asset"
    with pytest.raises(KeyError):
        registry.register("no-such-register")


def _fake_domain() -> Domain:
    pages = Blueprint("gardens", __name__, url_prefix="/gardens")
    api = Blueprint("gardens_api", __name__, url_prefix="/api/v1/gardens")

    @pages.get("")
    @roles("officer")
    def index():
        """The gardens."""
        return "gardens"

    @api.post("")
    @roles("officer")
    def create():
        """A garden."""
        return {"ok": True}, 201

    @click.command("gardens")
    def command():
        """Gardens."""

    return Domain(
        name="gardens",
        blueprints=(pages,),
        api_blueprints=(api,),
        commands=(command,),
        settings=(Setting("garden_size", lambda _config: 3, lambda value, _config: value),),
        codes=(CodeList.of("flower", {"rose": N_("Planned")}),),
        menu=(MenuItem("gardens.index", N_("Assets")),),
    )


def test_a_new_domain_needs_nothing_but_its_declaration(database_url, monkeypatch, make_user):
    extended = Registry((*domains.registry().domains, _fake_domain()))
    existing = [command.name for command in domains.registry().commands]
    monkeypatch.setattr(domains, "registry", lambda: extended)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x" * 32,
            "SECGOV_DATA_KEYS": DATA_KEY,
            "DATABASE_URL": database_url,
            "REDIS_URL": None,
        }
    )
    try:
        assert "gardens" in app.blueprints and "gardens_api" in app.blueprints
        assert "garden_size" in {setting.key for setting in extended.settings}
        assert [command.name for command in extended.commands] == [*existing, "gardens"]
        assert app.jinja_env.globals["codes"].flower.label("rose", "en") == "Planned"
        client = app.test_client()
        officer = make_user("olga", roles=("officer",))
        login(client, officer)
        assert client.get("/gardens").get_data(as_text=True) == "gardens"
        assert 'href="/gardens"' in client.get("/").get_data(as_text=True)  # its menu entry
        token = client.get("/api/v1/me").status_code  # the API answers bearer tokens only
        assert token == 401
        # The domain's API is exempt from CSRF like the core's: a bearer token is enough.
        with Session(app.extensions["secgov_engine"]) as s, app.test_request_context():
            _token, plain = auth.create_token(s, s.merge(officer), "t", Actor.system())
            s.commit()
        answer = client.post("/api/v1/gardens", headers={"Authorization": f"Bearer {plain}"})
        assert answer.status_code == 201
    finally:
        app.extensions["secgov_engine"].dispose()


def test_the_accountability_matrix_takes_its_rows_and_columns_from_the_domains():
    registry = domains.registry()
    assert registry.matrix_rows is domains.registry().domains[0].matrix_rows  # the asset domain's
    assert [c.code for c in registry.matrix_columns] == ["owner", "assessment", "scans", "remediation", "drills"]
    export = registry.register("accountability_matrix")
    assert export.importers == () and "drills_state" in export.column_names
    assert {"scans_holder", "scans_state", "scans_due_on"} <= set(export.column_names)
    bare = Registry(domains=(Domain(name="bare"),))
    assert bare.matrix_rows is None and bare.matrix_columns == () and bare.registers == []
