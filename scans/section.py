"""The asset page's scans section (declared as a `secgov.registry.AssetSection`): the asset's scan
policy (zone, fragile and why, maintenance windows, rate), "Scan now" with the profile, the last
runs and the open findings. The asset domain includes it without importing this package."""

from __future__ import annotations

from babel.dates import get_day_names
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlmodel import Session

from scans import findings, policy, rule, services
from scans.schemas import FindingQuery
from secgov.authz import Actor
from secgov.config import ServiceConfig

TEMPLATE = "scans/_asset_scans.html"
HISTORY = 10


def fragile_reason(asset, applied: policy.Effective) -> str:
    """Why the asset is fragile or not, in words."""
    if applied.fragile_marked is not None:
        if applied.fragile:
            return _("Marked fragile in its scan policy.")
        return _("Marked not fragile in its scan policy.")
    if applied.fragile:
        return _(
            "Critical information infrastructure of a sector whose controllers a port scan can stop (the default)."
        )
    return _("Not fragile (the default for its sector and CII status).")


def asset_scans(session: Session, actor: Actor, config: ServiceConfig, asset) -> dict:
    """The section's context for one asset already found in the actor's scope."""
    applied = policy.effective(session, asset)
    days = get_day_names("abbreviated", locale=get_locale())
    open_findings, open_total = findings.list_findings(
        session, actor, FindingQuery(asset_id=asset.id, status="open", page_size=20), config.timezone
    )
    return {
        "asset_id": asset.id,
        "targets": list(asset.network_targets or []),
        "policy": applied,
        "fragile_reason": fragile_reason(asset, applied),
        "windows": rule.describe_windows(applied.windows, [days[i] for i in range(7)]),
        "history": services.history(session, asset.id, HISTORY),
        "open_findings": open_findings,
        "open_total": open_total,
    }
