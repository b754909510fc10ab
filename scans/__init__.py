"""The scans domain: authorized nmap scans of the assets' network targets (fixed profiles, scan
authorizations, fragile assets and their maintenance windows, network zones and their agents),
the stored results, and the findings drawn from them. Its contributions to the app are declared
here."""

from scans import (
    accountability,
    api,
    appraisal,
    audit_terms,
    chapters,
    cli,
    codes,
    dashboard,
    demo,
    duties,
    exchange,
    figures,
    findings,
    jobs,
    models,
    section,
    services,
    settings,
    trace,
    views,
)
from secgov.codes import N_
from secgov.registry import AssetSection, Domain, MenuItem

DOMAIN = Domain(
    name="scans",
    blueprints=views.blueprints,
    api_blueprints=api.blueprints,
    commands=cli.COMMANDS,
    codes=codes.ALL,
    settings=settings.SETTINGS,
    audit_terms=audit_terms.TERMS,
    duties=duties.DUTIES,
    matrix_columns=accountability.COLUMNS,
    trace_sources=trace.SOURCES,
    jobs=jobs.JOBS,
    tiles=dashboard.TILES,
    figures=figures.FIGURES,
    chapters=chapters.CHAPTERS,
    registers=(exchange.FINDINGS, exchange.SCANS),
    demo=demo.load,
    measures=appraisal.MEASURES,
    menu=(MenuItem("scans.index", N_("Scans")),),
    asset_sections=(AssetSection(section.TEMPLATE, section.asset_scans),),
)

__all__ = ["DOMAIN", "findings", "models", "services"]
