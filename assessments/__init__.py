"""The assessments domain: periodic risk assessments and the risk register (built by its issue).
Its contributions to the app are declared here."""

from assessments import models, views
from secgov.registry import Domain

DOMAIN = Domain(name="assessments", blueprints=(views.bp,))

__all__ = ["DOMAIN", "models"]
