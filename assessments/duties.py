"""The assessments domain's duties (secgov.accountability).

- An asset's assessment lead: who answers for the asset's required assessments. Nobody need be
  named: the asset's owner answers unless someone is (`ANSWERS`, the duties in order of
  precedence that every reader of the holder passes to secgov.responsibility). Assigned like the
  owner, by officers and admins in their scope.
- A risk's remediation owner: every live risk (open or in treatment) has one, who is accountable
  for treating it by its due date; officers and admins assign owners in their scope (the risk's
  form writes through the same mechanism, secgov.responsibility)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select
from sqlmodel import Session, select

from assessments.codes import LIVE_STATUSES
from assessments.models import Risk
from assessments.risks import OWNER, SUBJECT
from assessments.services import WRITERS
from assets import duties as asset_duties
from assets.models import Asset
from secgov.accountability.duties import Duty, Subject
from secgov.codes import N_
from secgov.models import Department


def find(session: Session, ids: Sequence[int]) -> dict[int, Subject]:
    if not ids:
        return {}
    rows = session.exec(
        select(Risk.id, Risk.title, Asset.code, Department.id, Department.path)
        .join(Asset, Asset.id == Risk.asset_id)
        .join(Department, Department.id == Asset.department_id)
        .where(Risk.id.in_(list(ids)))
    ).all()
    return {i: Subject(i, f"{code}: {title}", dept, path) for i, title, code, dept, path in rows}


def required(path: str) -> Select:
    """Every live risk of an asset in the subtree at path."""
    query = select(Risk.id).where(Risk.status.in_(LIVE_STATUSES))
    if path != "/":
        query = (
            query.join(Asset, Asset.id == Risk.asset_id)
            .join(Department, Department.id == Asset.department_id)
            .where(Department.path.startswith(path, autoescape=True))
        )
    return query


LEAD = "assessment_lead"
# Who answers for an asset's assessments: its assessment lead, else its owner.
ASSESSMENT_LEAD, ANSWERS = asset_duties.falling_back(LEAD, N_("Assessment lead"))
REMEDIATION_OWNER = Duty(
    subject_type=SUBJECT,
    duty=OWNER,
    label=N_("Remediation owner"),
    level="sub_item",
    find=find,
    required=required,
    assigners=frozenset(WRITERS),
)

DUTIES = (ASSESSMENT_LEAD, REMEDIATION_OWNER)
