"""The vendor-origin rule (SPEC §1): the city-wide setting that configures it, when an engagement
runs, and `evaluate`, the one place the rule lives (pure: no database). In a critical sector, a
foreign or joint-venture planner, builder or operator is a violation on a classified asset and a
warning on any other; a leader's approved exemption clears a warning (never a violation) until it
expires.

Below both the vendor register (`assets.vendors`, which audits what a change of origin does to
the findings) and the compliance services (`assets.policy`), which load rows and hand them here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, or_
from sqlmodel import Session, select

from assets.codes import DOMESTIC, VENDOR_ORIGIN
from assets.models import Asset, Engagement, Vendor, VendorExemption
from assets.schemas import Outcome, PolicyRead
from secgov import catalog, settings
from secgov.codes import N_, SECTOR
from secgov.config import ServiceConfig
from secgov.errors import Invalid


def today_utc() -> date:
    return datetime.now(UTC).date()


# --- when an engagement runs ---------------------------------------------------------------------


def is_active(engagement: Engagement, today: date) -> bool:
    """Whether the engagement runs on today (its start and end days included)."""
    started = engagement.started_on is None or engagement.started_on <= today
    return started and (engagement.ended_on is None or engagement.ended_on >= today)


def runs_on(today: date):
    """is_active as a WHERE clause: the engagements running on today."""
    return and_(
        or_(Engagement.started_on.is_(None), Engagement.started_on <= today),
        or_(Engagement.ended_on.is_(None), Engagement.ended_on >= today),
    )


# --- the setting ---------------------------------------------------------------------------------


def _policy_default(_config: ServiceConfig) -> dict:
    return {
        "enabled": True,
        "critical_sectors": catalog.critical_sectors(),
        "restricted_roles": catalog.restricted_roles(),
        "restricted_origins": [code for code in VENDOR_ORIGIN.codes if code != DOMESTIC],
    }


def _check_policy(value: Any, _config: ServiceConfig) -> dict:
    """Every code known; only planning, building and operating can be restricted (SPEC §1)."""
    known: dict[str, list[str]] = {
        "critical_sectors": list(SECTOR.codes),
        "restricted_roles": catalog.restricted_roles(),
        "restricted_origins": list(VENDOR_ORIGIN.codes),
    }
    if not isinstance(value, dict) or set(value) != {"enabled", *known} or not isinstance(value["enabled"], bool):
        raise Invalid(_("The vendor-origin policy setting is malformed."), field="vendor_origin_policy")
    for key, codes in known.items():
        given = value[key]
        if not isinstance(given, list) or not all(isinstance(code, str) for code in given):
            raise Invalid(_("The vendor-origin policy setting is malformed."), field=key)
        unknown = [code for code in given if code not in codes]
        if unknown:
            raise Invalid(_("Not allowed in the vendor-origin policy: %(code)s", code=unknown[0][:40]), field=key)
    # Stored in catalog order, without duplicates.
    return {"enabled": value["enabled"], **{key: [c for c in codes if c in value[key]] for key, codes in known.items()}}


def _read_policy_form(form: settings.FormData) -> dict:
    return {
        "enabled": form.get("enabled", "") != "",
        "critical_sectors": form.getlist("critical_sectors"),
        "restricted_roles": form.getlist("restricted_roles"),
        "restricted_origins": form.getlist("restricted_origins"),
    }


POLICY = settings.Setting(
    "vendor_origin_policy",
    _policy_default,
    _check_policy,
    type=PolicyRead,
    label=N_("Vendor-origin policy"),
    help=N_(
        "In a critical sector, a restricted planner, builder or operator is a violation on a classified "
        "system and a warning on any other."
    ),
    form="policy/_setting.html",
    read_form=_read_policy_form,
)


def get_policy(session: Session, config: ServiceConfig) -> dict:
    """The vendor-origin policy as configured."""
    return settings.get(session, POLICY, config)


# --- the rule ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One engagement the policy flags, and the exemption that clears it (outcome "exempted")."""

    engagement: Engagement
    vendor: Vendor
    outcome: Outcome
    exemption: VendorExemption | None = None


def exemption_valid(exemption: VendorExemption, today: date) -> bool:
    """Approved and not yet expired: an exemption ends on its expires_on day."""
    return exemption.status == "approved" and exemption.expires_on > today


def evaluate(
    asset: Asset,
    engagements_with_vendors: Iterable[tuple[Engagement, Vendor]],
    approved_exemptions: Iterable[VendorExemption],
    policy: Mapping[str, Any],
    today: date,
) -> list[Finding]:
    """The policy's findings on one asset's engagements on a given day. Pure: no database."""
    if not policy.get("enabled") or asset.sector not in policy.get("critical_sectors", ()):
        return []
    # Advisers, investors and product suppliers never trigger, whatever the setting says.
    roles = set(policy.get("restricted_roles", ())) & set(catalog.restricted_roles())
    origins = set(policy.get("restricted_origins", ()))
    clearing: dict[int, VendorExemption] = {}
    for exemption in approved_exemptions:
        if exemption_valid(exemption, today):
            known = clearing.get(exemption.engagement_id)
            if known is None or exemption.expires_on > known.expires_on:
                clearing[exemption.engagement_id] = exemption
    findings = []
    for engagement, vendor in engagements_with_vendors:
        if engagement.role not in roles or vendor.origin not in origins or not is_active(engagement, today):
            continue
        if asset.classified:
            findings.append(Finding(engagement, vendor, "violation"))
        elif engagement.id in clearing:
            findings.append(Finding(engagement, vendor, "exempted", clearing[engagement.id]))
        else:
            findings.append(Finding(engagement, vendor, "warning"))
    return findings


def approved_exemptions(session: Session, engagement_ids: list[int]) -> dict[int, list[VendorExemption]]:
    if not engagement_ids:
        return {}
    rows = session.exec(
        select(VendorExemption).where(
            VendorExemption.engagement_id.in_(engagement_ids), VendorExemption.status == "approved"
        )
    ).all()
    result: dict[int, list[VendorExemption]] = {}
    for row in rows:
        result.setdefault(row.engagement_id, []).append(row)
    return result
