"""The assessments domain: periodic risk assessments (six areas, approval, due dates from the
MLPS level and CII status) and the risk register (matrix, treatments, acceptances, reviews).
Its contributions to the app are declared here."""

from dataclasses import replace

from assessments import (
    accountability,
    api,
    appraisal,
    audit_terms,
    calendar,
    chapters,
    cli,
    codes,
    dashboard,
    demo,
    dossier,
    duties,
    exchange,
    figures,
    jobs,
    models,
    risks,
    rule,
    services,
    trace,
    views,
)
from secgov.codes import N_
from secgov.registry import AssetSection, Domain, MenuItem

# A new risk matrix relevels every stored risk, in the transaction that stores it.
SETTINGS = tuple(
    replace(s, changed=lambda session, before, after, actor, _config: risks.relevel_all(session, before, after, actor))
    if s.key == rule.MATRIX.key
    else s
    for s in rule.SETTINGS
)

DOMAIN = Domain(
    name="assessments",
    blueprints=views.blueprints,
    api_blueprints=api.blueprints,
    commands=cli.COMMANDS,
    settings=SETTINGS,
    codes=codes.ALL,
    audit_terms=audit_terms.TERMS,
    duties=duties.DUTIES,
    matrix_columns=accountability.COLUMNS,
    measures=appraisal.MEASURES,
    trace_sources=trace.SOURCES,
    jobs=jobs.JOBS,
    figures=figures.FIGURES,
    tiles=dashboard.TILES,
    chapters=(*chapters.CHAPTERS, *dossier.CHAPTERS),
    menu=(
        MenuItem("assessments.index", N_("Assessments")),
        MenuItem("risks.index", N_("Risks")),
    ),
    asset_sections=(AssetSection(calendar.TEMPLATE, calendar.asset_calendar),),
    registers=(exchange.RISKS, exchange.ASSESSMENTS),
    demo=demo.load,
)

__all__ = ["DOMAIN", "models", "services"]
