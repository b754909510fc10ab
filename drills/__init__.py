"""The drills domain: incident-response drills and their records (built by its issue). Its
contributions to the app are declared here."""

from drills import models, views
from secgov.registry import Domain

DOMAIN = Domain(name="drills", blueprints=(views.bp,))

__all__ = ["DOMAIN", "models"]
