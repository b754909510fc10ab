"""Web pages of the scans domain: scans and their results, the findings register with triage and
promotion, scan authorizations, and the forms of the asset page's scans section. One blueprint
("scans"), its routes in a module per subject."""

from scans.views import authorizations, findings, scans

blueprints = (scans.bp,)

__all__ = ["authorizations", "blueprints", "findings"]
