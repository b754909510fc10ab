"""The drills domain: incident-response drills planned, conducted and recorded (timelines,
measured response times against the reporting deadlines, P/S/M/U ratings), their after-action
reports and improvement plans (corrective actions, which escalate when overdue and may become
risks), leaders' requests for drills, the required coverage, and personal calendar feeds. Its
contributions to the app are declared here."""

from drills import actions, api, audit_terms, codes, models, services, settings, views
from secgov.codes import N_
from secgov.registry import Domain, MenuItem

DOMAIN = Domain(
    name="drills",
    blueprints=views.blueprints,
    api_blueprints=api.blueprints,
    codes=codes.ALL,
    settings=settings.SETTINGS,
    audit_terms=audit_terms.TERMS,
    menu=(MenuItem("drills.index", N_("Drills")),),
)

__all__ = ["DOMAIN", "actions", "models", "services"]
