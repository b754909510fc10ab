"""The asset domain's duty (secgov.accountability): each asset in the register, retired ones
aside, has an owner, who is accountable for it; officers and admins assign owners in their scope
(the asset's form and import write through the same mechanism, secgov.responsibility). The
assessments and scans domains declare duties on an asset that fall back to its owner
(`falling_back`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select
from sqlmodel import Session, select

from assets.models import Asset
from assets.services import OWNER, SUBJECT
from secgov.accountability.duties import Duty, Required, Subject
from secgov.codes import N_
from secgov.models import Department, Responsibility
from secgov.responsibility import covering


def find(session: Session, ids: Sequence[int]) -> dict[int, Subject]:
    if not ids:
        return {}
    rows = session.exec(
        select(Asset.id, Asset.code, Asset.name, Department.id, Department.path)
        .join(Department, Department.id == Asset.department_id)
        .where(Asset.id.in_(list(ids)))
    ).all()
    return {i: Subject(i, f"{code} {name}", dept, path) for i, code, name, dept, path in rows}


def required(path: str) -> Select:
    """Every asset not retired, in the subtree at path."""
    query = select(Asset.id).where(Asset.lifecycle != "retired")
    if path != "/":
        query = query.join(Department, Department.id == Asset.department_id).where(
            Department.path.startswith(path, autoescape=True)
        )
    return query


def named_required(duty: str) -> Required:
    """The `required` of a duty on an asset that falls back to its owner (an assessment lead, a
    scan owner): nobody need be named, so only the assets, not retired, in the subtree at path,
    that have someone named for it in force now — a named holder who has since been disabled is
    a gap until the duty is given to someone else or its term ends."""

    def required(path: str) -> Select:
        named = select(Responsibility.subject_id).where(
            Responsibility.subject_type == SUBJECT, Responsibility.duty == duty, covering()
        )
        query = select(Asset.id).where(Asset.lifecycle != "retired", Asset.id.in_(named))
        if path != "/":
            query = query.join(Department, Department.id == Asset.department_id).where(
                Department.path.startswith(path, autoescape=True)
            )
        return query

    return required


OWNER_DUTY = Duty(
    subject_type=SUBJECT,
    duty=OWNER,
    label=N_("Asset owner"),
    level="sub_item",
    find=find,
    required=required,
    assigners=frozenset({"admin", "officer"}),
)

DUTIES = (OWNER_DUTY,)


def falling_back(duty: str, label: str) -> tuple[Duty, tuple[str, str]]:
    """A duty on an asset that falls back to its owner (the assessments' lead, the scans' owner):
    assigned like the owner, a gap only where someone named has been disabled; and who answers
    for it, the duties in order of precedence that its readers pass to secgov.responsibility."""
    declared = Duty(
        subject_type=SUBJECT,
        duty=duty,
        label=label,
        level="sub_item",
        find=find,
        required=named_required(duty),
        assigners=OWNER_DUTY.assigners,
    )
    return declared, (duty, OWNER)
