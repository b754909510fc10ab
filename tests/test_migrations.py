"""Migrations: from empty to head and back on a database of their own, `alembic check` is clean,
the audit triggers survive, and upgrading a populated database keeps every row."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from audit_support import EXPECTED_TRIGGERS, audit_trigger_names, run_cli
from cryptography.fernet import Fernet
from factories import load_demo_city
from helpers import DATA_KEY
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from secgov import audit, domains
from secgov.app import create_app
from secgov.db import alembic_config, make_engine, new_session, upgrade
from secgov.demo import DEPARTMENTS, HEADS, OFFICERS, USERS
from secgov.models import AuditEntry


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get("SECGOV_TEST_DATABASE_URL") else ["sqlite"]


@pytest.fixture(params=_backends())
def scratch_url(request, tmp_path):
    """The URL of an empty database of this test's own: a temp file, or a scratch PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    server = make_url(os.environ["SECGOV_TEST_DATABASE_URL"])
    name = f"secgov_scratch_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _head_revision(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _current_revision(conn) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _assert_at_head(url: str) -> None:
    engine = make_engine(url, single_use=True)
    try:
        with engine.connect() as conn:
            assert _current_revision(conn) == _head_revision(url)
            assert set(SQLModel.metadata.tables) <= set(inspect(conn).get_table_names())
            assert audit_trigger_names(conn) == EXPECTED_TRIGGERS[engine.dialect.name]
        # The triggers work, not merely exist.
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit_entry (seq, created_at, actor, channel, ip, action, object_type, object_id,"
                    " detail, prev_hash, hash) VALUES (1, 'now', 'test', 'cli', '', 'test.migrated', '', '', '{}',"
                    " :genesis, :genesis)"
                ),
                {"genesis": audit.GENESIS},
            )
        for statement in ("UPDATE audit_entry SET actor = 'x'", "DELETE FROM audit_entry"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        if engine.dialect.name == "postgresql":
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_entry"))
    finally:
        engine.dispose()


def test_single_head():
    assert len(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()) == 1


def test_upgrade_downgrade_upgrade_from_empty(scratch_url):
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "head")
    _assert_at_head(scratch_url)
    # A fresh database built by the migrations matches the models.
    command.check(cfg)

    command.downgrade(cfg, "base")
    engine = make_engine(scratch_url, single_use=True)
    try:
        with engine.connect() as conn:
            assert _current_revision(conn) is None
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
            if engine.dialect.name == "postgresql":
                functions = conn.execute(
                    text("SELECT count(*) FROM pg_proc WHERE proname = 'audit_entry_append_only'")
                ).scalar()
                assert functions == 0
    finally:
        engine.dispose()

    command.upgrade(cfg, "head")
    _assert_at_head(scratch_url)
    command.check(cfg)


def test_alembic_check_is_clean(database_url):
    command.check(alembic_config(database_url))


def _row_counts(engine) -> dict[str, int]:
    tables = SQLModel.metadata.sorted_tables
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in tables}


ASSESSMENT_TABLES = ("assessment", "assessment_area", "assessment_finding", "risk", "risk_acceptance", "risk_review")
SCAN_TABLES = ("scan_policy", "scan_authorization", "scan", "scan_result", "scan_observation", "scan_finding")
DRILL_TABLES = (
    "drill",
    "drill_asset",
    "drill_department",
    "drill_participant",
    "drill_objective",
    "drill_timeline_entry",
    "drill_comment",
    "corrective_action",
    "drill_request",
)


