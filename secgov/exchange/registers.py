"""What a register declares for the exchange: its columns and services, and the query of its
exports (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlmodel import Session

from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.errors import Invalid, ServiceError

Format = Literal["csv", "xlsx"]
Problems = dict[int, list[ServiceError]]  # item index -> what the rules refuse in it


@dataclass(frozen=True)
class Column:
    """One column of a register file. `cell` says how its text becomes the schema's value: "text"
    as it is, "lower" in lower case, "list" split on spaces, commas and semicolons (lower case),
    "bool" from true/false, yes/no, 1/0 or 是/否. `choices`: the allowed values a wrong cell is told."""

    name: str
    required: bool = False
    cell: Literal["text", "lower", "list", "bool"] = "text"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Register:
    """A register that can be imported and exported (see the module docstring)."""

    name: str  # "assets": URLs, commands, file names and audit actions ("assets.imported")
    object_type: str  # "asset": the audit entries' object type
    title: str  # an English message marked with N_, translated where shown
    columns: tuple[Column, ...]
    schema: type[BaseModel]  # what one row becomes: the register's create schema
    key: str  # the column whose values may occur once per file (without case); "": none
    check: Callable[[Session, Sequence[Any], Actor, ServiceConfig], Problems]
    create: Callable[[Session, Sequence[Any], Actor, ServiceConfig], list]  # check, then write; raises
    undo: Callable[[Session, list[int], Actor], None]  # remove records an undone import wrote
    filters: type[BaseModel]  # the register's list query: its fields but the paging are export filters
    records: Callable[[Session, Actor, BaseModel], Iterator[BaseModel]]  # what an export writes
    importers: tuple[str, ...]  # the roles that may import (none: export only); everyone who reads exports
    release: tuple[type, ...] = ()  # ORM classes dropped from the session after each batch
    exporters: tuple[str, ...] = ()  # the roles that may export; (): every role (who reads it)
    statistics: tuple[str, ...] = ()  # tables refreshed (ANALYZE) after a large import

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)

    @property
    def filter_names(self) -> tuple[str, ...]:
        return tuple(name for name in self.filters.model_fields if name not in ("page", "page_size"))

    @property
    def export_query(self) -> type[BaseModel]:
        return _export_query(self)


_EXPORT_QUERIES: dict[str, type[BaseModel]] = {}


def _export_query(register: Register) -> type[BaseModel]:
    """The file format and the list's filters (every matching record, not one page)."""
    if register.name not in _EXPORT_QUERIES:
        fields = {
            name: (info.annotation, info)
            for name, info in register.filters.model_fields.items()
            if name in register.filter_names
        }
        _EXPORT_QUERIES[register.name] = create_model(
            f"{register.name.title()}ExportQuery",
            __config__=ConfigDict(extra="forbid", str_strip_whitespace=True),
            __doc__=f"The file format and the filters of the {register.name} list (every matching record).",
            format=(Format, Field(default="csv", description="csv or xlsx")),
            **fields,
        )
    return _EXPORT_QUERIES[register.name]


@dataclass(frozen=True)
class ExportOnly:
    """The import side of a register that is exported only (no importers): every row is refused
    with `message()`, a translated sentence saying how such records are made instead; an import
    writes nothing, so there is nothing to undo. A register takes `check`, `create` and `undo`."""

    message: Callable[[], str]

    def check(self, _session: Session, items: Sequence[Any], _actor: Actor, _config: ServiceConfig) -> Problems:
        error = Invalid(self.message())
        return {index: [error] for index in range(len(items))}

    def create(self, session: Session, items: Sequence[Any], actor: Actor, config: ServiceConfig) -> list:
        problems = self.check(session, items, actor, config)
        if problems:
            raise problems[min(problems)][0]
        return []

    def undo(self, _session: Session, _ids: list[int], _actor: Actor) -> None:
        return None
