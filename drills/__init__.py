"""The drills domain: incident-response drills planned, conducted and recorded (timelines,
measured response times against the reporting deadlines, P/S/M/U ratings), their after-action
reports and improvement plans (corrective actions, which escalate when overdue and may become
risks), leaders' requests for drills, the required coverage, and personal calendar feeds. Its
contributions to the app are declared here."""

from drills import (
    aar,
    accountability,
    actions,
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
    jobs,
    models,
    services,
    settings,
    trace,
    views,
)
from secgov.codes import N_
from secgov.registry import Domain, MenuItem

DOMAIN = Domain(
    name="drills",
    blueprints=views.blueprints,
    api_blueprints=api.blueprints,
    commands=cli.COMMANDS,
    codes=codes.ALL,
    settings=settings.SETTINGS,
    audit_terms=audit_terms.TERMS,
    trace_sources=trace.SOURCES,
    duties=duties.DUTIES,
    demo=demo.load,
    jobs=jobs.JOBS,
    tiles=dashboard.TILES,
    figures=figures.FIGURES,
    chapters=(*chapters.CHAPTERS, *aar.CHAPTERS),
    report_kinds=aar.REPORT_KINDS,
    registers=(exchange.DRILLS, exchange.ACTIONS),
    matrix_columns=accountability.COLUMNS,
    measures=appraisal.MEASURES,
    menu=(MenuItem("drills.index", N_("Drills")),),
)

__all__ = ["DOMAIN", "actions", "models", "services"]
