"""Scan authorizations: permission to scan a list of targets, for a purpose, in a network zone,
within a validity window. Officers and admins ask; a leader other than the requester approves
or rejects; the requester, an admin or a leader revokes. Every authorization lies inside the
networks scans may reach (the city-wide setting under SECGOV_SCAN_ALLOWED_NETWORKS) and covers
the assets of its department's subtree only.

`covering` is the one check every scan passes before it is queued and again before nmap starts:
no authorization covering every target, no scan, with a message naming the uncovered target."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func
from sqlmodel import Session, select

from assets.models import Asset
from assets.targets import address_count
from scans import rule, scope
from scans.models import ScanAuthorization
from scans.schemas import AuthorizationCreate, AuthorizationQuery, AuthorizationRead, Decision, Rejection
from secgov import audit, directory, settings
from secgov.authz import Actor, in_scope, path_in_scope, scoped_row
from secgov.config import ServiceConfig
from secgov.errors import Conflict, Forbidden, Invalid, Refusal, check_version
from secgov.models import Department

# An authorization is valid for at most this long.
MAX_DAYS = 366
# Who revokes any authorization in their scope; anyone else revokes only their own request.
REVOKERS = ("admin", "leader")


def _snapshot(row: ScanAuthorization) -> dict[str, Any]:
    return {
        "scope": list(row.scope),
        "purpose": row.purpose,
        "zone": row.zone,
        "valid_from": row.valid_from,
        "valid_until": row.valid_until,
        "max_profile": row.max_profile,
        "fragile_profile": row.fragile_profile,
        "status": row.status,
    }


def _outside_message(target: str, reason: str) -> str:
    if reason == "unresolvable":
        return _("%(target)s: the host name does not resolve to an address.", target=target)
    return _("%(target)s lies outside the networks that scans may reach (the city-wide setting).", target=target)


def request(session: Session, actor: Actor, data: AuthorizationCreate, config: ServiceConfig) -> ScanAuthorization:
    """Ask for an authorization (pending until a leader decides)."""
    if (data.valid_until - data.valid_from).days > MAX_DAYS:
        raise Invalid(_("An authorization is valid for at most %(num)d days.", num=MAX_DAYS), field="valid_until")
    if data.valid_until <= datetime.now(UTC):
        raise Invalid(_("The validity must not have ended already."), field="valid_until")
    for target in data.scope:
        if address_count(target) > config.max_target_addresses:
            raise Invalid(
                _("%(value)s is larger than the %(n)d addresses allowed.", value=target, n=config.max_target_addresses),
                field="scope",
            )
    allowed = settings.allowed_networks(session, config)
    outside = scope.uncovered(data.scope, data.scope, allowed)
    if outside:
        target, reason = outside[0]
        raise Invalid(_outside_message(target, reason), field="scope")
    if data.department:
        department = directory.get_department(session, data.department, actor)
    else:
        department = session.get(Department, actor.department_id) if actor.department_id else None
        if department is None:
            department = session.exec(select(Department).where(Department.parent_id.is_(None))).first()
    row = ScanAuthorization(
        department_id=department.id,
        scope=list(data.scope),
        purpose=data.purpose,
        zone=data.zone,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        max_profile=data.max_profile,
        fragile_profile=data.fragile_profile,
        requested_by=actor.username,
    )
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "scan_authorization.requested", object_type="scan_authorization", object_id=row.id,
        department_id=row.department_id, after=_snapshot(row),
    )  # fmt: skip
    return row


def get(session: Session, actor: Actor, authorization_id: int) -> ScanAuthorization:
    """An authorization in the actor's scope (its department's subtree), else NotFound."""
    statement = (
        select(ScanAuthorization.id, Department.path)
        .outerjoin(Department, Department.id == ScanAuthorization.department_id)
        .where(ScanAuthorization.id == authorization_id)
    )
    scoped_row(session, statement, actor, "scan_authorization", authorization_id)
    return session.get(ScanAuthorization, authorization_id)


def _decide(session: Session, actor: Actor, row: ScanAuthorization, version: int, action: str) -> None:
    check_version(row, version)
    if row.status != "pending":
        raise Conflict(_("This authorization has been decided already."))
    if actor.username == row.requested_by:
        raise Forbidden(
            _("You cannot decide on an authorization you asked for: another leader must."),
            refusal=Refusal(actor, "scan_authorization.denied", "scan_authorization", row.id, {"action": action}),
        )


def approve(
    session: Session, actor: Actor, authorization_id: int, data: Decision, config: ServiceConfig
) -> ScanAuthorization:
    """A leader approves (never their own request). The scope is checked against the allowed
    networks again: the setting may have narrowed since the request."""
    row = get(session, actor, authorization_id)
    _decide(session, actor, row, data.version, "approve")
    outside = scope.uncovered(row.scope, row.scope, settings.allowed_networks(session, config))
    if outside:
        raise Invalid(_outside_message(*outside[0]), field="scope")
    if row.valid_until <= datetime.now(UTC):
        raise Conflict(_("This authorization's validity has ended; ask for a new one."))
    row.status, row.approved_by, row.decided_at = "approved", actor.username, datetime.now(UTC)
    row.decision_reason = data.reason
    row.version += 1
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "scan_authorization.approved", object_type="scan_authorization", object_id=row.id,
        department_id=row.department_id, reason=data.reason,
    )  # fmt: skip
    return row


def reject(session: Session, actor: Actor, authorization_id: int, data: Rejection) -> ScanAuthorization:
    row = get(session, actor, authorization_id)
    _decide(session, actor, row, data.version, "reject")
    row.status, row.approved_by, row.decided_at = "rejected", actor.username, datetime.now(UTC)
    row.decision_reason = data.reason
    row.version += 1
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "scan_authorization.rejected", object_type="scan_authorization", object_id=row.id,
        department_id=row.department_id, reason=data.reason,
    )  # fmt: skip
    return row


def may_revoke(row: ScanAuthorization, username: str, roles: Collection[str]) -> bool:
    """May this person revoke the authorization: its requester, an admin or a leader."""
    return bool(set(roles) & set(REVOKERS)) or username == row.requested_by


def revoke(
    session: Session, actor: Actor, authorization_id: int, data: Rejection, *, roles: Collection[str] | None = None
) -> ScanAuthorization:
    """End an approved or pending authorization now; scans queued under it fail when they start.
    `roles`: the person's roles (None for the system); without one of REVOKERS, only the
    requester may revoke (refused and audited otherwise)."""
    row = get(session, actor, authorization_id)
    if roles is not None and not may_revoke(row, actor.username, roles):
        raise Forbidden(
            _("Only the requester, an admin or a leader can revoke an authorization."),
            refusal=Refusal(actor, "scan_authorization.denied", "scan_authorization", row.id, {"action": "revoke"}),
        )
    check_version(row, data.version)
    if row.status not in ("pending", "approved"):
        raise Conflict(_("Only a pending or approved authorization can be revoked."))
    row.status, row.decision_reason = "revoked", data.reason
    row.decided_at = datetime.now(UTC)
    row.version += 1
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "scan_authorization.revoked", object_type="scan_authorization", object_id=row.id,
        department_id=row.department_id, reason=data.reason,
    )  # fmt: skip
    return row


def read(row: ScanAuthorization, department: str) -> AuthorizationRead:
    """An authorization as the API shows it, with its department's code."""
    fields = {name: getattr(row, name) for name in AuthorizationRead.model_fields if name != "department"}
    return AuthorizationRead.model_validate({**fields, "department": department})


