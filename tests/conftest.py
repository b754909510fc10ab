"""Shared fixtures: a migrated database (SQLite, or PostgreSQL via SECGOV_TEST_DATABASE_URL),
an app and client per test on an emptied database, factories and sign-in helpers."""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import weakref
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from unittest import mock

import factories
import pyotp
import pytest
from helpers import DATA_KEY, KEPT_TABLES, PASSWORD, ClosingClient
from sqlalchemy import inspect, text
from sqlmodel import Session
from werkzeug.routing import Rule

from secgov import audit, auth, datakeys, domains, rest, web
from secgov.app import create_app
from secgov.authz import Actor
from secgov.checkpoints import CheckpointFiles
from secgov.db import make_engine, upgrade
from secgov.directory import DepartmentCreate, UserCreate, create_department, create_user

_HASH = auth.hash_password(PASSWORD)


def pytest_report_header(config):
    return f"database: {os.environ.get('SECGOV_TEST_DATABASE_URL') or 'SQLite (temporary file)'}"


_AUDIT_MODULE = os.path.normcase(os.path.abspath(audit.__file__))
_TESTS = os.path.normcase(os.path.dirname(os.path.abspath(__file__))) + os.sep


@pytest.fixture(autouse=True)
def audit_actions_are_labelled(monkeypatch):
    """Every action the application records during any test has a label in the audit vocabulary
    (`Registry.audit_vocabulary`): the whole suite is the full run that finds an action recorded
    under a name nobody declared (a new f-string, a new status). Actions that tests record
    themselves, or hand to the application under a name beginning with `test.`, are theirs."""
    declared = domains.registry().audit_vocabulary.actions
    unlabelled: list[str] = []
    record_many = audit.record_many

    def checked(session, actor, events):
        frame = sys._getframe(1)
        while frame is not None and os.path.normcase(os.path.abspath(frame.f_code.co_filename)) == _AUDIT_MODULE:
            frame = frame.f_back
        from_tests = frame is not None and os.path.normcase(os.path.abspath(frame.f_code.co_filename)).startswith(
            _TESTS
        )
        if not from_tests:
            unlabelled.extend(e.action for e in events if e.action not in declared and not e.action.startswith("test."))
        return record_many(session, actor, events)

    monkeypatch.setattr(audit, "record_many", checked)
    yield
    assert not unlabelled, f"audit actions without a label in the audit vocabulary: {sorted(set(unlabelled))}"


@pytest.fixture(autouse=True)
def checkpoint_files(tmp_path, monkeypatch) -> CheckpointFiles:
    """Every test's audit checkpoint key, public key and log in a folder of its own, never in
    instance/: set in the environment, which the apps and the command-line runs read."""
    folder = tmp_path / "checkpoints"
    files = CheckpointFiles(folder / "checkpoint_key", folder / "checkpoint_key.pub", folder / "audit-checkpoints.log")
    monkeypatch.setenv("SECGOV_CHECKPOINT_KEY", str(files.key_path))
    monkeypatch.setenv("SECGOV_CHECKPOINT_PUBLIC_KEY", str(files.public_key_path))
    monkeypatch.setenv("SECGOV_CHECKPOINT_LOG", str(files.log_path))
    return files


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, request) -> str:
    """A freshly migrated database for the whole run."""
    url = os.environ.get("SECGOV_TEST_DATABASE_URL")
    if url:
        engine = make_engine(url, single_use=True)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        # On tmpfs where there is one: synchronous=FULL makes every commit an fsync.
        shm = Path("/dev/shm")  # noqa: S108 - a private mkdtemp folder inside it, removed afterwards
        base = shm if shm.is_dir() else tmp_path_factory.getbasetemp()
        folder = Path(tempfile.mkdtemp(prefix="secgov-test-", dir=base))
        request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
        url = f"sqlite:///{folder / 'test.sqlite3'}"
    upgrade(url, catalogs=domains.registry().catalogs)
    return url


def empty_database(engine) -> None:
    """Delete every row, the append-only audit table included (its triggers are lifted briefly)."""
    if engine.dialect.name == "postgresql":
        _empty_postgresql(engine)
        return
    tables = [t for t in inspect(engine).get_table_names() if t not in KEPT_TABLES]
    with engine.begin() as conn:
        triggers = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_entry'")
        ).all()
        for name, _sql in triggers:
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        conn.execute(text("PRAGMA defer_foreign_keys = ON"))
        for table in tables:
            conn.execute(text(f'DELETE FROM "{table}"'))
        for _name, sql in triggers:
            conn.execute(text(sql))


