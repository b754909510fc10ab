"""What a domain package contributes to the app (`Domain`, declared once in its __init__.py) and
the sum of all of them (`Registry`).

The list of domain packages is `secgov.domains`; only the entry points (create_app, the command
line, the migrations' environment) import it, and they hand the registry to the rest of the core
through `app.extensions["secgov_registry"]` or as arguments. So no core service imports a domain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType, SimpleNamespace

import click
from flask import Blueprint

from secgov import audit_terms, codes, jobs, runs, schedules, settings
from secgov.accountability import appraisal, appraisal_export, matrix, matrix_export
from secgov.accountability import chapter as accountability_chapter
from secgov.accountability import dashboard as accountability_dashboard
from secgov.accountability import duties as accountability
from secgov.accountability.duties import Duty
from secgov.accountability.matrix import Column, Rows
from secgov.accountability.measures import Measure
from secgov.accountability.trace import TraceSource
from secgov.audit_terms import AuditTerms, FieldTerm, Vocabulary
from secgov.codes import CodeList
from secgov.dashboard import Tile
from secgov.db import CatalogSync
from secgov.demo import DemoLoader
from secgov.exchange import Register
from secgov.reports import chapters as report_chapters
from secgov.reports import kinds as report_kinds
from secgov.reports.chapters import Chapter
from secgov.reports.kinds import ReportKind
from secgov.reports.terms import AUDIT_TERMS as REPORT_TERMS
from secgov.runs import JobKind
from secgov.settings import Setting
from secgov.snapshots import Figure


@dataclass(frozen=True)
class MenuItem:
    """An entry of the main menu: shown to the users the endpoint's declaration lets in."""

    endpoint: str
    label: str  # an English message marked with codes.N_; translated when shown


@dataclass(frozen=True)
class AssetSection:
    """A section that another domain adds to the asset's page (templates/assets/detail.html): its
    partial template, and `build(session, actor, config, asset)` giving the template's context
    (a dict, available as `section` in the partial), or None to show nothing. The asset domain
    knows the sections only from here: it imports no other domain."""

    template: str
    build: Callable[..., dict | None]


@dataclass(frozen=True)
class Domain:
    """What one domain package contributes: its pages and API, commands, settings, catalogs to
    sync, demo data, code lists, menu entries, registers, the words of its audit entries, kinds of
    background work, headline figures, report chapters and kinds of report."""

    name: str
    blueprints: tuple[Blueprint, ...] = ()
    api_blueprints: tuple[Blueprint, ...] = ()  # bearer tokens only: exempt from CSRF
    commands: tuple[click.Command, ...] = ()  # added to `python -m secgov`
    settings: tuple[Setting, ...] = ()
    catalogs: tuple[CatalogSync, ...] = ()  # run by `db upgrade` after the migrations
    demo: DemoLoader | None = None  # run by `demo` after the departments and users
    codes: tuple[CodeList, ...] = ()
    menu: tuple[MenuItem, ...] = ()
    registers: tuple[Register, ...] = ()  # import and export pages, API and commands
    audit_terms: AuditTerms = AuditTerms()  # what its audit actions, objects and fields are called
    jobs: tuple[JobKind, ...] = ()  # kinds of background work (secgov.runs)
    tiles: tuple[Tile, ...] = ()  # the dashboard's tiles (secgov.dashboard)
    figures: tuple[Figure, ...] = ()  # headline figures snapshotted daily (secgov.snapshots)
    chapters: tuple[Chapter, ...] = ()  # chapters of a kind of report (Chapter.report; secgov.reports)
    report_kinds: tuple[ReportKind, ...] = ()  # kinds of report beside the core's (secgov.reports.kinds)
    asset_sections: tuple[AssetSection, ...] = ()  # sections of the asset's page (AssetSection)
    duties: tuple[Duty, ...] = ()  # sub-item duties people are accountable for (secgov.accountability)
    matrix_rows: Rows | None = None  # the accountability matrix's rows: the asset domain's
    matrix_columns: tuple[Column, ...] = ()  # its columns: duties on an asset and their states
    trace_sources: tuple[TraceSource, ...] = ()  # kinds of lapse the accountability trace follows
    measures: tuple[Measure, ...] = ()  # what the appraisal measures (secgov.accountability.measures)


