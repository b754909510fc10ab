"""Helpers of the audit, migration and CLI tests: run the CLI, lift the append-only triggers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from click.testing import CliRunner, Result
from helpers import DATA_KEY
from sqlalchemy import Connection, Engine, text

from secgov import cli as cli_module
from secgov.app import create_app as real_create_app
from secgov.cli import main

ROOT = Path(__file__).resolve().parent.parent
CLI_SECRET_KEY = "cli-test-secret-key-not-for-production"


def cli_env(database_url: str) -> dict[str, str | None]:
    """The environment of a CLI run against the test database (English messages, no Redis)."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": CLI_SECRET_KEY,
        "SECGOV_DATA_KEYS": DATA_KEY,
        "SECGOV_DEFAULT_LANGUAGE": "en",
        "REDIS_URL": None,
        # Background work asked for by a command is done at once, in the command's process.
        "SECGOV_TASKS_IMMEDIATE": "1",
        "SECGOV_TASKS_KEY": "cli-tasks-key-not-for-production",
    }


def run_cli(database_url: str, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """python -m secgov ARGS, in-process; stdout and stderr are kept apart; env adds to or
    overrides the test environment (`cli_env`).

    The apps the command creates get their engines disposed afterwards: a real CLI process
    exits and drops its connections, an in-process run must close them itself.
    """
    apps = []

    def create_app(*a, **kw):
        apps.append(real_create_app(*a, **kw))
        return apps[-1]

    try:
        with mock.patch.object(cli_module, "create_app", create_app):
            environment = {**cli_env(database_url), **(env or {})}
            return CliRunner().invoke(main, list(args), input=input, env=environment, catch_exceptions=False)
    finally:
        for app in apps:
            app.extensions["secgov_engine"].dispose()


def run_cli_process(database_url: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """python -m secgov ARGS in a real process, for checks on what reaches the real stdout."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL"}}
    env.update({k: v for k, v in cli_env(database_url).items() if v is not None})
    return subprocess.run(
        [sys.executable, "-m", "secgov", *args],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


@contextmanager
def triggers_lifted(engine: Engine) -> Iterator[Connection]:
    """A write transaction in which audit_entry's append-only triggers are off (to tamper)."""
    with engine.execution_options(secgov_write=True).begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
            yield conn
            conn.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER USER"))
        else:
            triggers = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_entry'")
            ).all()
            assert triggers, "the audit triggers are missing"
            for name, _sql in triggers:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
            yield conn
            for _name, sql in triggers:
                conn.execute(text(sql))


def audit_trigger_names(conn: Connection) -> set[str]:
    """The names of the user triggers on audit_entry."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_entry'::regclass AND NOT tgisinternal")
        )
    else:
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_entry'"))
    return {row[0] for row in rows}


EXPECTED_TRIGGERS = {
    "sqlite": {"audit_entry_no_update", "audit_entry_no_delete"},
    "postgresql": {"audit_entry_no_update", "audit_entry_no_truncate"},
}
