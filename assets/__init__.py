"""The asset domain: the inventory of the city's critical systems, their controls, vendors and
engagements, and the vendor-origin policy. Its contributions to the app are declared here."""

from assets import (
    accountability,
    api,
    audit_terms,
    chapters,
    cli,
    codes,
    controls,
    dashboard,
    demo,
    dossier,
    duties,
    exchange,
    figures,
    models,
    rule,
    views,
)
from secgov.codes import N_
from secgov.registry import Domain, MenuItem

DOMAIN = Domain(
    name="assets",
    blueprints=views.blueprints,
    api_blueprints=api.blueprints,
    commands=cli.COMMANDS,
    settings=(rule.POLICY,),
    catalogs=(controls.sync_catalog,),
    demo=demo.load,
    codes=codes.ALL,
    registers=(exchange.ASSETS, exchange.VENDORS),
    audit_terms=audit_terms.TERMS,
    duties=duties.DUTIES,
    matrix_rows=accountability.ROWS,
    matrix_columns=accountability.COLUMNS,
    figures=figures.FIGURES,
    tiles=dashboard.TILES,
    chapters=(*chapters.CHAPTERS, *dossier.CHAPTERS),
    report_kinds=(dossier.DOSSIER,),
    menu=(
        MenuItem("assets.index", N_("Assets")),
        MenuItem("vendors.index", N_("Vendors")),
        MenuItem("policy.compliance", N_("Vendor compliance")),
        MenuItem("policy.exemptions", N_("Exemptions")),
    ),
)

__all__ = ["DOMAIN", "models"]