def list_authorizations(
    session: Session, actor: Actor, query: AuthorizationQuery, now: datetime | None = None
) -> tuple[list[ScanAuthorization], int]:
    now = now or datetime.now(UTC)
    where = [in_scope(ScanAuthorization.department_id, actor)]
    if query.status:
        where.append(ScanAuthorization.status == query.status)
    if query.zone:
        where.append(ScanAuthorization.zone == query.zone)
    if query.live:
        where += [
            ScanAuthorization.status == "approved",
            ScanAuthorization.valid_from <= now,
            ScanAuthorization.valid_until > now,
        ]
    total = session.exec(select(func.count()).select_from(ScanAuthorization).where(*where)).one()
    rows = session.exec(
        select(ScanAuthorization)
        .where(*where)
        .order_by(ScanAuthorization.id.desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return list(rows), total


def department_codes(session: Session, rows: Sequence[ScanAuthorization]) -> dict[int, str]:
    ids = {row.department_id for row in rows}
    if not ids:
        return {}
    return dict(session.exec(select(Department.id, Department.code).where(Department.id.in_(ids))).all())


# --- the check every scan passes -------------------------------------------------------------------


class NotCovered(Forbidden):
    """No authorization covers a scan; `target` names the first uncovered target."""


def live(session: Session, zone: str, now: datetime) -> list[tuple[ScanAuthorization, str]]:
    """Approved authorizations of a zone valid at `now`, with their department's path."""
    return list(
        session.exec(
            select(ScanAuthorization, Department.path)
            .join(Department, Department.id == ScanAuthorization.department_id)
            .where(
                ScanAuthorization.status == "approved",
                ScanAuthorization.zone == zone,
                ScanAuthorization.valid_from <= now,
                ScanAuthorization.valid_until > now,
            )
            .order_by(ScanAuthorization.valid_until.desc(), ScanAuthorization.id)
        ).all()
    )


def covering(
    session: Session,
    actor: Actor,
    asset: Asset,
    asset_path: str,
    targets: Sequence[str],
    profile: str,
    *,
    zone: str,
    fragile: bool,
    config: ServiceConfig,
    now: datetime | None = None,
) -> ScanAuthorization:
    """The authorization under which `profile` may scan these targets of the asset now: approved,
    valid now, in the asset's zone, of a department whose subtree holds the asset, covering every
    target inside the allowed networks, and allowing the profile (for a fragile asset, its
    `fragile_profile`). Else NotCovered naming the first uncovered target (or why none applies),
    the refusal audited."""
    now = now or datetime.now(UTC)
    allowed = settings.allowed_networks(session, config)
    outside = scope.uncovered(targets, targets, allowed)

    def not_covered(message: str, **detail: Any) -> NotCovered:
        return NotCovered(
            message,
            field="asset_id",
            refusal=Refusal(
                actor, "scan.refused", "asset", asset.id,
                {"asset": asset.code, "profile": profile, "zone": zone, **detail},
            ),
        )  # fmt: skip

    if outside:
        target, reason = outside[0]
        raise not_covered(_outside_message(target, reason), target=target, reason=reason)
    candidates = [row for row, path in live(session, zone, now) if asset_path.startswith(path)]
    if not candidates:
        raise not_covered(
            _("No approved scan authorization of the zone %(zone)s is valid now for this asset.", zone=zone),
            reason="no_authorization",
        )
    ceiling = "fragile_profile" if fragile else "max_profile"
    strong_enough = [row for row in candidates if rule.allowed_profile(profile, getattr(row, ceiling))]
    if not strong_enough:
        if fragile:
            message = _(
                "This asset is fragile: no authorization allows the profile %(profile)s on it; only a leader's "
                "authorization naming a stronger profile for fragile assets does.",
                profile=profile,
            )
        else:
            message = _("No valid authorization allows the profile %(profile)s.", profile=profile)
        raise not_covered(message, reason="profile")
    first_gap = None
    for row in strong_enough:
        gaps = scope.uncovered(targets, row.scope, allowed)
        if not gaps:
            return row
        first_gap = first_gap or gaps[0][0]
    raise not_covered(
        _("No valid authorization covers the target %(target)s.", target=first_gap),
        target=first_gap,
        reason="outside_scope",
    )


def in_department_scope(path: str, actor: Actor) -> bool:
    return path_in_scope(path, actor)
