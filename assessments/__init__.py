"""The assessments domain: periodic risk assessments (six areas, approval, due dates from the
MLPS level and CII status) and the risk register (matrix, treatments, acceptances, reviews).
Its contributions to the app are declared here."""

from dataclasses import replace

from assessments import (
    api,
    audit_terms,
    chapters,
    cli,
    codes,
    dashboard,
    dossier,
    figures,
    jobs,
    models,
    risks,
    rule,
    services,
    views,
)
from secgov.registry import Domain

# A new risk matrix relevels every stored risk, in the transaction that stores it.
SETTINGS = tuple(
    replace(s, changed=lambda session, before, after, actor, _config: risks.relevel_all(session, before, after, actor))
    if s.key == rule.MATRIX.key
    else s
    for s in rule.SETTINGS
)

DOMAIN = Domain(
    name="assessments",
    blueprints=(views.bp,),
    api_blueprints=api.blueprints,
    commands=cli.COMMANDS,
    settings=SETTINGS,
    codes=codes.ALL,
    audit_terms=audit_terms.TERMS,
    jobs=jobs.JOBS,
    figures=figures.FIGURES,
    tiles=dashboard.TILES,
    chapters=(*chapters.CHAPTERS, *dossier.CHAPTERS),
)

__all__ = ["DOMAIN", "models", "services"]
