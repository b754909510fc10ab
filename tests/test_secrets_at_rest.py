"""Secrets at rest: the SQLite database, its WAL and the instance folder private to the service
account; TOTP secrets encrypted with data keys kept outside the database, refused with the wrong
keys, rotated to a new key; the command line's keys commands."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest
from audit_support import ROOT, run_cli
from cryptography.fernet import Fernet, InvalidToken
from helpers import DATA_KEY, PASSWORD, login
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import Session, select

from secgov import auth, config, datakeys
from secgov.app import create_app
from secgov.authz import Actor
from secgov.datakeys import DataKeyError, DataKeys
from secgov.db import make_engine, write_session
from secgov.directory import DepartmentCreate, UserCreate, create_department, create_user
from secgov.models import AuditEntry, User


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The usual umask (022), under which files are made readable by everyone unless SecGov says
    otherwise: with a stricter one, the checks below would pass whatever SecGov does."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def stored(session: Session, username: str, column: str = "totp_secret") -> str | None:
    """A user's secret as the database holds it (raw SQL, nothing decrypted)."""
    session.rollback()
    return session.execute(
        text(f'SELECT {column} FROM "user" WHERE username = :name'),  # noqa: S608 - the column is ours
        {"name": username},
    ).scalar()


# --- files ---------------------------------------------------------------------------------------