@dataclass(frozen=True)
class Registry:
    """Every domain's contributions, in the order of the domain list."""

    domains: tuple[Domain, ...]

    @property
    def blueprints(self) -> list[Blueprint]:
        return [bp for domain in self.domains for bp in domain.blueprints]

    @property
    def api_blueprints(self) -> list[Blueprint]:
        return [bp for domain in self.domains for bp in domain.api_blueprints]

    @property
    def commands(self) -> list[click.Command]:
        return [command for domain in self.domains for command in domain.commands]

    @property
    def settings(self) -> list[Setting]:
        domains = [s for domain in self.domains for s in domain.settings]
        weights = [appraisal.weights_setting(self.measures)] if self.measures else []
        return [*settings.CORE, *domains, *weights]

    @property
    def catalogs(self) -> list[CatalogSync]:
        """What `db upgrade` refreshes: each domain's catalogs, then the application's own
        schedules (one per kind of work with a default schedule)."""
        return [
            *(sync for domain in self.domains for sync in domain.catalogs),
            lambda session: schedules.sync_system(session, self.jobs),
        ]

    @property
    def demos(self) -> list[DemoLoader]:
        return [domain.demo for domain in self.domains if domain.demo is not None]

    @property
    def registers(self) -> list[Register]:
        """Every domain's registers, then the core's export of the accountability matrix."""
        found = [register for domain in self.domains for register in domain.registers]
        if self.matrix_register is not None:
            found.append(self.matrix_register)
        return [*found, *self.appraisal_registers]

    @cached_property
    def appraisal_registers(self) -> tuple[Register, ...]:
        """The appraisal's exports, its ranking and its records (its columns are the measures')."""
        if not self.measures:
            return ()
        return (appraisal_export.ranking(self.measures), appraisal_export.outcomes(self.measures))

    @cached_property
    def matrix_register(self) -> Register | None:
        """The accountability matrix's export (its columns are the domains'); None without rows."""
        rows = self.matrix_rows
        return matrix_export.register(rows, self.matrix_columns) if rows is not None else None

    @cached_property
    def codes(self) -> SimpleNamespace:
        """Every code list by name, for the templates (`codes.lifecycle.label(code)`)."""
        lists = [*codes.CORE, *(c for domain in self.domains for c in domain.codes), self.measure_codes]
        return SimpleNamespace(**{code_list.name: code_list for code_list in lists})

    @cached_property
    def audit_vocabulary(self) -> Vocabulary:
        """The words of every audit entry: the core's, each domain's, the registers' actions, and
        the settings (a changed setting's details are keyed by the setting)."""
        setting_fields = AuditTerms(fields={s.key: FieldTerm(s.label) for s in self.settings})
        return Vocabulary(
            [
                audit_terms.CORE,
                runs.AUDIT_TERMS,
                REPORT_TERMS,
                *(domain.audit_terms for domain in self.domains),
                audit_terms.register_terms(self.registers),
                setting_fields,
            ]
        )

    @cached_property
    def jobs(self) -> Mapping[str, JobKind]:
        """Every kind of background work by code: the core's (`secgov.jobs.CORE`), then the
        domains'."""
        kinds = [*jobs.CORE, *(kind for domain in self.domains for kind in domain.jobs)]
        return MappingProxyType({kind.code: kind for kind in kinds})

    @property
    def figures(self) -> list[Figure]:
        """Every domain's headline figures, then the core's (the accountability gaps), which the
        daily snapshot takes (secgov.snapshots)."""
        found = [figure for domain in self.domains for figure in domain.figures]
        return [*found, accountability_dashboard.gaps_figure(tuple(self.duties.values()))]

    @property
    def tiles(self) -> list[Tile]:
        """Every domain's tiles, then the core's accountability tile (it reads the domains' duties,
        matrix and measures)."""
        return [*(tile for domain in self.domains for tile in domain.tiles), self.accountability_tile]

    @cached_property
    def accountability_tile(self) -> Tile:
        return accountability_dashboard.tile(
            tuple(self.duties.values()), self.matrix_rows, self.matrix_columns, self.measures
        )

    @property
    def chapters(self) -> list[Chapter]:
        """The chapters of every kind of report in order (each report takes those of its kind):
        the core's summary, every domain's, the core's accountability and appraisal, the overdue
        items, the methodology."""
        found = [
            *report_chapters.CORE,
            self.accountability_chapter,
            *(c for domain in self.domains for c in domain.chapters),
        ]
        return sorted(found, key=lambda chapter: chapter.order)

    @cached_property
    def accountability_chapter(self) -> Chapter:
        return accountability_chapter.chapter(tuple(self.duties.values()), self.measures)

    @cached_property
    def report_kinds(self) -> Mapping[str, ReportKind]:
        """Every kind of report by code: the core's (the compliance report), then the domains'."""
        found = [*report_kinds.CORE, *(kind for domain in self.domains for kind in domain.report_kinds)]
        return MappingProxyType({kind.code: kind for kind in found})

    @property
    def asset_sections(self) -> list[AssetSection]:
        """Every domain's sections of the asset's page, in the order of the domain list."""
        return [section for domain in self.domains for section in domain.asset_sections]

    @cached_property
    def duties(self) -> Mapping[str, Duty]:
        """Every duty by code ("asset.owner"): the core's chief and department heads, then the
        domains' sub-item duties."""
        found = [*accountability.CORE, *(duty for domain in self.domains for duty in domain.duties)]
        return MappingProxyType({duty.code: duty for duty in found})

    @cached_property
    def trace_sources(self) -> Mapping[str, TraceSource]:
        """Every kind of lapse the accountability trace follows, by code (each domain's)."""
        return MappingProxyType({s.kind: s for domain in self.domains for s in domain.trace_sources})

    @cached_property
    def measures(self) -> tuple[Measure, ...]:
        """Every domain's appraisal measures, in their order."""
        found = [m for domain in self.domains for m in domain.measures]
        return tuple(sorted(found, key=lambda m: m.order))

    @cached_property
    def measure_codes(self) -> CodeList:
        """The appraisal's measures as a code list (`codes.appraisal_measure.label(code)`)."""
        return CodeList.of("appraisal_measure", {m.code: m.label for m in self.measures})

    @property
    def matrix_rows(self) -> Rows | None:
        """The rows of the accountability matrix: the one domain that declares them (the assets)."""
        found = [domain.matrix_rows for domain in self.domains if domain.matrix_rows is not None]
        return found[0] if found else None

    @property
    def matrix_columns(self) -> tuple[Column, ...]:
        """Every domain's columns of the accountability matrix, in their order."""
        return matrix.ordered([column for domain in self.domains for column in domain.matrix_columns])

    @property
    def menu(self) -> list[MenuItem]:
        return [item for domain in self.domains for item in domain.menu]

    def register(self, name: str) -> Register:
        """The register (import and export) named name; KeyError when there is none."""
        for register in self.registers:
            if register.name == name:
                return register
        raise KeyError(name)
