"""Chapters of a report: what each capability contributes to the leadership report.

A chapter is declared once (by the core here, by a domain in its `Domain.chapters`): `build`
reads its figures for a scope and a period and returns a JSON-able dict (it goes into the report's
canonical input data, whose SHA-256 the footer prints); `template` (under templates/) renders that
dict into the report's HTML, given `data`, `chapter`, `number` and `report`. A chapter's build
sees the scope as an Actor whose scope is the report's department: every service it calls keeps
to that subtree, as it does for a user of that department. `report` is the code of the kind of
report the chapter belongs to (`secgov.reports.kinds`): the compliance report's by default.
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
    subject: str = ""  # a report about one record: the record's code (Report.subject)


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
    report: str = "compliance"  # the kind of report it belongs to


LIST_LIMIT = 50  # rows of a chapter's list (a PDF table holds no more; the count is given)


def listed(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A chapter's list cut at LIST_LIMIT rows, with the number left out and the whole count."""
    return {"rows": rows[:LIST_LIMIT], "more": max(0, len(rows) - LIST_LIMIT), "total": len(rows)}


def share(part: float, whole: float) -> float | None:
    """part of whole in per cent (0-100, one decimal); None when there is no whole."""
    return round(100 * part / whole, 1) if whole else None


def overall_score(components: list[Mapping[str, Any]]) -> float | None:
    """The report's overall score: the mean of the chapters' score components (each 0-100, equal
    weights), those without a value (nothing to measure in the scope) left out; None when no
    component has a value. The methodology appendix lists the components with their values."""
    values = [float(item["value"]) for item in components if item.get("value") is not None]
    return round(sum(values) / len(values), 1) if values else None


def _summary(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    return {}  # the summary reads the other chapters' headline figures when the report is rendered


def _methodology(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    return {}


# What every report's footer prints (the methodology of each kind of report says it).
FOOTER_METHOD = N_(
    "The footer prints the report's number, the head of the audit log (entry number and hash) when it"
    " was generated, and the SHA-256 of the report's input data; the SHA-256 of the file itself is in"
    " the archive."
)


def _overdue(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    return {}  # gathered from the other chapters' "overdue" items when the report is built


SUMMARY = Chapter(
    "summary",
    N_("Executive summary"),
    "reports/chapters/summary.html",
    _summary,
    order=0,
    method=(
        N_(
            "Overall score: the mean, with equal weights, of the score components listed below (each from 0"
            " to 100); a component with nothing to measure in the scope is left out."
        ),
    ),
)
OVERDUE = Chapter(
    "overdue",
    N_("Overdue items and the people responsible"),
    "reports/chapters/overdue.html",
    _overdue,
    order=900,
    method=(
        N_(
            "Overdue items: duties whose date has passed on the report's last day, with the person responsible"
            " for the system now (its owner); the oldest come first."
        ),
        N_(
            "Responsible then: the holder of the item's duty, the head of its department (or of the nearest"
            " department above that had one) and the city's chief whose terms were in force when it fell overdue,"
            " at the start of the day after its due date, as the accountability trace names them; a term later"
            " corrected is shown with the person it was corrected to."
        ),
        N_(
            "Filing: a system graded at level 2 or above is filed with the public security organs within 30 days"
            " of its grading (MLPS administrative measures, art. 15); the grading day is the first entry of its"
            " grade history at such a level."
        ),
    ),
)
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
        FOOTER_METHOD,
    ),
)
CORE: tuple[Chapter, ...] = (SUMMARY, OVERDUE, METHODOLOGY)
