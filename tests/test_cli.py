"""The command line: users and the first admin, API tokens, the demo city, the database schema."""

from __future__ import annotations

import json

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from audit_support import run_cli, run_cli_process
from sqlmodel import func, select

from secgov import audit, auth
from secgov.db import alembic_config
from secgov.demo import DEPARTMENTS, HEADS, OFFICERS, USERS
from secgov.models import ApiToken, AuditEntry, Department, User

NEW_PASSWORD = "a sufficiently long passphrase"


def _fresh(session):
    """End the session's read transaction, so that it sees what the CLI committed."""
    session.rollback()
    return session


def _count(session, model) -> int:
    _fresh(session)
    return session.exec(select(func.count()).select_from(model)).one()


def _user(session, username: str) -> User | None:
    _fresh(session)
    return auth.find_user(session, username)


def _create(database_url, *args: str, password: str = NEW_PASSWORD):
    return run_cli(database_url, "user", "create", *args, "--password-stdin", input=password + "\n")


# --- user create ---------------------------------------------------------------------------


def test_user_create_with_roles_department_and_password_from_stdin(database_url, session, make_department):
    make_department("city")
    make_department("water", parent="city")
    result = _create(database_url, "carol", "--role", "admin", "--role", "auditor", "--department", "water")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "created user carol (admin, auditor) in water\n"

    user = _user(session, "carol")
    assert user is not None
    assert user.roles == {"admin", "auditor"}
    assert user.department.code == "water"
    assert not user.disabled
    assert auth.hasher.verify(user.password_hash, NEW_PASSWORD)
    assert NEW_PASSWORD not in result.output

    entry = _fresh(session).exec(select(AuditEntry).where(AuditEntry.action == "user.created")).one()
    assert (entry.actor, entry.channel, entry.object_id) == ("system", "cli", "carol")
    assert json.loads(entry.detail)["after"]["roles"] == ["admin", "auditor"]
    assert audit.verify(_fresh(session)).ok


def test_user_create_makes_the_root_department_when_there_is_none(database_url, app, session):
    assert _count(session, Department) == 0
    result = _create(database_url, "first-admin", "--role", "admin")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "created user first-admin (admin) in city\n"

    departments = _fresh(session).exec(select(Department)).all()
    assert len(departments) == 1
    root = departments[0]
    assert root.code == "city"
    assert root.parent_id is None
    assert root.kind == "city"
    user = _user(session, "first-admin")
    assert user.department_id == root.id
    assert user.roles == {"admin"}
    actions = [e.action for e in _fresh(session).exec(select(AuditEntry).order_by(AuditEntry.seq)).all()]
    assert actions == ["department.created", "user.created"]

    # A second user lands in the existing city; no second root appears.
    assert _create(database_url, "second", "--role", "officer").exit_code == 0
    assert _count(session, Department) == 1
    assert _user(session, "second").department_id == root.id


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (("weak", "--role", "officer"), "short", "The password must have at least 12 characters."),
        (("samename-long", "--role", "officer"), "samename-long", "The password must not be the user name."),
        (("wizard", "--role", "wizard"), NEW_PASSWORD, "roles.0: Not one of the allowed values."),
        (("lost", "--role", "officer", "--department", "atlantis"), NEW_PASSWORD, "Unknown department: atlantis"),
        (("x", "--role", "officer"), NEW_PASSWORD, "username: Too short."),
        (("bad name", "--role", "officer"), NEW_PASSWORD, "username: Not in the expected format."),
    ],
    ids=["weak-password", "password-is-username", "unknown-role", "unknown-department", "short-name", "bad-name"],
)
def test_user_create_refusals(database_url, session, make_department, args, password, message):
    make_department("city")
    users_before = _count(session, User)
    entries_before = _count(session, AuditEntry)
    result = _create(database_url, *args, password=password)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"
    assert "Traceback" not in result.output
    assert _count(session, User) == users_before
    assert _count(session, AuditEntry) == entries_before


def test_user_create_refusal_leaves_an_empty_database_empty(database_url, app, session):
    result = _create(database_url, "first-admin", "--role", "admin", password="short")
    assert result.exit_code == 2
    assert "at least 12 characters" in result.stderr
    # The root department made for this user went with the refused transaction.
    assert _count(session, Department) == 0
    assert _count(session, AuditEntry) == 0


def test_user_create_refuses_a_taken_name(database_url, make_user, session):
    make_user("dora")
    result = _create(database_url, "DORA", "--role", "officer")
    assert result.exit_code == 2
    assert result.stderr == "error: The user name DORA is already taken.\n"
    assert _count(session, User) == 1


def test_user_create_requires_a_role(database_url, app):
    result = _create(database_url, "norole")
    assert result.exit_code != 0
    assert "--role" in result.stderr


# --- token create --------------------------------------------------------------------------


def test_token_create_prints_only_the_token_which_works(database_url, make_user, client, session):
    make_user("tokyo", roles=("officer",))
    # A real process: nothing but the token may reach its standard output.
    result = run_cli_process(database_url, "token", "create", "tokyo", "--label", "ci")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert result.stdout == lines[0] + "\n"
    token = lines[0]
    assert token.startswith(auth.TOKEN_PREFIX)
    assert token.strip() == token

    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json()["username"] == "tokyo"

    stored = _fresh(session).exec(select(ApiToken)).one()
    assert stored.name == "ci"
    assert token not in stored.token_hash  # only its hash is kept
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "token.created")).one()
    assert entry.channel == "cli"
    assert token not in entry.detail


