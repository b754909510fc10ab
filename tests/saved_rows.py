"""A database's rows, read once and written back: for a fixture that builds the same world for
every test (tests/test_authz_matrix.py's `world`, some 0.1 s a test on SQLite through factories
and services, more on PostgreSQL), writing the saved rows back takes a few milliseconds.

`schema(url)` is the tables, their columns and their foreign-key order, read once per database
URL: the suite's schema does not change during a run (`database_url` migrates it at the start).

`SavedRows.take(engine)` reads every row of every table except those `conftest.empty_database`
keeps (`helpers.KEPT_TABLES`: alembic_version and the catalogue), and on PostgreSQL where each sequence
stands. `restore(engine)` writes them back into the emptied database, in one transaction, table
by table in foreign-key order (a table's rows in primary-key order: a department after its parent).
The rows go back verbatim: on SQLite the values as the driver gives them, untouched by any column
type (a time stays the text it was); on PostgreSQL through the reflected column types (a JSON value
is encoded again), never through the models' types, so a sealed TOTP secret stays the ciphertext
it was. The audit chain is copied as it was and so still verifies; its append-only triggers let
INSERT through. On PostgreSQL each sequence is set where it stood after the build (so the test's
own rows get the ids they would have got); SQLite's INTEGER PRIMARY KEY needs nothing, and an
AUTOINCREMENT table's counter (sqlite_sequence, which empty_database leaves as it is) follows the
largest id inserted, as it did when the rows were first written.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from helpers import KEPT_TABLES
from sqlalchemy import Engine, column, inspect, select, table, text
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.types import NullType

from secgov.db import make_engine


@dataclass(frozen=True)
class Schema:
    """The database's tables in the order the inspector names them, each with its columns."""

    columns: dict[str, tuple[str, ...]]
    # Referenced tables before those that reference them.
    ordered: tuple[str, ...]
    # Per table: a Core table to read and write its rows with, and its primary key's columns.
    tables: dict[str, TableClause]
    keys: dict[str, tuple[str, ...]]


def url_of(engine: Engine) -> str:
    """The engine's URL with its password: the key of what is read once per database."""
    return engine.url.render_as_string(hide_password=False)


@functools.cache
def schema(url: str) -> Schema:
    """The schema of the database at url, read once per run."""
    engine = make_engine(url, single_use=True)
    try:
        inspector = inspect(engine)
        verbatim = engine.dialect.name == "sqlite"
        columns, tables, keys = {}, {}, {}
        for name in inspector.get_table_names():
            described = inspector.get_columns(name)
            columns[name] = tuple(c["name"] for c in described)
            tables[name] = table(name, *(column(c["name"], NullType() if verbatim else c["type"]) for c in described))
            keys[name] = tuple(inspector.get_pk_constraint(name)["constrained_columns"])
        sorted_names = inspector.get_sorted_table_and_fkc_names()
    finally:
        engine.dispose()
    cycles = [fkc for name, fkcs in sorted_names if name is None for fkc in fkcs]
    if cycles:  # not in this schema; the rows could not be written back table by table
        raise RuntimeError(f"foreign keys in a cycle: {cycles}")
    return Schema(columns, tuple(name for name, _fkcs in sorted_names if name is not None), tables, keys)


@dataclass(frozen=True)
class SavedRows:
    """Every row of a database (but the kept tables), and on PostgreSQL its sequences."""

    rows: dict[str, list[dict]]
    sequences: tuple[tuple[str, int], ...]

    @classmethod
    def take(cls, engine: Engine) -> SavedRows:
        """The rows of every table that has any, read in one transaction."""
        of = schema(url_of(engine))
        rows = {}
        with engine.connect() as conn:
            for name in of.ordered:
                if name in KEPT_TABLES:
                    continue
                clause = of.tables[name]
                order = [clause.c[key] for key in of.keys[name]] or list(clause.c)
                found = [dict(row._mapping) for row in conn.execute(select(clause).order_by(*order))]
                if found:
                    rows[name] = found
            sequences = ()
            if engine.dialect.name == "postgresql":
                sequences = tuple(
                    map(
                        tuple,
                        conn.execute(
                            text(
                                "SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_sequences"
                                " WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                            )
                        ).all(),
                    )
                )
        return cls(rows, sequences)

    def restore(self, engine: Engine) -> None:
        """Write the rows back into the emptied database, in one transaction."""
        of = schema(url_of(engine))
        with engine.execution_options(secgov_write=True).begin() as conn:
            for name in of.ordered:
                if name in self.rows:
                    conn.execute(of.tables[name].insert(), self.rows[name])
            for sequence, value in self.sequences:
                conn.execute(
                    text("SELECT setval(CAST(:sequence AS regclass), :value)"), {"sequence": sequence, "value": value}
                )
