"""Imports as background runs: an upload above the configured size or rows
(SECGOV_IMPORT_BACKGROUND_BYTES, SECGOV_IMPORT_BACKGROUND_ROWS) is not imported during the request
but handed to a worker as a run of kind "register.import".

The upload's frame decides with `in_background`, asks for the run with `enqueue` (the file goes
into the run's `RunFile`, so a worker on another host reads it) and hands it to the queue after
its commit. The worker reads the file back, acts as the user who uploaded it (their scope and
roles as they are now: a user who may no longer import the register is refused), and runs the
same engine as the request would (`import_file`), in the requester's language, recording its
progress between batches. The run's result is the row-by-row report (`result_of`); an import
that wrote nothing fails the run with the reason "import_refused", its report kept as the result.
The command line never comes here: it imports at once.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any, Literal

from flask_babel import force_locale
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from secgov import audit, runs
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.db import new_session
from secgov.errors import Refusal
from secgov.exchange.importing import import_file, read_rows
from secgov.exchange.registers import Register
from secgov.exchange.report import ImportReport
from secgov.models import Run, RunFile, User
from secgov.runs import JobContext, JobFailed, JobKind
from secgov.tabular import TabularError

CODE = "register.import"
# The run's wall-clock limit. A kind's limit is declared once, not read from the configuration:
# 900 seconds is SECGOV_IMPORT_MAX_SECONDS's default. The engine's own limit is kept MARGIN
# seconds inside what is left of the run's, so that the engine stops itself first (keeping what
# a partial import wrote, undoing an all-or-nothing one) and the run ends with its report rather
# than with "timeout"; a higher SECGOV_IMPORT_MAX_SECONDS therefore does not lengthen a
# background import.
MAX_SECONDS = 900
MARGIN_SECONDS = 15


class ImportParams(BaseModel):
    """What a background import was asked for; the file itself is the run's `RunFile`."""

    # "register" is also a method of every pydantic model (abc.ABC's): the field is called
    # register_name here and "register" in the run's parameters.
    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    register_name: str = Field(
        alias="register", min_length=1, max_length=60, description="The register imported (assets, vendors...)."
    )
    partial: bool = Field(default=False, description="Write the valid rows and report the others.")
    filename: str = Field(min_length=1, max_length=255, description="The uploaded file's name (its format).")
    language: Literal["zh", "en"] = Field(default="zh", description="The language of the report.")


def in_background(register: Register, data: bytes, filename: str, config: ServiceConfig) -> bool:
    """Whether an upload is imported by a worker: one above the size threshold, or with more data
    rows than the rows threshold. Cheaply: the file is read up to the first data row beyond the
    threshold (up to its first data row when it is above the size threshold), never further; an
    XLSX file above the size threshold is not opened at all (opening one costs what the worker is
    for). A file found unreadable meanwhile (its type, its encoding, its header) stays in the
    request, which reports its problem at once."""
    large = len(data) > config.import_background_bytes
    if large and PurePath(filename or "").suffix.lower() == ".xlsx":
        return True
    probe = dataclasses.replace(config, import_max_rows=0 if large else config.import_background_rows)
    try:
        read_rows(register, data, filename, probe, deadline=time.monotonic() + config.import_max_seconds)
    except TabularError as exc:
        return exc.code == "too_many_rows"
    return False


def enqueue(
    session: Session,
    actor: Actor,
    register: Register,
    data: bytes,
    filename: str,
    *,
    partial: bool,
    language: str,
) -> Run:
    """A queued background import of this upload, in the caller's transaction (the caller hands
    it to the queue after committing). The caller has checked that the actor may import it."""
    params = ImportParams(
        register_name=register.name,
        partial=partial,
        filename=(filename or "upload")[:255],
        language=language if language in ("zh", "en") else "zh",
    )
    return runs.enqueue(session, actor, IMPORT, params, file=(params.filename, data))


def result_of(register: Register, report: ImportReport, params: ImportParams) -> dict[str, Any]:
    """A run's result: the report (`ImportReport.as_dict`: the problems row by row, in the
    requester's language) and its counts, with what was imported."""
    return {
        **report.as_dict(),
        "register": register.name,
        "title": register.title,  # an English message, translated where shown
        "filename": params.filename,
        "partial": params.partial,
        "written": report.written,
        "rejected_rows": report.rejected_rows,
        "more": report.more,
    }


def _may_import(user: User | None, register: Register) -> bool:
    return user is not None and bool(user.roles & set(register.importers))


def run_import(ctx: JobContext) -> dict[str, Any]:
    """The job: read the run's file and import it as its requester (see the module docstring)."""
    params: ImportParams = ctx.params  # type: ignore[assignment]
    try:
        register = ctx.registry.register(params.register_name)
    except KeyError:
        raise JobFailed("bad_params", f"no register named {params.register_name!r}") from None
    with new_session(ctx.engine, write=False) as session:
        allowed = ctx.actor.user_id is None or _may_import(session.get(User, ctx.actor.user_id), register)
        stored = session.get(RunFile, ctx.run_id) if allowed else None
        data = stored.data if stored is not None else None
    if not allowed:
        refusal = Refusal(ctx.actor, "run.denied", "run", ctx.run_id, {"kind": CODE, "register": register.name})
        audit.record_refusals(ctx.engine, [refusal])
        raise JobFailed("import_forbidden", f"{ctx.actor.username} may no longer import {register.name}")
    if data is None:
        raise JobFailed("import_file_missing", "the run has no file")
    config = ServiceConfig.from_mapping(ctx.config)
    left = int((ctx.deadline - datetime.now(UTC)).total_seconds()) - MARGIN_SECONDS
    config = dataclasses.replace(config, import_max_seconds=max(1, min(config.import_max_seconds, left)))
    with force_locale(params.language):
        ctx.progress(0, None)
        report = import_file(
            ctx.engine,
            register,
            data,
            params.filename,
            ctx.actor,
            config,
            partial=params.partial,
            progress=ctx.progress,
        )
        result = result_of(register, report, params)
    if not report.written:
        raise JobFailed("import_refused", f"{report.problems} problems in {report.total_rows} rows", result=result)
    return result


IMPORT = JobKind(
    code=CODE,
    label=N_("Import of a register file"),
    run=run_import,
    params=ImportParams,
    max_seconds=MAX_SECONDS,
    # Started only by an upload, whose route checks the register's importer roles (and the job
    # checks them again): nobody starts it from the runs' pages, and no schedule does.
    roles=frozenset(),
    # A worker lost in the middle leaves the batches it wrote: doing the file again would report
    # them as duplicates. The run fails ("worker_lost") and its requester looks.
    retries=0,
    reasons={
        "import_refused": N_("Nothing was written; the report lists why."),
        "import_forbidden": N_("The user who asked for it may no longer import this register."),
        "import_file_missing": N_("The uploaded file is no longer there."),
    },
    result_template="registers/_import_result.html",
)
