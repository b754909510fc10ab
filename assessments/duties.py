"""The risk register's duty (secgov.accountability): every live risk (open or in treatment) has a
remediation owner, who is accountable for treating it by its due date; officers and admins
assign owners in their scope (the risk's form writes through the same mechanism,
secgov.responsibility)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select
from sqlmodel import Session, select

from assessments.codes import LIVE_STATUSES
from assessments.models import Risk
from assessments.risks import OWNER, SUBJECT
from assessments.services import WRITERS
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


REMEDIATION_OWNER = Duty(
    subject_type=SUBJECT,
    duty=OWNER,
    label=N_("Remediation owner"),
    level="sub_item",
    find=find,
    required=required,
    assigners=frozenset(WRITERS),
)

DUTIES = (REMEDIATION_OWNER,)
