"""The JSON API under /api/v1: bearer tokens only, the SPEC's error format, OpenAPI 3."""

from __future__ import annotations

from flask import Blueprint

from secgov.api import (
    accountability,
    accountability_matrix,
    accountability_trace,
    appraisal,
    audit,
    core,
    dashboard,
    directory,
    jobs,
    registers,
    reports,
    settings,
    snapshots,
)
from secgov.registry import Registry


def blueprints(registry: Registry) -> list[Blueprint]:
    """The core's API blueprints for an app with this registry's domains."""
    return [
        core.bp,
        directory.bp,
        audit.bp,
        jobs.bp,
        reports.bp,
        dashboard.bp,
        accountability.bp,
        accountability_matrix.bp,
        registers.blueprint(registry.registers),
        settings.blueprint(registry.settings),
        snapshots.blueprint(registry.figures),
        accountability_trace.bp,
        appraisal.bp,
    ]
