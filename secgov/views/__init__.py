"""Web pages of the core: sign-in, account, administration, audit log, home."""

from __future__ import annotations

from flask import Blueprint

from secgov.registry import Registry
from secgov.views import (
    account,
    accountability,
    accountability_matrix,
    accountability_trace,
    admin,
    audit_log,
    auth_views,
    jobs,
    main,
    registers,
    reports,
)


def blueprints(registry: Registry) -> list[Blueprint]:
    """The core's page blueprints for an app with this registry's domains."""
    return [
        main.bp,
        auth_views.bp,
        account.bp,
        admin.bp,
        audit_log.bp,
        jobs.bp,
        reports.bp,
        accountability.bp,
        accountability_matrix.bp,
        accountability_trace.bp,
        registers.blueprint(registry.registers),
    ]
