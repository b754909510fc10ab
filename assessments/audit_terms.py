"""The assessments domain's words in the audit log (see secgov.audit_terms): its actions, the
objects they name and the page of each, and the fields of their details."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session, select

from assessments.models import Assessment, Risk
from assets.models import Asset
from secgov.audit_terms import AuditTerms, FieldTerm, ObjectKind
from secgov.authz import Actor, in_scope
from secgov.codes import N_


def _numbers(ids: Sequence[str]) -> set[int]:
    return {int(i) for i in ids if i.isdigit() and len(i) < 19}


def _assessments(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    rows = session.exec(
        select(Assessment.id)
        .join(Asset, Asset.id == Assessment.asset_id)
        .where(Assessment.id.in_(list(_numbers(ids))), in_scope(Asset.department_id, actor))
    ).all()
    return {str(i): i for i in rows}


def _risks(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    rows = session.exec(
        select(Risk.id)
        .join(Asset, Asset.id == Risk.asset_id)
        .where(Risk.id.in_(list(_numbers(ids))), in_scope(Asset.department_id, actor))
    ).all()
    return {str(i): i for i in rows}


TERMS = AuditTerms(
    actions={
        "assessment.created": N_("Assessment started"),
        "assessment.updated": N_("Assessment changed"),
        "assessment.deleted": N_("Draft assessment removed"),
        "assessment.submitted": N_("Assessment submitted"),
        "assessment.approved": N_("Assessment approved"),
        "assessment.returned": N_("Assessment returned"),
        "assessment.finding_added": N_("Assessment finding recorded"),
        "assessment.finding_removed": N_("Assessment finding removed"),
        "assessment.overdue": N_("Assessment overdue"),
        "assessment.reminded": N_("Reminder of an assessment due sent"),
        "risk.created": N_("Risk registered"),
        "risk.updated": N_("Risk changed"),
        "risk.reviewed": N_("Risk reviewed"),
        "risk.accepted": N_("Risk accepted"),
        "risk.deleted": N_("Risk removed"),
        "risk.relevelled": N_("Risk level recomputed with a new matrix"),
        "risk.treatment_overdue": N_("Risk treatment overdue"),
        "risk.review_overdue": N_("Risk review overdue"),
        "risk.reminded": N_("Reminder about a risk sent"),
        "risk_acceptance.expired": N_("Risk acceptance expired: the risk is open again"),
        "risk_acceptance.revoked": N_("Risk acceptance ended"),
        "demo.assessments_loaded": N_("Demo assessments and risks loaded"),
    },
    groups={
        "assessment": N_("Assessments"),
        "risk": N_("Risks"),
        "risk_acceptance": N_("Risk acceptances"),
    },
    objects={
        "assessment": ObjectKind(N_("Assessment"), "assessments.detail", "assessment_id", _assessments),
        "risk": ObjectKind(N_("Risk"), "risks.detail", "risk_id", _risks),
    },
    fields={
        "kind": FieldTerm(N_("Kind"), codes="assessment_kind"),
        "assessment.status": FieldTerm(N_("Status"), codes="assessment_status"),
        "risk.status": FieldTerm(N_("Status"), codes="risk_status"),
        "title": FieldTerm(N_("Title")),
        "assessors": FieldTerm(N_("Assessors")),
        "finished_on": FieldTerm(N_("Finished on")),
        "agency": FieldTerm(N_("Agency")),
        "report_number": FieldTerm(N_("Report number")),
        "agency_score": FieldTerm(N_("Agency's score")),
        "summary": FieldTerm(N_("Summary")),
        "score": FieldTerm(N_("Score")),
        "conclusion": FieldTerm(N_("Conclusion"), codes="conclusion"),
        "areas": FieldTerm(N_("Areas"), codes="area"),
        "controls": FieldTerm(N_("Controls reviewed")),
        "finding": FieldTerm(N_("Finding")),
        "area": FieldTerm(N_("Area"), codes="area"),
        "control_id": FieldTerm(N_("Control")),
        "threat": FieldTerm(N_("Threat")),
        "vulnerability": FieldTerm(N_("Vulnerability")),
        "likelihood": FieldTerm(N_("Likelihood")),
        "impact": FieldTerm(N_("Impact")),
        "level": FieldTerm(N_("Level"), codes="risk_level"),
        "residual_level": FieldTerm(N_("Residual level"), codes="risk_level"),
        "residual_likelihood": FieldTerm(N_("Residual likelihood")),
        "residual_impact": FieldTerm(N_("Residual impact")),
        "treatment": FieldTerm(N_("Treatment"), codes="treatment"),
        "treatment_plan": FieldTerm(N_("Treatment plan")),
        "due_date": FieldTerm(N_("Due date")),
        "source": FieldTerm(N_("Source"), codes="risk_source"),
        "source_ref": FieldTerm(N_("Promoted from")),
        "acceptance": FieldTerm(N_("Acceptance")),
        "matrix": FieldTerm(N_("Risk matrix"), codes="matrix_profile"),
        "note": FieldTerm(N_("Note")),
        "owner": FieldTerm(N_("Owner")),
        "due_on": FieldTerm(N_("Due on")),
        "asset.state": FieldTerm(N_("State"), codes="due_state"),
        "risk.state": FieldTerm(N_("State"), codes="due_state"),
        "risk.reason": FieldTerm(N_("About"), codes="reminder_reason"),
        "recipient_ids": FieldTerm(N_("Recipients' user ids")),
    },
)
