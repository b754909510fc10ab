"""The lapses of the assessments domain that the accountability trace follows
(secgov.accountability.trace): a risk whose treatment is overdue (its remediation owner answers,
from the day after its due date) and a required assessment that was missed (the asset's
assessment lead answers, from the day after it fell due, or its owner when no lead was named
then)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session

from assessments import rule, schedule
from assessments.duties import ANSWERS, ASSESSMENT_LEAD, LEAD
from assessments.models import Risk
from assessments.risks import OWNER, SUBJECT, get_risk, treatment_overdue
from assets.duties import OWNER_DUTY
from assets.models import Asset
from assets.services import SUBJECT as ASSET
from assets.services import get_asset
from secgov import responsibility
from secgov.accountability.trace import Lapse, TraceSource, number
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.localtime import day_start


def overdue_risk(session: Session, actor: Actor, ref: str, config: ServiceConfig, today: date) -> Lapse | None:
    risk: Risk = get_risk(session, number(ref), actor)
    if not treatment_overdue(risk, today):
        return None
    asset = session.get(Asset, risk.asset_id)
    return Lapse(
        kind="risk_overdue", record_type="risk", record_id=risk.id, title=f"{asset.code}: {risk.title}",
        at=day_start(risk.due_date + timedelta(days=1), config.timezone), department_id=asset.department_id,
        subject_type=SUBJECT, subject_id=risk.id, duty=OWNER, duty_label=N_("Remediation owner"),
    )  # fmt: skip


def missed_assessment(session: Session, actor: Actor, ref: str, config: ServiceConfig, today: date) -> Lapse | None:
    """ref: "ASSET_ID:KIND" (the asset and the kind of assessment, e.g. "12:mlps_evaluation")."""
    asset_ref, _sep, kind = ref.partition(":")
    asset = get_asset(session, number(asset_ref), actor)
    rows = schedule.assessed_assets(session, Asset.id == asset.id)
    due = next(
        (s.due for s in schedule.schedule(session, rows, rule.method(session, config)) if s.due.kind == kind), None
    )
    if due is None or due.due_on >= today:
        return None
    at = day_start(due.due_on + timedelta(days=1), config.timezone)
    duty = responsibility.duty_answering(session, ASSET, asset.id, ANSWERS, at)
    return Lapse(
        kind="assessment_missed", record_type="asset", record_id=asset.id, title=f"{asset.code} {asset.name}: {kind}",
        at=at, department_id=asset.department_id, subject_type=ASSET, subject_id=asset.id, duty=duty,
        duty_label=(ASSESSMENT_LEAD if duty == LEAD else OWNER_DUTY).label,
    )  # fmt: skip


SOURCES = (
    TraceSource("risk_overdue", N_("Risk treatment overdue"), overdue_risk),
    TraceSource("assessment_missed", N_("Required assessment missed"), missed_assessment),
)