def test_upgrading_a_populated_database_keeps_every_row(scratch_url):
    """The demo city (systems, controls, vendors, engagements, exemptions, users, audit log) taken
    back to revision 0003 and upgraded again: every row is kept, the references hold (SQLite's
    batch migrations rebuild tables that others reference), the audit chain verifies."""
    upgrade(scratch_url, catalogs=domains.registry().catalogs)
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "x" * 32, "SECGOV_DATA_KEYS": DATA_KEY, "DATABASE_URL": scratch_url}
    )
    engine = app.extensions["secgov_engine"]
    try:
        load_demo_city(app)
        before = _row_counts(engine)
        assert before["department"] == len(DEPARTMENTS)
        assert before["user"] == len(USERS) + len(HEADS) + len(
            OFFICERS
        )  # the heads and the bureaus' officers sign in only once given a password
        assert before["engagement"] > 0 and before["vendor_exemption"] > 0 and before["asset_control"] > 0
        with new_session(engine, write=False) as s:
            head = audit.head(s)
        engine.dispose()  # no connection of ours in the way of the migrations

        command.downgrade(alembic_config(scratch_url), "0003")
        upgrade(scratch_url, catalogs=domains.registry().catalogs)

        after = _row_counts(engine)
        # Going back below 0008 drops the schedules; the upgrade makes the built-in ones again and
        # records that: the only entries added.
        added = after.pop("audit_entry") - before.pop("audit_entry")
        # Going back below 0012 drops the assessments' tables: the demo's assessments and risks go
        # with them (the upgrade makes the tables again, empty).
        for table in ASSESSMENT_TABLES:
            assert before.pop(table) > 0 and after.pop(table) == 0, table
        # Below 0013 the same for the scans' tables (the demo has no schedules or agents).
        for table in SCAN_TABLES:
            assert before.pop(table) > 0 and after.pop(table) == 0, table
        for table in ("scan_schedule", "scan_agent"):
            assert after.pop(table) == 0, table
            before.pop(table)
        # Below 0014 the same for the drills' tables (the demo has no calendar feeds or reminders).
        for table in DRILL_TABLES:
            assert before.pop(table) > 0 and after.pop(table) == 0, table
        for table in ("calendar_feed", "drill_notice"):
            assert after.pop(table) == 0, table
            before.pop(table)
        # Below 0016 the same for the closed appraisal periods (the demo closes the last quarter).
        assert before.pop("appraisal_period") == 1 and after.pop("appraisal_period") == 0
        assert after == before
        with new_session(engine, write=False) as s:
            new_actions = s.execute(select(AuditEntry.action).where(AuditEntry.seq > head[0])).scalars().all()
        assert added == len(new_actions) and set(new_actions) <= {"schedule.created"}
        with new_session(engine, write=False) as s:
            result = audit.verify(s, head)
        assert result.ok, result.reason
        with engine.connect() as conn:
            assert audit_trigger_names(conn) == EXPECTED_TRIGGERS[engine.dialect.name]
            owners = conn.execute(text("SELECT count(*) FROM vendor WHERE department_id IS NULL")).scalar()
            assert owners == 0
    finally:
        engine.dispose()


def test_vendors_get_the_department_that_registered_them(scratch_url):
    """0004: a vendor belongs to the department its newest "vendor.created" entry names; one
    without such an entry, or whose department is gone, belongs to the city."""
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "0003")
    engine = make_engine(scratch_url, single_use=True)
    try:
        with engine.begin() as conn:
            for dept_id, code, parent, path in ((1, "city", None, "/1/"), (2, "a", 1, "/1/2/"), (3, "b", 1, "/1/3/")):
                conn.execute(
                    text(
                        "INSERT INTO department (id, code, name, name_en, kind, parent_id, path, version, created_at)"
                        " VALUES (:id, :code, :code, '', 'bureau', :parent, :path, 1, CURRENT_TIMESTAMP)"
                    ),
                    {"id": dept_id, "code": code, "parent": parent, "path": path},
                )
            for vendor_id in (1, 2, 3, 4):
                conn.execute(
                    text(
                        "INSERT INTO vendor (id, name, origin, country, version, created_at)"
                        " VALUES (:id, :name, 'foreign', 'US', 1, CURRENT_TIMESTAMP)"
                    ),
                    {"id": vendor_id, "name": f"V{vendor_id}"},
                )
            # vendor 1 by bureau a; vendor 2 first by b, then (its id used again) by a; vendor 3
            # by a department removed since; vendor 4: no entry at all.
            for seq, (object_id, dept_id) in enumerate(((1, 2), (2, 3), (2, 2), (3, 99)), start=1):
                conn.execute(
                    text(
                        "INSERT INTO audit_entry (seq, created_at, actor, channel, ip, action, object_type, object_id,"
                        " department_id, detail, prev_hash, hash) VALUES (:seq, 'then', 'x', 'web', '',"
                        " 'vendor.created', 'vendor', :object_id, :dept, '{}', '', '')"
                    ),
                    {"seq": seq, "object_id": str(object_id), "dept": dept_id},
                )
        engine.dispose()
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            owners = dict(conn.execute(text("SELECT id, department_id FROM vendor ORDER BY id")).all())
        assert owners == {1: 2, 2: 2, 3: 1, 4: 1}
    finally:
        engine.dispose()


