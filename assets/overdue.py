"""What is overdue in the asset registers, and who is responsible for it now.

Two duties have a date in the registers today:

- filing: a system graded at a level that must be filed with the public security organs (level 2
  and above) is filed within FILING_DAYS days of its grading (the 2007 MLPS administrative
  measures, art. 15); its due date is the day it was first graded at such a level (its grade
  history; its registration when it has none) plus those days;
- exemption: an approved vendor-origin exemption that expired while the engagement it cleared
  still runs and is still a violation; it was due on its expiry date.

The person responsible now is the system's owner (a Responsibility, duty "owner"); a system
without one shows "no owner". One service for the report's overdue chapter and the dashboard's
"waits for you" (the items whose owner is the reader)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from assets.models import Asset, AssetGrade, VendorExemption
from assets.schemas import FindingRead
from assets.services import OWNER, SUBJECT
from secgov import catalog, responsibility
from secgov.authz import Actor, in_scope
from secgov.config import ServiceConfig
from secgov.models import Department

FILING_DAYS = 30
KINDS = ("filing", "exemption")


@dataclass(frozen=True)
class Overdue:
    """An overdue duty on a system: its kind (KINDS), the system, its department's code, the
    day it was due, how many days late it is, what it concerns (a vendor's name for an exemption)
    and the owner now ("" and None: nobody)."""

    kind: str
    asset_id: int
    asset: str
    name: str
    department: str
    due: date
    days_late: int
    about: str
    owner: str
    owner_id: int | None

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "asset_id": self.asset_id,
            "asset": self.asset,
            "name": self.name,
            "department": self.department,
            "due": self.due.isoformat(),
            "days_late": self.days_late,
            "about": self.about,
            "owner": self.owner,
        }


def _local_day(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date() if moment.tzinfo else moment.date()


def filing_overdue(session: Session, actor: Actor, config: ServiceConfig, today: date) -> list[tuple]:
    """(asset id, code, name, department code, due day, about) of systems whose filing is late."""
    required_from = catalog.filing_required_from()
    first_graded = (
        select(func.min(AssetGrade.changed_at))
        .where(AssetGrade.asset_id == Asset.id, AssetGrade.mlps_level >= required_from)
        .scalar_subquery()
    )
    rows = session.exec(
        select(Asset.id, Asset.code, Asset.name, Department.code, func.coalesce(first_graded, Asset.created_at))
        .join(Department, Department.id == Asset.department_id)
        .where(in_scope(Asset.department_id, actor), Asset.mlps_level >= required_from, Asset.mlps_filing_number == "")
        .order_by(Asset.code)
    ).all()
    late = []
    for asset_id, code, name, department, graded in rows:
        due = _local_day(graded, config.timezone) + timedelta(days=FILING_DAYS)
        if due < today:
            late.append((asset_id, code, name, department, due, ""))
    return late


def exemptions_lapsed(session: Session, violations: Sequence[FindingRead], today: date) -> list[tuple]:
    """(asset id, code, name, department code, due day, vendor) of violations whose engagement had
    an approved exemption that expired: the violation has been overdue since that expiry."""
    by_engagement = {finding.engagement_id: finding for finding in violations}
    if not by_engagement:
        return []
    expired = session.exec(
        select(VendorExemption.engagement_id, func.max(VendorExemption.expires_on))
        .where(
            VendorExemption.engagement_id.in_(list(by_engagement)),
            VendorExemption.status == "approved",
            VendorExemption.expires_on <= today,
        )
        .group_by(VendorExemption.engagement_id)
    ).all()
    return [
        (f.asset_id, f.asset_code, f.asset_name, f.department, expires_on, f.vendor_name)
        for f, expires_on in ((by_engagement[engagement_id], expires_on) for engagement_id, expires_on in expired)
    ]


def overdue(
    session: Session, actor: Actor, config: ServiceConfig, today: date, violations: Sequence[FindingRead]
) -> list[Overdue]:
    """Every overdue duty in the actor's scope, the latest first, with the owner now (one query
    for the owners). `violations`: the vendor-origin violations of the same scope and day
    (`assets.policy.compliance`), which the caller has at hand."""
    found = [("filing", *row) for row in filing_overdue(session, actor, config, today)]
    found += [("exemption", *row) for row in exemptions_lapsed(session, violations, today)]
    owners = responsibility.holders(session, SUBJECT, {row[1] for row in found}, OWNER)
    items = []
    for kind, asset_id, code, name, department, due, about in found:
        owner = owners.get(asset_id)
        items.append(
            Overdue(
                kind=kind,
                asset_id=asset_id,
                asset=code,
                name=name,
                department=department,
                due=due,
                days_late=(today - due).days,
                about=about,
                owner=(owner.display_name or owner.username) if owner else "",
                owner_id=owner.id if owner else None,
            )
        )
    return sorted(items, key=lambda item: (item.due, item.asset, item.kind))
