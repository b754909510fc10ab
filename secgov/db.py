"""Engine, one session per request, write transactions and migrations glue."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from flask import Flask, current_app, g, request
from sqlalchemy import Engine, MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel, create_engine

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


def metadata() -> MetaData:
    """The metadata of every table, with all model modules imported."""
    import assessments.models  # noqa: F401
    import assets.models  # noqa: F401
    import drills.models  # noqa: F401
    import secgov.models  # noqa: F401

    return SQLModel.metadata


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
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def make_engine(url: str, echo: bool = False, single_use: bool = False) -> Engine:
    """Create the engine for url with the durability settings each database needs."""
    parsed = make_url(url)
    if single_use:
        engine = create_engine(url, echo=echo, poolclass=NullPool)
        if parsed.get_backend_name() == "sqlite":
            _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 10})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)


def init_app(app: Flask) -> None:
    """Attach the engine (created lazily, no connection made) and the teardown."""
    app.extensions["secgov_engine"] = make_engine(
        app.config["DATABASE_URL"], echo=app.config.get("SECGOV_SQL_ECHO", False)
    )
    app.teardown_appcontext(_close_session)


def get_engine(app: Flask | None = None) -> Engine:
    """The application's engine."""
    return (app or current_app).extensions["secgov_engine"]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def new_session(engine: Engine, *, write: bool) -> Session:
    """A session whose transactions begin as writers (BEGIN IMMEDIATE on SQLite) when write."""
    bind = engine.execution_options(secgov_write=True) if write else engine
    return Session(bind=bind, expire_on_commit=False)


def get_session() -> Session:
    """The request's session; write requests begin their transaction as writers."""
    if "db_session" not in g:
        write = bool(request) and request.method in WRITE_METHODS
        g.db_session = new_session(get_engine(), write=write)
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


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


@contextmanager
def write_session(engine: Engine | None = None) -> Iterator[Session]:
    """A session for jobs, the CLI and side records: commits on success, rolls back on error."""
    session = new_session(engine or get_engine(), write=True)
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def alembic_config(url: str):
    """The Alembic configuration for url, built in code (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the database at url, then refresh the control catalogs from the data files."""
    from alembic import command

    from assets.controls import sync_catalog

    command.upgrade(alembic_config(url), revision)
    if revision == "head":
        engine = make_engine(url, single_use=True)
        try:
            sync_catalog(engine)
        finally:
            engine.dispose()
