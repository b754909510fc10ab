"""The lapse of the scans domain that the accountability trace follows
(secgov.accountability.trace): a scan refused because no authorization covered it (the audit
entry `scan.refused`; the asset's scan owner answers for the asset being probed without cover,
or its owner when no scan owner was named then, from the moment of the refusal)."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlmodel import Session

from assets.duties import OWNER_DUTY
from assets.services import SUBJECT, get_asset
from scans.duties import ANSWERS, DUTY, SCAN_OWNER
from secgov import responsibility
from secgov.accountability.trace import Lapse, TraceSource, number
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.errors import NotFound
from secgov.localtime import instant
from secgov.models import AuditEntry


def refused_scan(session: Session, actor: Actor, ref: str, config: ServiceConfig, today: date) -> Lapse | None:
    """ref: "ASSET_ID/SEQ", the asset (looked up in scope first) and the sequence number of the
    audit entry `scan.refused` about it."""
    asset_ref, _sep, seq = ref.partition("/")
    asset_id, entry_seq = number(asset_ref), number(seq)
    asset = get_asset(session, asset_id, actor)
    entry = session.get(AuditEntry, entry_seq)
    if entry is None or entry.object_type != "asset" or entry.object_id != str(asset.id):
        raise NotFound(_("Not found."))
    if entry.action != "scan.refused":
        return None
    at = instant(entry.created_at)
    duty = responsibility.duty_answering(session, SUBJECT, asset.id, ANSWERS, at)
    return Lapse(
        kind="scan_refused", record_type="asset", record_id=asset.id, title=f"{asset.code} {asset.name}",
        at=at, department_id=asset.department_id, subject_type=SUBJECT, subject_id=asset.id, duty=duty,
        duty_label=(DUTY if duty == SCAN_OWNER else OWNER_DUTY).label,
    )  # fmt: skip


SOURCES = (TraceSource("scan_refused", N_("Scan refused without authorization"), refused_scan),)
