"""The drills domain: incident-response drills planned, conducted and recorded (timelines,
measured response times against the reporting deadlines, P/S/M/U ratings), their after-action
reports and improvement plans (corrective actions, which escalate when overdue and may become
risks), leaders' requests for drills, the required coverage, and personal calendar feeds. Its
contributions to the app are declared here."""

from drills import actions, api, audit_terms, cli, codes, models, services, settings, views
from secgov.registry import Domain

DOMAIN = Domain(
    name="drills",
    blueprints=views.blueprints,
    api_blueprints=api.blueprints,
    commands=cli.COMMANDS,
    codes=codes.ALL,
    settings=settings.SETTINGS,
    audit_terms=audit_terms.TERMS,
)

__all__ = ["DOMAIN", "actions", "models", "services"]
