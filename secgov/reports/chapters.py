"""Chapters of a report: what each capability contributes to the leadership report.

A chapter is declared once (by the core here, by a domain in its `Domain.chapters`): `build`
reads its figures for a scope and a period and returns a JSON-able dict (it goes into the report's
canonical input data, whose SHA-256 the footer prints); `template` (under templates/) renders that
dict into the report's HTML, given `data`, `chapter`, `number` and `report`. A chapter's build
sees the scope as an Actor whose scope is the report's department: every service it calls keeps
to that subtree, as it does for a user of that department.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session

from secgov.authz import Actor
from secgov.codes import N_


@dataclass(frozen=True)
class Period:
    """The days a report covers, both included."""

    start: date
    end: date

    def as_dict(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


@dataclass(frozen=True)
class Scope:
    """The department a report covers (its subtree), and the actor that reads it."""

    department_id: int
    code: str
    name: str
    name_en: str
    actor: Actor  # scope = the department's subtree


Build = Callable[[Session, Scope, Period, Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Chapter:
    """A chapter: its code, title (an N_ message), template and builder; `order` places it among
    the others (the core's summary first, its methodology last)."""

    code: str
    title: str
    template: str
    build: Build
    order: int = 50
    # What the methodology appendix says about this chapter's figures (N_ messages).
    method: tuple[str, ...] = ()


def _summary(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    return {}  # the summary reads the other chapters' headline figures when the report is rendered


def _methodology(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    return {}


SUMMARY = Chapter("summary", N_("Executive summary"), "reports/chapters/summary.html", _summary, order=0)
METHODOLOGY = Chapter(
    "methodology",
    N_("Methodology"),
    "reports/chapters/methodology.html",
    _methodology,
    order=1000,
    method=(
        N_(
            "Every figure is counted from the registers when the report is generated, in the report's scope"
            " (the department and its sub-departments); nothing is estimated."
        ),
        N_(
            "The footer prints the report's number, the head of the audit log (entry number and hash) when it"
            " was generated, and the SHA-256 of the report's input data; the SHA-256 of the file itself is in"
            " the archive."
        ),
    ),
)
CORE: tuple[Chapter, ...] = (SUMMARY, METHODOLOGY)
