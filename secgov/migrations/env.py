"""Alembic environment: the URL comes from the Config built in secgov.db.alembic_config."""

import warnings

from alembic import context
from sqlmodel import SQLModel

from secgov import domains  # noqa: F401 - the registry imports every domain package, models included
from secgov.datakeys import Sealed
from secgov.db import make_engine
from secgov.models import UTCDateTime

# SQLite's reflection cannot read expression indexes (uq_asset_code_lower on lower(code)), so
# autogenerate skips comparing them there and says so; PostgreSQL compares them.
warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
warnings.filterwarnings("ignore", message="autogenerate skipping metadata-specified expression-based index")

# Every table: the core's, and each domain's.
target_metadata = SQLModel.metadata
config = context.config


def render_item(type_, obj, autogen_context):
    """Render the UTC timestamp and encrypted types as their plain SQL types, so migrations import
    no app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, Sealed):
        return "sa.String(length=255)"
    if type_ == "type" and obj.__class__.__module__.startswith("sqlmodel"):
        autogen_context.imports.add("import sqlmodel")
    return False


def include_name(name, type_, parent_names) -> bool:
    """The task queue's own tables (Huey's, on the application's PostgreSQL: huey_*) are not the
    application's: autogenerate leaves them alone."""
    return not (type_ == "table" and name and name.startswith("huey_"))


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    engine = make_engine(url, single_use=True)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite's batch migrations copy a table, drop it and rename the copy: with foreign
            # keys on, dropping a table others reference deletes their rows or fails. SQLite's
            # own recipe for such changes: foreign keys off (outside any transaction), then a
            # check that every reference still holds before the migration commits.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            render_item=render_item,
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke {len(broken)} references, first: {broken[0]}")
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")


run_migrations()