def test_token_create_in_process_output(database_url, make_user):
    make_user("tess")
    result = run_cli(database_url, "token", "create", "tess")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert len(result.stdout.splitlines()) == 1
    assert result.stdout.startswith(auth.TOKEN_PREFIX)


def test_token_create_refuses_unknown_and_disabled_users(database_url, make_user, session):
    user = make_user("gone")
    user.disabled = True
    session.add(user)
    session.commit()
    for name in ("nobody", "gone"):
        result = run_cli(database_url, "token", "create", name)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == f"error: no active user named {name}\n"
    assert _count(session, ApiToken) == 0


# --- demo and database ------------------------------------------------------------------------


def _demo_passwords(stdout: str) -> dict[str, str]:
    lines = stdout.splitlines()
    assert lines[0].startswith("Demo logins")
    passwords = {}
    for line in lines[1:]:
        if not line.startswith("  "):
            continue  # the line about the demo's first snapshot
        username, password, _roles, _dept = line.split()
        passwords[username] = password
    return passwords


def test_demo_is_idempotent_and_prints_logins(database_url, app, session):
    first = run_cli(database_url, "demo")
    assert first.exit_code == 0, first.stderr
    first_passwords = _demo_passwords(first.stdout)
    assert set(first_passwords) == {u[0] for u in USERS}
    assert "daily snapshot and first compliance report are queued" in first.stdout
    counts = (_count(session, Department), _count(session, User))
    assert counts == (
        len(DEPARTMENTS),
        len(USERS) + len(HEADS) + len(OFFICERS),
    )  # heads, bureaus' officers: no password printed

    second = run_cli(database_url, "demo")
    assert second.exit_code == 0, second.stderr
    second_passwords = _demo_passwords(second.stdout)
    assert (_count(session, Department), _count(session, User)) == counts
    assert set(second_passwords) == set(first_passwords)

    # Every run gives fresh passwords; the printed ones are the ones that work.
    for username, password in second_passwords.items():
        assert password != first_passwords[username]
        user = _user(session, username)
        assert auth.hasher.verify(user.password_hash, password)
        assert not user.disabled
    assert _user(session, "admin").roles == {"admin"}
    assert audit.verify(_fresh(session)).ok


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_db_upgrade_and_check(database_url, app):
    result = run_cli(database_url, "db", "upgrade")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"database already at revision {_head()}: nothing to migrate\n"
    result = run_cli(database_url, "db", "check")
    assert result.exit_code == 0, result.stderr


def test_db_upgrade_creates_a_new_database(tmp_path):
    """It says what it did: created, migrated from one revision to another, or nothing to do."""
    url = f"sqlite:///{tmp_path / 'fresh' / 'secgov.sqlite3'}"
    result = run_cli(url, "db", "upgrade")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"database created (revision {_head()})\n"
    older = f"sqlite:///{tmp_path / 'older.sqlite3'}"
    command.upgrade(alembic_config(older), "0003")
    migrated = run_cli(older, "db", "upgrade")
    assert migrated.stdout == f"database migrated from revision 0003 to {_head()}\n"
    created = run_cli(url, "user", "create", "first-admin", "--role", "admin", "--password-stdin", input=NEW_PASSWORD)
    assert created.exit_code == 0, created.stderr
    assert run_cli(url, "audit", "verify").exit_code == 0


def test_policy_check_prints_the_findings_of_the_actors_scope(
    database_url, city, make_asset, make_vendor, engage, client, api_token
):
    """`policy check` is the compliance page's service on the command line: the whole city by
    default, what --as USERNAME sees with it, the API's JSON with --json, and an exit status a
    cron job can act on."""
    vendor = make_vendor("Overseas Systems Ltd", "foreign", "US")
    for code, dept in (("A-1", "a"), ("B-1", "b")):
        engage(make_asset(code, dept, "transport", classified=True), vendor, "builder")
    result = run_cli(database_url, "policy", "check")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines if line.startswith("violation")] == [
        ["violation", "A-1"],
        ["violation", "B-1"],
    ]
    assert lines[-1].startswith("2 violations, 0 warnings, 0 exempted")
    mine = run_cli(database_url, "policy", "check", "--as", "officer.a", "--fail-on-violations")
    assert mine.exit_code == 3
    assert "B-1" not in mine.stdout and mine.stdout.splitlines()[-1].startswith("1 violation, 0 warnings")
    as_json = json.loads(run_cli(database_url, "policy", "check", "--as", "officer.a", "--json").stdout)
    headers = {"Authorization": f"Bearer {api_token(city['officer_a'])}"}
    api = client.get("/api/v1/compliance/vendor-origin", headers=headers).json
    assert [f["asset_code"] for f in as_json["violations"]] == [f["asset_code"] for f in api["violations"]] == ["A-1"]
    before = run_cli(database_url, "policy", "check", "--on", "2019-12-31", "--fail-on-violations")
    assert before.exit_code == 0 and "0 violations" in before.stdout  # the engagements began in 2020


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--on", "31/12/2026"], "error: --on must be a day as YYYY-MM-DD, not '31/12/2026'"),
        (["--as", "nobody"], "error: no active user named nobody"),
    ],
)
def test_policy_check_refuses_bad_input(database_url, city, args, message):
    result = run_cli(database_url, "policy", "check", *args)
    assert result.exit_code == 2 and result.stderr.strip() == message
