"""The JSON API under /api/v1: bearer tokens only, the SPEC's error format, OpenAPI 3."""

from secgov.api import audit, core, directory

blueprints = (core.bp, directory.bp, audit.bp)
