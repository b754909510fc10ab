"""Kinds of report: what a report is (its title and document template) and, for a report about
one record, how that record is found.

The core declares the leadership compliance report (a department's subtree over a period); a
domain declares its own kinds in `Domain.report_kinds` (the asset domain: the per-asset dossier).
Every kind is asked for, generated, archived and read the same way (`secgov.reports.service`).
A kind's chapters are the `Chapter`s whose `report` is its code, the core's and every domain's:
a later capability adds a section to a kind (scans, risks, assessments and drills to the asset
dossier) by declaring a chapter for it in its own `Domain.chapters`, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlmodel import Session

from secgov.authz import Actor
from secgov.codes import N_


@dataclass(frozen=True)
class Subject:
    """The record a report is about: its code (kept in `Report.subject`) and its department (the
    report's, so that the archive's scope applies to it unchanged)."""

    code: str
    department_id: int


# Finds the record of this code in the actor's scope: NotFound when there is none (with the
# refusal audited, as `secgov.authz.deny_out_of_scope` does, when it exists out of scope).
Resolve = Callable[[Session, Actor, str], Subject]


@dataclass(frozen=True)
class ReportKind:
    """A kind of report: its code (`Report.kind`), title (an N_ message) and document template
    (under templates/: the cover and the contents, then its chapters); `subject` finds the record
    of a report about one record (None: a report of a department); `subject_label` is what that
    record is called (an N_ message); a kind that is not `periodic` is as of the day it is made
    (its period is that day); `registers`: the full registers of the report's scope go with it
    (the compliance report's attachments)."""

    code: str
    title: str
    template: str
    subject: Resolve | None = None
    subject_label: str = ""
    periodic: bool = True
    registers: bool = True


COMPLIANCE = ReportKind("compliance", N_("Compliance report"), "reports/compliance.html")
CORE: tuple[ReportKind, ...] = (COMPLIANCE,)
CORE_KINDS: Mapping[str, ReportKind] = MappingProxyType({kind.code: kind for kind in CORE})