@functools.cache
def _postgresql_tables(url: str) -> tuple[str, ...]:
    """The tables to empty, referencing tables before the ones they reference: read once per run
    (the suite's schema does not change during it)."""
    engine = make_engine(url, single_use=True)
    try:
        ordered = [t for t, _fks in inspect(engine).get_sorted_table_and_fkc_names() if t is not None]
    finally:
        engine.dispose()
    return tuple(t for t in reversed(ordered) if t not in KEPT_TABLES)


def _empty_postgresql(engine) -> None:
    """What `TRUNCATE <every table> RESTART IDENTITY` leaves, in a fraction of its time: TRUNCATE
    gives every table and index new files (about 60 ms a test for some 25 tables, nearly all of
    them empty), while a DELETE from the few tables the test filled, and setting back the
    sequences it drew from, takes a few milliseconds."""
    tables = _postgresql_tables(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        filled = set(
            conn.execute(
                text(" UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT FROM \"{t}\")" for t in tables))
            ).scalars()
        )
        if "audit_entry" in filled:
            conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
        for table in tables:  # referencing tables first: no foreign key is left pointing nowhere
            if table in filled:
                conn.execute(text(f'DELETE FROM "{table}"'))
        if "audit_entry" in filled:
            conn.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER USER"))
        # Each sequence a test drew from starts again where RESTART IDENTITY would start it.
        conn.execute(
            text(
                "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false)"
                " FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
            )
        )


def _schemas_made_once() -> None:
    """Every test builds an app, and every app declares its API operations to the OpenAPI
    document (`secgov.rest.spec`), which makes the JSON schema of each model again: some 40 ms
    an app, the biggest part of making one. The same model gives the same schema, so the run makes
    each once (spectree copies the answer before it changes anything in it)."""
    adapter = rest.spec.model_adapter
    make = adapter.json_schema
    made: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def json_schema(model, **options):
        of_model = made.setdefault(model, {})
        key = tuple(sorted(options.items()))
        if key not in of_model:
            of_model[key] = make(model, **options)
        return of_model[key]

    adapter.json_schema = json_schema


_schemas_made_once()


def _url_builders_made_once() -> None:
    """Every app binds its ~1,400 URL rules, and werkzeug writes, parses and compiles Python source
    for two URL builders of each (`Rule._compile_builder`): about 100 ms an app, half of making
    one. A builder depends only on the rule's text, its parsed parts, its defaults and whether it
    appends unknown arguments; it reads its converters through the rule it is bound to at call
    time. So the run compiles each builder once and binds the same function to every app's rule."""
    compile_builder = Rule._compile_builder
    made: dict = {}

    def cached(self, append_unknown: bool = True):
        defaults = tuple(sorted((self.defaults or {}).items(), key=repr))
        key = (self.rule, tuple(self._trace), repr(defaults), append_unknown)
        if key not in made:
            made[key] = compile_builder(self, append_unknown)
        return made[key]

    Rule._compile_builder = cached


_url_builders_made_once()


def no_raw_times(value):
    """Every page of every test: a time reaches a page only through the `localtime` filter (which
    names the city's zone), never as Python prints it."""
    if isinstance(value, datetime):
        raise AssertionError(f"a time shown without the localtime filter: {value!r}")
    return value


_ENGINES: dict = {}


def _engine_of_the_run(url: str, echo: bool = False, single_use: bool = False, data_keys=None):
    """The engine of the `app` fixture's apps: one for the run, not one a test. SQLAlchemy keeps
    the SQL it compiled per engine (its dialect is part of the cache key), so a new engine a test
    compiled every statement again, some 30% of a test that writes a few rows. The engine's data
    keys are the ones of the app being made (the same key for every such app)."""
    key = (url, echo, single_use)
    if key not in _ENGINES:
        _ENGINES[key] = make_engine(url, echo=echo, single_use=single_use, data_keys=data_keys)
    engine = _ENGINES[key]
    datakeys.attach(engine, data_keys)
    return engine