def test_db_upgrade_encrypts_plain_totp_secrets_once(scratch_url):
    """A database from before encryption: its TOTP secrets in plain text, encrypted by `db upgrade`
    (and only once); the users' roles and tokens kept through the column's change."""
    command.upgrade(alembic_config(scratch_url), "0003")
    plain = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    engine = make_engine(scratch_url, single_use=True)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO department (id, code, name, name_en, kind, path, version, created_at)"
                    " VALUES (1, 'city', 'City', 'City', 'city', '/1/', 1, :now)"
                ),
                {"now": "2026-01-01 00:00:00"},
            )
            for uid, name, secret in ((1, "alice", plain), (2, "bob", None)):
                conn.execute(
                    text(
                        'INSERT INTO "user" (id, username, display_name, email, department_id, password_hash,'
                        " disabled, session_version, totp_secret, version, created_at)"
                        " VALUES (:id, :name, '', '', 1, 'x', false, 1, :secret, 1, :now)"
                    ),
                    {"id": uid, "name": name, "secret": secret, "now": "2026-01-01 00:00:00"},
                )
                conn.execute(text("INSERT INTO user_role (user_id, role) VALUES (:id, 'officer')"), {"id": uid})
            conn.execute(
                text(
                    "INSERT INTO api_token (user_id, name, prefix, token_hash, created_at)"
                    " VALUES (1, 'cli', 'sgv_abcdef', :digest, :now)"
                ),
                {"digest": "0" * 64, "now": "2026-01-01 00:00:00"},
            )

        def secrets() -> dict[str, str | None]:
            with engine.connect() as conn:
                return dict(conn.execute(text('SELECT username, totp_secret FROM "user"')).all())

        result = run_cli(scratch_url, "db", "upgrade")
        assert result.exit_code == 0, result.stderr
        assert "encrypted 1 TOTP secret stored in plain text" in result.stdout
        stored = secrets()
        assert stored["bob"] is None
        assert plain not in stored["alice"]
        assert Fernet(DATA_KEY).decrypt(stored["alice"].encode()).decode() == plain
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM user_role")).scalar() == 2
            assert conn.execute(text("SELECT count(*) FROM api_token")).scalar() == 1
            details = conn.execute(
                text("SELECT detail FROM audit_entry WHERE action = 'keys.plain_secrets_encrypted'")
            ).scalars()
            assert [json.loads(d) for d in details] == [{"secrets": 1}]

        again = run_cli(scratch_url, "db", "upgrade")
        assert again.exit_code == 0, again.stderr
        assert "encrypted" not in again.stdout
        assert secrets() == stored

        # The code before encryption could not read them: going back is refused, nothing lost.
        with pytest.raises(RuntimeError, match="holds 1 encrypted TOTP secrets"):
            command.downgrade(alembic_config(scratch_url), "0003")
        assert secrets() == stored
    finally:
        engine.dispose()
