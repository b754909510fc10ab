"""The asset domain's words in the audit log (see secgov.audit_terms): its actions, the objects
they name and the page of each, and the fields of their details."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, select

from assets.models import Asset, Engagement
from secgov.audit_terms import AuditTerms, FieldTerm, ObjectKind, list_page
from secgov.authz import Actor, in_scope
from secgov.codes import N_


def _assets(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    """Asset entries name an asset by its code (a responsibility by its id): the ids of those the
    reader may see."""
    codes = {i.lower(): i for i in ids}
    numbers = {int(i) for i in ids if i.isdigit() and len(i) < 19}
    rows = session.exec(
        select(Asset.id, Asset.code).where(
            or_(func.lower(Asset.code).in_(list(codes)), Asset.id.in_(list(numbers))),
            in_scope(Asset.department_id, actor),
        )
    ).all()
    found: dict[str, Any] = {str(asset_id): asset_id for asset_id, _code in rows if asset_id in numbers}
    # A code wins over an id that reads the same: entries name assets by code.
    found.update({codes[code.lower()]: asset_id for asset_id, code in rows if code.lower() in codes})
    return found


def _vendors(_session: Session, _actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    """Every department reads every vendor: an id is its page's argument."""
    return {i: int(i) for i in ids if i.isdigit() and len(i) < 19}


def _engagements(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    """An engagement is shown on its asset's page."""
    numbers = {int(i) for i in ids if i.isdigit() and len(i) < 19}
    rows = session.exec(
        select(Engagement.id, Engagement.asset_id)
        .join(Asset, Asset.id == Engagement.asset_id)
        .where(Engagement.id.in_(list(numbers)), in_scope(Asset.department_id, actor))
    ).all()
    return {str(engagement_id): asset_id for engagement_id, asset_id in rows}


TERMS = AuditTerms(
    actions={
        "asset.created": N_("Asset registered"),
        "asset.updated": N_("Asset changed"),
        "asset.deleted": N_("Asset removed"),
        "asset.code_taken": N_("Asset code refused: another department's asset has it"),
        "asset_control.updated": N_("Control status recorded"),
        "vendor.created": N_("Vendor added"),
        "vendor.updated": N_("Vendor changed"),
        "vendor.deleted": N_("Vendor removed"),
        "vendor.denied": N_("Vendor change refused: another department's vendor"),
        "vendor.origin_changed": N_("Vendor origin change moved compliance findings"),
        "engagement.created": N_("Vendor engaged on an asset"),
        "engagement.updated": N_("Engagement changed"),
        "engagement.deleted": N_("Engagement removed"),
        "vendor_exemption.requested": N_("Exemption requested"),
        "vendor_exemption.approved": N_("Exemption approved"),
        "vendor_exemption.rejected": N_("Exemption rejected"),
        "demo.assets_loaded": N_("Demo city loaded"),
    },
    groups={
        "asset": N_("Assets"),
        "asset_control": N_("Security controls"),
        "vendor": N_("Vendors"),
        "engagement": N_("Engagements"),
        "vendor_exemption": N_("Vendor-policy exemptions"),
        "demo": N_("Demo data"),
    },
    objects={
        "asset": ObjectKind(N_("Asset"), "assets.detail", "asset_id", _assets),
        "vendor": ObjectKind(N_("Vendor"), "vendors.detail", "vendor_id", _vendors),
        "engagement": ObjectKind(N_("Engagement"), "assets.detail", "asset_id", _engagements),
        "vendor_exemption": ObjectKind(N_("Vendor-policy exemption"), "policy.exemptions", locate=list_page),
    },
    fields={
        "description": FieldTerm(N_("Description")),
        "sector": FieldTerm(N_("Sector"), codes="sector"),
        "mlps_level": FieldTerm(N_("MLPS level"), codes="mlps_level"),
        "mlps_filing_number": FieldTerm(N_("MLPS filing number")),
        "mlps_extensions": FieldTerm(N_("MLPS extended requirements"), codes="mlps_extension"),
        "is_cii": FieldTerm(N_("Critical information infrastructure")),
        "classified": FieldTerm(N_("Classified")),
        "data_level": FieldTerm(N_("Data level"), codes="data_level"),
        "lifecycle": FieldTerm(N_("Lifecycle"), codes="lifecycle"),
        "network_targets": FieldTerm(N_("Network targets")),
        "expected_ports": FieldTerm(N_("Expected ports")),
        "asset": FieldTerm(N_("Asset")),
        "asset_id": FieldTerm(N_("Asset number")),
        "control": FieldTerm(N_("Control")),
        "asset.status": FieldTerm(N_("Status"), codes="control_status"),
        "evidence": FieldTerm(N_("Evidence")),
        "reviewer": FieldTerm(N_("Reviewer")),
        "reviewed_on": FieldTerm(N_("Reviewed on")),
        "origin": FieldTerm(N_("Origin"), codes="vendor_origin"),
        "country": FieldTerm(N_("Country"), codes="country"),
        "confidentiality_agreement_on": FieldTerm(N_("Confidentiality agreement signed on")),
        "vendor": FieldTerm(N_("Vendor")),
        "vendor_id": FieldTerm(N_("Vendor number")),
        "role": FieldTerm(N_("Role"), codes="vendor_role"),
        "started_on": FieldTerm(N_("Started on")),
        "ended_on": FieldTerm(N_("Ended on")),
        "engagement_id": FieldTerm(N_("Engagement")),
        "exemptions": FieldTerm(N_("Exemptions")),
        "vendor_exemption.status": FieldTerm(N_("Status"), codes="exemption_status"),
        "expires_on": FieldTerm(N_("Expires on")),
        "requested_by": FieldTerm(N_("Requested by")),
        "decided_by": FieldTerm(N_("Decided by")),
        "decision_note": FieldTerm(N_("Decision note")),
        "departments_affected": FieldTerm(N_("Departments affected")),
        "findings_before": FieldTerm(N_("Findings before"), codes="policy_outcome"),
        "findings_after": FieldTerm(N_("Findings after"), codes="policy_outcome"),
    },
)