def _secgov(instance: Path, *args: str) -> subprocess.CompletedProcess:
    """python -m secgov ARGS in a process of its own, with everything in `instance` (defaults: no
    DATABASE_URL, SECRET_KEY or SECGOV_DATA_KEYS) and the usual umask."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "SECRET_KEY", "SECGOV_DATA_KEYS", "REDIS_URL", "SECGOV_TEST_DATABASE_URL"}
    }
    env.update({"SECGOV_INSTANCE_PATH": str(instance), "SECGOV_DEFAULT_LANGUAGE": "en"})
    return subprocess.run(
        [sys.executable, "-m", "secgov", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
        umask=0o022,
    )


def _write_a_user(app, username: str, secret: str) -> None:
    with app.test_request_context(), write_session(app.extensions["secgov_engine"]) as s:
        system = Actor.system("cli")
        dept = create_department(s, DepartmentCreate(code="city", name="City", kind="city"), system)
        user = create_user(
            s, UserCreate(username=username, department=dept.code, roles=["officer"], password=PASSWORD), system
        )
        user.totp_secret = secret
        s.add(user)


@pytest.mark.nodb
def test_db_upgrade_and_the_app_keep_every_file_private(tmp_path, open_umask):
    instance = tmp_path / "instance"
    result = _secgov(instance, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert mode(instance) == 0o700
    for name in ("secgov.sqlite3", "secret_key", "data_keys"):
        assert mode(instance / name) == 0o600, name
    assert f"data key created in {instance / 'data_keys'}" in result.stdout

    # The app writes; while its connection is open, SQLite keeps its -wal and -shm files.
    database = instance / "secgov.sqlite3"
    key = (instance / "data_keys").read_text().strip()
    app = create_app(
        {"SECRET_KEY": "x" * 32, "SECGOV_DATA_KEYS": key, "DATABASE_URL": f"sqlite:///{database}", "REDIS_URL": None}
    )
    secret = pyotp.random_base32()
    try:
        _write_a_user(app, "alice", secret)
        wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
        assert wal.exists() and shm.exists()
        for path in (database, wal, shm):
            assert mode(path) == 0o600, path.name
        assert mode(instance) == 0o700
        # The secret it wrote is encrypted with the key db upgrade made.
        with Session(app.extensions["secgov_engine"]) as s:
            raw = stored(s, "alice")
        assert secret not in raw
        assert Fernet(key).decrypt(raw.encode()).decode() == secret
    finally:
        app.extensions["secgov_engine"].dispose()


@pytest.mark.nodb
def test_db_upgrade_never_replaces_a_lost_key_file(tmp_path):
    instance = tmp_path / "instance"
    assert _secgov(instance, "db", "upgrade").returncode == 0
    database = instance / "secgov.sqlite3"
    app = create_app(
        {
            "SECRET_KEY": "x" * 32,
            "SECGOV_DATA_KEYS": (instance / "data_keys").read_text(),
            "DATABASE_URL": f"sqlite:///{database}",
            "REDIS_URL": None,
        }
    )
    try:
        _write_a_user(app, "alice", pyotp.random_base32())
    finally:
        app.extensions["secgov_engine"].dispose()
    (instance / "data_keys").unlink()

    result = _secgov(instance, "db", "upgrade")
    assert result.returncode == 1
    assert f"the data key file {instance / 'data_keys'} is missing" in result.stderr
    assert not (instance / "data_keys").exists()


@pytest.mark.nodb
def test_an_existing_database_and_its_wal_are_made_private(tmp_path, open_umask):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)  # noqa: S103 - a folder others may read, as operators make them
    database = shared / "old.sqlite3"
    # A database an earlier version made: 0644, and so its -wal and -shm, open meanwhile.
    earlier = sqlite3.connect(database)
    try:
        earlier.execute("PRAGMA journal_mode = WAL")
        earlier.execute("CREATE TABLE t (x)")
        earlier.execute("INSERT INTO t VALUES (1)")
        earlier.commit()
        wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
        assert {mode(database), mode(wal), mode(shm)} == {0o644}

        engine = make_engine(f"sqlite:///{database}")
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT x FROM t")).scalar() == 1
            for path in (database, wal, shm):
                assert mode(path) == 0o600, path.name
            # The folder of a DATABASE_URL that existed is the operator's: it keeps its mode.
            assert mode(shared) == 0o755
        finally:
            engine.dispose()
    finally:
        earlier.close()

    # A folder SecGov makes for a database is private.
    fresh = tmp_path / "new" / "db" / "secgov.sqlite3"
    engine = make_engine(f"sqlite:///{fresh}", single_use=True)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()
    assert mode(fresh) == 0o600
    assert mode(fresh.parent) == 0o700
    assert mode(fresh.parent.parent) == 0o700


@pytest.mark.nodb
def test_the_default_instance_folder_is_tightened(tmp_path, monkeypatch, caplog, open_umask):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    default = tmp_path / "instance"
    default.mkdir(mode=0o755)
    os.chmod(default, 0o755)  # noqa: S103 - as the checkout made it before
    monkeypatch.setattr(config, "DEFAULT_INSTANCE", default)
    assert config.load_secret_key(default)
    assert mode(default) == 0o700
    assert mode(default / "secret_key") == 0o600

    # An instance folder the operator named and made keeps its mode, with a warning.
    named = tmp_path / "named"
    named.mkdir(mode=0o755)
    os.chmod(named, 0o755)  # noqa: S103 - a folder the operator made
    with caplog.at_level(logging.WARNING, logger="secgov.config"):
        config.load_secret_key(named)
    assert mode(named) == 0o755
    assert mode(named / "secret_key") == 0o600
    assert f"the instance folder {named} is open to other accounts" in caplog.text


@pytest.mark.nodb
def test_the_key_file_is_made_once_and_never_on_the_way(tmp_path):
    file = tmp_path / "instance" / "data_keys"
    keys = DataKeys(file=file)
    # Neither decrypting nor encrypting makes a key: only `db upgrade` does (ensure).
    with pytest.raises(DataKeyError, match="data key file .* is missing"):
        keys.decrypt(Fernet(DATA_KEY).encrypt(b"ABCDEFGH").decode())
    with pytest.raises(DataKeyError, match="data key file .* is missing"):
        keys.encrypt("ABCDEFGH")
    assert not file.exists()
    assert keys.missing_file() == file
    keys.ensure()
    assert keys.missing_file() is None
    assert mode(file) == 0o600 and mode(file.parent) == 0o700
    token = keys.encrypt("ABCDEFGH")
    # Another worker reads the same key; making it again changes nothing.
    again = DataKeys(file=file)
    again.ensure()
    assert again.decrypt(token) == "ABCDEFGH"
    assert Fernet(file.read_text().strip()).decrypt(token.encode()) == b"ABCDEFGH"


@pytest.mark.nodb
def test_a_configured_key_that_is_not_a_key_is_refused():
    with pytest.raises(DataKeyError, match="SECGOV_DATA_KEYS: key 2 is not a data key"):
        create_app({"SECRET_KEY": "x" * 32, "SECGOV_DATA_KEYS": f"{DATA_KEY},not-a-key", "DATABASE_URL": "sqlite://"})


# --- TOTP secrets encrypted ------------------------------------------------------------------------


def test_stored_totp_secret_is_encrypted_with_the_data_key(app, session, make_user):
    user = make_user("alice", mfa=True)
    raw = stored(session, "alice")
    assert raw != user.totp_secret
    assert user.totp_secret not in raw
    assert Fernet(DATA_KEY).decrypt(raw.encode()).decode() == user.totp_secret
    # The model holds the plain secret: services and sign-in are unchanged.
    assert session.exec(select(User).where(User.username == "alice")).one().totp_secret == user.totp_secret
    assert login(app.test_client(), user).status_code == 302


def test_a_wrong_key_refuses_clearly(app, make_user, database_url):
    make_user("alice", mfa=True)
    other = make_engine(database_url, single_use=True, data_keys=DataKeys(datakeys.generate()))
    try:
        with Session(other) as s, pytest.raises(DataKeyError, match="cannot be decrypted with the data keys of"):
            auth.find_user(s, "alice")
    finally:
        other.dispose()
    wrong = run_cli(database_url, "keys", "check", env={"SECGOV_DATA_KEYS": datakeys.generate()})
    assert wrong.exit_code == 1
    assert "1 unreadable" in wrong.stdout
    assert "cannot be decrypted" in wrong.stderr

    # An engine without keys neither reads nor writes a secret (never a silent plain text).
    bare = make_engine(database_url, single_use=True)
    try:
        with Session(bare) as s:
            with pytest.raises(DataKeyError, match="no data keys"):
                auth.find_user(s, "alice")
        with Session(bare) as s:
            s.execute(text("UPDATE \"user\" SET totp_secret = NULL WHERE username = 'alice'"))
            user = auth.find_user(s, "alice")
            user.totp_secret = pyotp.random_base32()
            with pytest.raises(StatementError, match="no data keys"):
                s.flush()
    finally:
        bare.dispose()


def test_a_plain_secret_is_refused_until_db_upgrade_encrypts_it(app, session, make_user, database_url):
    make_user("alice")
    plain = pyotp.random_base32()
    session.execute(text("UPDATE \"user\" SET totp_secret = :s WHERE username = 'alice'"), {"s": plain})
    session.commit()
    with Session(app.extensions["secgov_engine"]) as s, pytest.raises(DataKeyError, match="stored in plain text"):
        auth.find_user(s, "alice")


# --- rotation -------------------------------------------------------------------------------------


def test_rotation_moves_every_secret_to_the_new_key(app, session, make_user, database_url):
    alice = make_user("alice", mfa=True)
    alice_secret = alice.totp_secret
    bob = make_user("bob")
    client = app.test_client()
    login(client, bob)
    assert client.get("/account/mfa").status_code == 200  # bob's pending key, on the server
    session.expire_all()  # forget what make_user left in the session
    bob_pending = auth.find_user(session, "bob").totp_pending
    assert bob_pending
    new = datakeys.generate()

    # Dropping the old key before rotating locks the secrets out, and says so.
    early = run_cli(database_url, "keys", "check", env={"SECGOV_DATA_KEYS": new})
    assert early.exit_code == 1
    assert "0 under the first key, 0 under older keys, 0 in plain text, 2 unreadable" in early.stdout

    ring = f"{new},{DATA_KEY}"
    before = run_cli(database_url, "keys", "check", env={"SECGOV_DATA_KEYS": ring})
    assert before.exit_code == 0, before.stderr
    assert "2 stored secrets: 0 under the first key, 2 under older keys" in before.stdout
    assert "run 'keys rotate' before dropping the older keys" in before.stdout

    rotated = run_cli(database_url, "keys", "rotate", env={"SECGOV_DATA_KEYS": ring})
    assert rotated.exit_code == 0, rotated.stderr
    assert "re-encrypted 2 stored secrets with the first key of SECGOV_DATA_KEYS" in rotated.stdout
    for username, column, plain in (("alice", "totp_secret", alice_secret), ("bob", "totp_pending", bob_pending)):
        raw = stored(session, username, column)
        assert Fernet(new).decrypt(raw.encode()).decode() == plain
        with pytest.raises(InvalidToken):
            Fernet(DATA_KEY).decrypt(raw.encode())
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "keys.rotated")).one()
    assert (entry.actor, entry.channel, json.loads(entry.detail)) == ("system", "cli", {"secrets": 2})

    # The old key can go: the new one alone reads everything.
    after = run_cli(database_url, "keys", "check", env={"SECGOV_DATA_KEYS": new})
    assert after.exit_code == 0, after.stderr
    assert "2 stored secrets: 2 under the first key, 0 under older keys" in after.stdout
    only_new = create_app({**app.config, "SECGOV_DATA_KEYS": new})
    try:
        with Session(only_new.extensions["secgov_engine"]) as s:
            alice = auth.find_user(s, "alice")
            assert alice.totp_secret == alice_secret
            assert auth.find_user(s, "bob").totp_pending == bob_pending
        assert login(only_new.test_client(), alice).status_code == 302
    finally:
        only_new.extensions["secgov_engine"].dispose()


def test_rotation_with_a_missing_key_changes_nothing(app, session, make_user, database_url):
    make_user("alice", mfa=True)
    before = stored(session, "alice")
    result = run_cli(database_url, "keys", "rotate", env={"SECGOV_DATA_KEYS": datakeys.generate()})
    assert result.exit_code == 1
    assert "cannot be decrypted" in result.stderr and "nothing was changed" in result.stderr
    assert stored(session, "alice") == before
    session.rollback()
    assert not session.exec(select(AuditEntry).where(AuditEntry.action == "keys.rotated")).all()


@pytest.mark.nodb
def test_keys_generate_prints_a_key():
    result = run_cli("sqlite://", "keys", "generate")
    assert result.exit_code == 0
    key = result.stdout.strip()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"
    assert key != run_cli("sqlite://", "keys", "generate").stdout.strip()


def test_an_admin_locked_out_by_a_lost_key_is_reset_from_the_command_line(app, make_user, database_url):
    """The data key is gone: the admin's secret cannot be read, so they cannot sign in. The
    command line removes the secret without reading it, audited; the admin enrols again."""
    admin = make_user("root.admin", roles=("admin",), mfa=True)
    lost = {"SECGOV_DATA_KEYS": datakeys.generate()}  # the key that would read it is gone
    assert run_cli(database_url, "keys", "check", env=lost).exit_code == 1

    result = run_cli(database_url, "user", "reset-mfa", "ROOT.ADMIN", "--reason", "data key lost", env=lost)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "two-factor authentication of root.admin removed; they enrol again at sign-in\n"
    assert run_cli(database_url, "keys", "check", env=lost).exit_code == 0  # nothing left to read
    missing = run_cli(database_url, "user", "reset-mfa", "nobody", "--reason", "x")
    assert missing.exit_code == 2 and "no user named nobody" in missing.stderr

    with Session(app.extensions["secgov_engine"]) as s:
        user = auth.find_user(s, "root.admin")
        assert user.totp_secret is None and user.session_version == admin.session_version + 1
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "user.mfa_disabled")).one()
        assert (entry.actor, json.loads(entry.detail)) == ("system", {"reason": "data key lost"})
    client = app.test_client()
    assert login(client, admin).headers["Location"] == "/"
    assert client.get("/departments").headers["Location"].endswith("/account/mfa")  # enrol again
