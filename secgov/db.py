"""Engines, sessions, write transactions and migrations glue. Pure SQLAlchemy: the request's
session is made by the request frame (`secgov.web.get_session`)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel, create_engine

from secgov.config import INSTANCE, prepare_instance, private_file, private_folder, same_folder, tighten
from secgov.datakeys import DataKeys, attach

T = TypeVar("T")

# Stable constraint names, so that Alembic migrations are the same on every database.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SQLITE_BUSY_TIMEOUT_MS = 10_000
# How often a SQLite writer waiting for the write lock asks again (see _begin_writer), and the pause
# a long series of write transactions (an import's batches) leaves between two of them, so that
# the writers waiting meanwhile get their turn.
WRITER_POLL_SECONDS = 0.002
WRITERS_TURN_SECONDS = 0.01


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Writers take the write lock up front, so that two writers never deadlock on
        # lock upgrades and the audit chain is extended by one writer at a time.
        if connection.get_execution_options().get("secgov_write"):
            _begin_writer(connection.connection.driver_connection)
        else:
            connection.exec_driver_sql("BEGIN")


def _begin_writer(dbapi_connection) -> None:
    """BEGIN IMMEDIATE, asking again every few milliseconds while another writer holds the lock,
    for at most the busy timeout. SQLite's own busy handler sleeps ever longer (100 ms at a time
    after a third of a second) and so misses the short gaps between another writer's
    transactions: behind an import writing batch after batch, a sign-in waited for the whole
    import. Polling catches the gap the import leaves between its batches (WRITERS_TURN)."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    dbapi_connection.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(WRITER_POLL_SECONDS)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def _private_database(path: Path, folder_too: bool) -> None:
    """Make the SQLite database file 0600 before SQLite opens it (SQLite gives its -wal and -shm
    files the database file's mode), and its folder 0700 when SecGov makes it (the instance
    folder follows its own rule; another existing folder is the operator's and keeps its mode)."""
    folder = path.parent
    if folder_too or not folder.exists():
        if same_folder(folder, INSTANCE):
            prepare_instance(folder)
        else:
            private_folder(folder)
    private_file(path)
    for companion in (Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            tighten(companion)  # made by an earlier version, or while the database was 0644
        except FileNotFoundError:
            pass


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("uri"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def make_engine(url: str, echo: bool = False, single_use: bool = False, data_keys: DataKeys | None = None) -> Engine:
    """Create the engine for url with the durability settings each database needs; its `Sealed`
    columns (TOTP secrets) encrypt and decrypt with data_keys (without them they refuse)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if single_use:
            engine = create_engine(url, echo=echo, poolclass=NullPool)
        else:
            engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)
        attach(engine, data_keys)
        return engine
    if single_use:
        engine = create_engine(url, echo=echo, poolclass=NullPool)
    else:
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 10})
    _configure_sqlite(engine)
    attach(engine, data_keys)
    file = _sqlite_file(url)
    if file is not None:
        opened = False

        @event.listens_for(engine, "do_connect")
        def _before_open(_dialect, _record, _cargs, _cparams):
            # Before every new connection, not once when the engine is made: nothing is created
            # before a connection is wanted, and a file deleted meanwhile is made private again.
            nonlocal opened
            _private_database(file, folder_too=not opened)
            opened = True

    return engine


def new_session(engine: Engine, *, write: bool) -> Session:
    """A session whose transactions begin as writers (BEGIN IMMEDIATE on SQLite) when write."""
    bind = engine.execution_options(secgov_write=True) if write else engine
    return Session(bind=bind, expire_on_commit=False)


def chunks(values: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """Slices of at most `size` values: an IN list stays well below every database's limit on
    parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def refresh_statistics(session: Session, tables: Sequence[str]) -> None:
    """Let the query planner see what a bulk write changed (ANALYZE, in the caller's
    transaction): without it, SQLite plans a register grown from 60 to 20,000 rows as if it were
    still small. Table names come from the code, never from input."""
    for table in tables:
        if not table.isidentifier():
            raise ValueError(f"not a table name: {table!r}")
        session.execute(text(f"ANALYZE {table}"))


def writers_turn(engine: Engine) -> None:
    """Between two transactions of a long series of writes: on SQLite, a short pause in which the
    writers waiting for the lock (a sign-in, a command) take it."""
    if engine.dialect.name == "sqlite":
        time.sleep(WRITERS_TURN_SECONDS)


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session for jobs, the CLI and side records: commits on success, rolls back on error."""
    session = new_session(engine, write=True)
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    """The Alembic configuration for url, built in code (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


CatalogSync = Callable[[Session], int]


def current_revision(url: str) -> str | None:
    """The database's Alembic revision; None for a database without SecGov's tables."""
    engine = make_engine(url, single_use=True)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head", catalogs: Sequence[CatalogSync] = ()) -> tuple[str | None, str | None]:
    """Create or migrate the database at url; at the head revision, then refresh the reference
    catalogs from their data files (each function of `catalogs`, the registry's, in one
    transaction). Returns the revisions before and after."""
    before = current_revision(url)
    command.upgrade(alembic_config(url), revision)
    after = current_revision(url)
    if revision != "head" or not catalogs:
        return before, after
    engine = make_engine(url, single_use=True)
    try:
        with write_session(engine) as session:
            for sync in catalogs:
                sync(session)
    finally:
        engine.dispose()
    return before, after