@pytest.fixture
def app(database_url):
    """An application on an empty, migrated database, with the run's engine (its connections are
    closed after each test)."""
    with mock.patch.object(web, "make_engine", _engine_of_the_run):
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret-key-not-for-production",
                "SECGOV_DATA_KEYS": DATA_KEY,
                "DATABASE_URL": database_url,
                "SESSION_COOKIE_SECURE": False,
                "REDIS_URL": None,
                "SECGOV_TASKS_IMMEDIATE": True,
                "SECGOV_TASKS_KEY": "test-tasks-key-not-for-production",
            }
        )
    app.test_client_class = ClosingClient
    app.jinja_env.finalize = no_raw_times
    engine = app.extensions["secgov_engine"]
    empty_database(engine)
    yield app
    engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session(app) -> Iterator[Session]:
    """A plain session for arranging and checking; commit what you arrange.

    No application context stays pushed: requests made by the test client must each get
    their own (and so their own `g`), exactly as in production. Wrap service calls that
    need one in `with app.app_context():` or `app.test_request_context()`.
    """
    with Session(app.extensions["secgov_engine"], expire_on_commit=False) as s:
        yield s


SYSTEM = Actor.system("cli")


@pytest.fixture
def make_department(app, session):
    """make_department(code, parent=None, kind=...) -> Department, committed."""

    def make(code: str, parent: str | None = None, kind: str | None = None, name: str | None = None):
        kind = kind or ("city" if parent is None else "bureau")
        with app.test_request_context():
            dept = create_department(
                session, DepartmentCreate(code=code, name=name or code.upper(), kind=kind, parent=parent), SYSTEM
            )
            session.commit()
        return dept

    return make


@pytest.fixture
def make_user(app, session, make_department):
    """make_user(username, roles, department="city", mfa=False) -> User with password PASSWORD."""
    from sqlmodel import select

    from secgov.models import Department

    def make(username: str, roles=("officer",), department: str = "city", mfa: bool = False):
        with app.test_request_context():
            if session.exec(select(Department).where(Department.code == department)).first() is None:
                if session.exec(select(Department).where(Department.parent_id.is_(None))).first() is None:
                    make_department("city")
                if department != "city":
                    make_department(department, parent="city")
            # Every such user has the password PASSWORD, hashed once for the run: Argon2 takes
            # some 20 ms a hash by design, and tests make thousands of users.
            with mock.patch.object(auth, "hash_password", lambda _password: _HASH):
                user = create_user(
                    session,
                    UserCreate(username=username, department=department, roles=list(roles), password=PASSWORD),
                    SYSTEM,
                )
            if mfa:
                user.totp_secret = pyotp.random_base32()
            session.add(user)
            session.commit()
        return user

    return make


@pytest.fixture
def api_token(app, session):
    """api_token(user) -> a bearer token string for user."""

    def make(user) -> str:
        with app.test_request_context():
            _token, plain = auth.create_token(session, user, "test", SYSTEM)
            session.commit()
        return plain

    return make


@pytest.fixture
def city(make_department, make_user):
    """city > a > a1, city > b; an admin and a leader of the city, an officer in a and one in b."""
    make_department("city")
    make_department("a", parent="city")
    make_department("a1", parent="a", kind="unit")
    make_department("b", parent="city")
    return {
        "admin": make_user("root.admin", roles=("admin",), department="city"),
        "officer_a": make_user("officer.a", roles=("officer",), department="a"),
        "officer_b": make_user("officer.b", roles=("officer",), department="b"),
        "leader": make_user("leader", roles=("leader",), department="city"),
    }


@pytest.fixture
def make_asset(app):
    """make_asset(code, department, sector="transport", owner=None, **fields) -> Asset (see factories)."""
    return functools.partial(factories.make_asset, app)


@pytest.fixture
def make_vendor(app):
    """make_vendor(name, origin="foreign", country="US", department=None) -> Vendor, committed (the
    department's code; the city by default)."""
    return functools.partial(factories.make_vendor, app)


@pytest.fixture
def engage(app):
    """engage(asset, vendor, role="builder", started_on=..., ended_on=None) -> Engagement, committed."""
    return functools.partial(factories.engage, app)


@pytest.fixture
def exempt(app):
    """exempt(engagement, status="approved", expires_on=None, requested_by=...) -> VendorExemption."""
    return functools.partial(factories.exempt, app)
