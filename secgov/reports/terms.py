"""What the reports' audit entries are called (merged into the registry's vocabulary)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session, select

from secgov.audit_terms import AuditTerms, FieldTerm, ObjectKind
from secgov.authz import Actor, in_scope
from secgov.codes import N_
from secgov.models import Report


def _reports_in_scope(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    wanted = [int(i) for i in ids if str(i).isdigit()]
    rows = session.exec(select(Report.id).where(Report.id.in_(wanted), in_scope(Report.department_id, actor))).all()
    return {str(report_id): report_id for report_id in rows}


AUDIT_TERMS = AuditTerms(
    actions={
        "report.requested": N_("Report asked for"),
        "report.generated": N_("Report generated"),
        "report.failed": N_("Report failed"),
        "report.downloaded": N_("Report downloaded"),
        "report.mailed": N_("Report's link e-mailed"),
        "report.registers_attached": N_("Report's registers attached"),
    },
    groups={"report": N_("Reports")},
    objects={"report": ObjectKind(N_("Report"), "reports.detail", "report_id", _reports_in_scope)},
    fields={
        "lang": FieldTerm(N_("Language")),
        "report_kind": FieldTerm(N_("Kind of report")),
        "subject": FieldTerm(N_("Subject")),
        "period": FieldTerm(N_("Period")),
        "sha256": FieldTerm(N_("SHA-256 of the file")),
        "input_sha256": FieldTerm(N_("SHA-256 of the input data")),
        "audit_head": FieldTerm(N_("Audit head")),
        "recipients": FieldTerm(N_("Recipients")),
        "attachments": FieldTerm(N_("Files that go with it")),
    },
)
