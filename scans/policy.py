"""How each asset may be scanned: its network zone, whether it is fragile (then only the
discovery profile unless a leader's authorization names more, at a limited rate, and only inside
its maintenance windows). Officers and admins set it for the assets in their scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlmodel import Session, select

from assets.models import Asset
from scans import rule
from scans.models import ScanPolicy
from scans.schemas import PolicyRead, PolicyUpdate
from secgov import audit
from secgov.authz import Actor, get_scoped
from secgov.errors import check_version


@dataclass(frozen=True)
class Effective:
    """An asset's policy as it applies: a row's values or the defaults."""

    zone: str
    fragile: bool
    fragile_marked: bool | None
    windows: list[dict]
    max_rate: int | None
    version: int

    @property
    def rate(self) -> int | None:
        """nmap's --max-rate for the asset: its own, or the fragile default."""
        if self.max_rate is not None:
            return self.max_rate
        return rule.FRAGILE_MAX_RATE if self.fragile else None


def effective(session: Session, asset: Asset) -> Effective:
    row = session.get(ScanPolicy, asset.id)
    marked = row.fragile if row else None
    return Effective(
        zone=row.zone if row else rule.LOCAL_ZONE,
        fragile=rule.is_fragile(asset.sector, asset.is_cii, marked),
        fragile_marked=marked,
        windows=list(row.windows) if row else [],
        max_rate=row.max_rate if row else None,
        version=row.version if row else 0,
    )


def effective_many(session: Session, assets: list[Asset]) -> dict[int, Effective]:
    """The policies of many assets in one statement."""
    ids = [a.id for a in assets]
    rows = {}
    if ids:
        rows = {r.asset_id: r for r in session.exec(select(ScanPolicy).where(ScanPolicy.asset_id.in_(ids))).all()}
    result = {}
    for asset in assets:
        row = rows.get(asset.id)
        marked = row.fragile if row else None
        result[asset.id] = Effective(
            zone=row.zone if row else rule.LOCAL_ZONE,
            fragile=rule.is_fragile(asset.sector, asset.is_cii, marked),
            fragile_marked=marked,
            windows=list(row.windows) if row else [],
            max_rate=row.max_rate if row else None,
            version=row.version if row else 0,
        )
    return result


def read(asset: Asset, policy: Effective) -> PolicyRead:
    return PolicyRead(
        asset_id=asset.id,
        zone=policy.zone,
        fragile=policy.fragile,
        fragile_marked=policy.fragile_marked,
        windows=policy.windows,
        max_rate=policy.max_rate,
        version=policy.version,
    )


def update(session: Session, actor: Actor, asset_id: int, data: PolicyUpdate) -> Effective:
    """Set an asset's scan policy (the version read, when a policy exists: 0 before the first)."""
    asset = get_scoped(session, Asset, asset_id, actor)
    row = session.get(ScanPolicy, asset.id)
    if row is not None and data.version is not None:
        check_version(row, data.version)
    before = effective(session, asset)
    if row is None:
        row = ScanPolicy(asset_id=asset.id, version=1)
    else:
        row.version += 1
    row.zone = data.zone
    row.fragile = data.fragile
    row.windows = [w.model_dump() for w in data.windows]
    row.max_rate = data.max_rate
    row.updated_by = actor.username
    row.updated_at = datetime.now(UTC)
    session.add(row)
    session.flush()
    after = effective(session, asset)
    fields = ("zone", "fragile_marked", "windows", "max_rate")
    changed = [f for f in fields if getattr(before, f) != getattr(after, f)]
    audit.record(
        session, actor, "scan_policy.updated", object_type="asset", object_id=asset.id,
        department_id=asset.department_id, asset=asset.code,
        before={f: getattr(before, f) for f in changed}, after={f: getattr(after, f) for f in changed},
    )  # fmt: skip
    return after


def may_start_now(policy: Effective, now: datetime, timezone: str) -> bool:
    """Do the asset's maintenance windows let a scan start at `now`? Only fragile assets are held
    to their windows."""
    if not policy.fragile:
        return True
    return rule.in_window(policy.windows, now.astimezone(ZoneInfo(timezone)))


def window_message() -> str:
    return _("This asset is fragile: scans may start only inside its maintenance windows.")
