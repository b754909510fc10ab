"""The scans domain's words in the audit log (see secgov.audit_terms): its actions, the objects
they name and the page of each, and the fields of their details."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session, select

from assets.models import Asset
from scans.models import Scan, ScanAuthorization, ScanFinding
from secgov.audit_terms import AuditTerms, FieldTerm, ObjectKind
from secgov.authz import Actor, in_scope
from secgov.codes import N_


def _numbers(ids: Sequence[str]) -> list[int]:
    return [int(i) for i in ids if i.isdigit() and len(i) < 19]


def _by_asset(model: type):
    def locate(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
        rows = session.exec(
            select(model.id)
            .join(Asset, Asset.id == model.asset_id)
            .where(model.id.in_(_numbers(ids)), in_scope(Asset.department_id, actor))
        ).all()
        return {str(i): i for i in rows}

    return locate


def _authorizations(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    rows = session.exec(
        select(ScanAuthorization.id).where(
            ScanAuthorization.id.in_(_numbers(ids)), in_scope(ScanAuthorization.department_id, actor)
        )
    ).all()
    return {str(i): i for i in rows}


TERMS = AuditTerms(
    actions={
        "scan.requested": N_("Scan asked for"),
        "scan.refused": N_("Scan refused"),
        "scan.completed": N_("Scan completed"),
        "scan.failed": N_("Scan failed"),
        "scan.imported": N_("nmap results imported"),
        "scan_policy.updated": N_("Scan policy of an asset changed"),
        "scan_authorization.requested": N_("Scan authorization asked for"),
        "scan_authorization.approved": N_("Scan authorization approved"),
        "scan_authorization.rejected": N_("Scan authorization rejected"),
        "scan_authorization.revoked": N_("Scan authorization revoked"),
        "scan_authorization.denied": N_("Decision on a scan authorization refused"),
        "scan_finding.triaged": N_("Scan finding triaged"),
        "demo.scans_loaded": N_("Demo scans and findings loaded"),
        "scan_schedule.created": N_("Scan schedule created"),
        "scan_schedule.updated": N_("Scan schedule changed"),
        "scan_schedule.deleted": N_("Scan schedule deleted"),
    },
    groups={
        "scan": N_("Scans"),
        "scan_policy": N_("Scans"),
        "scan_authorization": N_("Scan authorizations"),
        "scan_finding": N_("Scan findings"),
        "scan_schedule": N_("Scan schedules"),
    },
    objects={
        "scan": ObjectKind(N_("Scan"), "scans.detail", "scan_id", _by_asset(Scan)),
        "scan_finding": ObjectKind(N_("Scan finding"), "scans.finding", "finding_id", _by_asset(ScanFinding)),
        "scan_authorization": ObjectKind(
            N_("Scan authorization"), "scans.authorization", "authorization_id", _authorizations
        ),
        "scan_schedule": ObjectKind(N_("Scan schedule")),
    },
    fields={
        "profile": FieldTerm(N_("Profile"), codes="scan_profile"),
        "zone": FieldTerm(N_("Network zone")),
        "authorization": FieldTerm(N_("Authorization")),
        "argv": FieldTerm(N_("Argument vector")),
        "scan_schedule": FieldTerm(N_("Scan schedule")),
        "scan": FieldTerm(N_("Scan")),
        "open_ports": FieldTerm(N_("Open ports")),
        "findings": FieldTerm(N_("Findings")),
        "elapsed": FieldTerm(N_("Seconds")),
        "sha256": FieldTerm(N_("SHA-256")),
        "hosts": FieldTerm(N_("Hosts")),
        "file": FieldTerm(N_("File")),
        "target": FieldTerm(N_("Target")),
        "scope": FieldTerm(N_("Scope")),
        "purpose": FieldTerm(N_("Purpose")),
        "valid_from": FieldTerm(N_("Valid from")),
        "valid_until": FieldTerm(N_("Valid until")),
        "max_profile": FieldTerm(N_("Strongest profile"), codes="scan_profile"),
        "fragile_profile": FieldTerm(N_("Strongest profile on fragile assets"), codes="scan_profile"),
        "scan_authorization.status": FieldTerm(N_("Status"), codes="authorization_status"),
        "scan_finding.status": FieldTerm(N_("Status"), codes="finding_status"),
        "scan.reason": FieldTerm(N_("Reason"), codes="scan_error"),
        "fragile_marked": FieldTerm(N_("Marked fragile")),
        "windows": FieldTerm(N_("Maintenance windows")),
        "max_rate": FieldTerm(N_("Packets per second at most")),
        "risk": FieldTerm(N_("Risk")),
        "triage": FieldTerm(N_("Triage")),
        "agent": FieldTerm(N_("Agent")),
        "selection": FieldTerm(N_("Selection of assets")),
    },
)
